// Shared by the end-to-end tests: the static server for dist/, a fresh Chromium page that
// records console errors and every request, and the same-origin check.
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIST = join(ROOT, 'dist');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
// Flags verified on these machines; without them Chromium tries to reach Google's hosts.
const FLAGS = ['--no-sandbox', '--disable-gpu-sandbox', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

/** Serves dist/ on a free port of 127.0.0.1; resolves to { origin, close }. */
export async function startServer() {
  const server = await serve(DIST);
  const origin = `http://127.0.0.1:${server.address().port}`;
  return { origin, close: () => server.close() };
}

/**
 * Opens the page in a fresh browser; records console errors and every request. With
 * `relaxedSimd: false` the page's WebAssembly.validate refuses relaxed-SIMD modules, as an
 * engine without relaxed SIMD does.
 */
export async function openPage(origin, { webgpu, relaxedSimd = true }) {
  // playwright gives every launch a fresh, temporary profile.
  const args = [...FLAGS];
  if (webgpu) args.push('--enable-unsafe-webgpu');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
  const context = await browser.newContext();
  if (!relaxedSimd) {
    await context.addInitScript(() => {
      const validate = WebAssembly.validate;
      // The probe's i8x16.relaxed_swizzle (0xfd 0x80 0x02) and nothing else is refused.
      WebAssembly.validate = (bytes) => {
        const b = new Uint8Array(bytes);
        for (let i = 0; i + 2 < b.length; i++) {
          if (b[i] === 0xfd && b[i + 1] === 0x80 && b[i + 2] === 0x02) return false;
        }
        return validate(bytes);
      };
    });
  }
  const requests = [];
  const errors = [];
  context.on('request', (r) => requests.push(r.url()));
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('worker', (w) => w.on('console', (m) => { if (m.type() === 'error') errors.push(`worker: ${m.text()}`); }));
  await page.goto(`${origin}/`);
  const close = () => browser.close();
  return { page, requests, errors, close };
}

/** Waits for the worker to name its backend, loads the demo set and waits for its preview. */
export async function loadDemoWithPreview(page) {
  await page.locator('#backend[data-backend]').waitFor({ timeout: 60_000 });
  await page.click('#demo-button');
  await page.locator('#data-summary').waitFor({ timeout: 120_000 });
  await page.locator('#preview').waitFor({ timeout: 30_000 });
}

/** Fails if a recorded request went to another origin than `origin`. */
export function assertOnlyOwnOrigin(requests, origin) {
  assert.ok(requests.length > 0, 'no request was recorded');
  const foreign = requests.filter((u) => new URL(u).origin !== origin);
  assert.deepEqual(foreign, [], 'requests left the page\'s origin');
}
