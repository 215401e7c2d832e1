//! Which compute backend runs, described as plain data the page can show.
//!
//! The device itself is picked once per entry point (the worker in the browser, the CLI
//! natively); everything below that takes a `&Device`. This module holds what the user is told
//! about that choice, and the CPU device every entry point falls back to.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::train::memory::BufferLimits;

/// The kind of backend that runs the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendKind {
    /// burn's wgpu backend on the browser's WebGPU (or native Vulkan/Metal through wgpu).
    WebGpu,
    /// burn's `flex` backend on the CPU: the fallback when there is no usable GPU.
    Cpu,
}

/// What the page says about the backend in use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// Which backend runs.
    pub kind: BackendKind,
    /// The adapter's name, e.g. "google swiftshader — software fallback adapter", or
    /// "flex, wasm SIMD128, 1 thread" for the CPU ([`cpu_path`]).
    pub adapter: String,
    /// Why the CPU runs, when WebGPU was wanted but could not be used; `None` on WebGPU.
    pub fallback_reason: Option<String>,
    /// The GPU adapter's limits on one buffer, which cap the batch
    /// ([`crate::train::memory::cap_batch`]); `None` on the CPU.
    pub limits: Option<BufferLimits>,
}

impl BackendInfo {
    /// The CPU backend, with the reason WebGPU was not used.
    pub fn cpu(fallback_reason: Option<String>) -> Self {
        Self {
            kind: BackendKind::Cpu,
            adapter: cpu_path().to_owned(),
            fallback_reason,
            limits: None,
        }
    }

    /// Which path runs, for the training progress: "WebGPU (google swiftshader)" or
    /// "CPU (flex, wasm SIMD128, 1 thread)".
    #[must_use]
    pub fn path(&self) -> String {
        match self.kind {
            BackendKind::WebGpu => format!("WebGPU ({})", self.adapter),
            BackendKind::Cpu => format!("CPU ({})", self.adapter),
        }
    }

    /// One line for the page's status bar.
    pub fn summary(&self) -> String {
        match self.kind {
            BackendKind::WebGpu => format!("WebGPU — {}", self.adapter),
            BackendKind::Cpu => format!("CPU — {}", self.adapter),
        }
    }
}

/// How the CPU backend runs in this build. burn's `flex` is built without its `rayon` feature,
/// so it uses one thread natively too. In the browser, threads would need wasm `atomics` and a
/// standard library rebuilt with them (nightly `-Z build-std`) plus a cross-origin isolated
/// page; see the README.
#[must_use]
pub const fn cpu_path() -> &'static str {
    if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
        "flex, wasm SIMD128, 1 thread"
    } else if cfg!(target_arch = "wasm32") {
        "flex, wasm without SIMD, 1 thread"
    } else {
        "flex, 1 thread"
    }
}

/// The CPU device: burn's `flex` backend, which trains DenseNet121 ~28x faster than `ndarray`
/// on these machines (see `../shared/RECIPES.md`) and also runs on wasm32.
pub fn cpu_device() -> Device {
    Device::flex()
}

/// Whether `device` (or the device an autodiff device wraps) is the CPU's `flex`, as opposed to
/// a GPU through wgpu. Per-pixel work that a GPU does in parallel is better done by plain Rust
/// on the CPU, where burn's tensor ops only add overhead.
#[must_use]
pub fn runs_on_cpu(device: &Device) -> bool {
    matches!(
        device.as_dispatch().clone().inner(),
        burn::backend::DispatchDevice::Flex(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_device_runs_on_the_cpu_with_or_without_autodiff() {
        let device = cpu_device();
        assert!(runs_on_cpu(&device));
        assert!(runs_on_cpu(&device.autodiff()));
    }

    #[test]
    fn summary_names_the_backend_and_adapter() {
        let info = BackendInfo {
            kind: BackendKind::WebGpu,
            adapter: "google swiftshader".into(),
            fallback_reason: None,
            limits: None,
        };
        assert_eq!(info.summary(), "WebGPU — google swiftshader");
        assert_eq!(info.path(), "WebGPU (google swiftshader)");
        let cpu = BackendInfo::cpu(Some("no adapter".into()));
        assert!(cpu.summary().starts_with("CPU"));
        assert_eq!(cpu.path(), "CPU (flex, 1 thread)");
    }
}
