//! The browser shell's compute side: picking the device, the worker that owns it and the data,
//! and reading what the user drops or picks (`files`) into it (`loader`).

pub mod download;
pub mod files;
pub mod gpu;
pub mod loader;
pub mod simd;
pub mod storage;
pub mod worker;
