// Starts the page's WebAssembly. A file rather than trunk's inline script, so the
// Content-Security-Policy can forbid inline scripts altogether.
import init from './app.js';

init();
