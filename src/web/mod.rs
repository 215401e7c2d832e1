//! The browser shell's compute side: picking the device and the worker that owns it.

pub mod gpu;
pub mod worker;
