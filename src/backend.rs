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

#[cfg(test)]
mod tests {
    use super::*;

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
