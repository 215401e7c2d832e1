//! CXR Lab: chest X-ray augmentation, DenseNet training and evaluation that runs where the data is.
//!
//! The core modules (`model`, `train`, `backend`, `protocol`) know nothing of yew or the DOM.
//! They take a burn [`Device`](burn::tensor::Device), so the same code runs on WebGPU in the
//! browser, on `flex` (the CPU) in the browser and natively, and is tested with `cargo test`.
//! The browser shell (`web`: the worker that owns the compute; `ui`: the yew page) only exists on
//! `wasm32`. `augment` (the CPU reference of augmentation, checked against Keras), `metrics` and
//! `rng` are plain Rust over slices, with no device at all; only `augment::gpu`, the batch
//! augmentation on a device, needs burn.
//!
//! Everything but `data`, `augment`, `metrics` and `rng` needs the default feature `engine`
//! (burn); the rest builds without it, for the fuzz targets.

pub mod augment;
#[cfg(feature = "engine")]
pub mod backend;
#[cfg(all(feature = "engine", not(target_arch = "wasm32")))]
pub mod cli;
pub mod data;
pub mod metrics;
#[cfg(feature = "engine")]
pub mod model;
#[cfg(feature = "engine")]
pub mod protocol;
pub mod rng;
#[cfg(feature = "engine")]
pub mod train;

#[cfg(all(target_arch = "wasm32", feature = "engine"))]
pub mod ui;
#[cfg(all(target_arch = "wasm32", feature = "engine"))]
pub mod web;
