//! Which compute backend runs, described as plain data the page can show.
//!
//! The device itself is picked once per entry point (the worker in the browser, the CLI
//! natively); everything below that takes a `&Device`. This module holds what the user is told
//! about that choice, and the CPU device every entry point falls back to.

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

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
    /// "burn flex on the processor" for the CPU.
    pub adapter: String,
    /// Why the CPU runs, when WebGPU was wanted but could not be used; `None` on WebGPU.
    pub fallback_reason: Option<String>,
}

impl BackendInfo {
    /// The CPU backend, with the reason WebGPU was not used.
    pub fn cpu(fallback_reason: Option<String>) -> Self {
        Self {
            kind: BackendKind::Cpu,
            adapter: "burn flex on the processor".to_owned(),
            fallback_reason,
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
        };
        assert_eq!(info.summary(), "WebGPU — google swiftshader");
        assert!(
            BackendInfo::cpu(Some("no adapter".into()))
                .summary()
                .starts_with("CPU")
        );
    }
}
