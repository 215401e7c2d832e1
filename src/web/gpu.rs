//! Picks the compute device in the browser: WebGPU when the browser offers an adapter, burn's
//! `flex` CPU backend otherwise, with a sentence saying why.
//!
//! The adapter is first asked for through `navigator.gpu` directly (with `js_sys::Reflect`, so
//! no unstable web-sys API is needed): that tells "no WebGPU in this browser" apart from "WebGPU
//! without an adapter", and gives the adapter's vendor and architecture, which wgpu does not
//! pass on in the browser. Works the same in a window and in a worker.

use burn::tensor::Device;
use js_sys::{Promise, Reflect};
use wasm_bindgen::{JsCast as _, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::backend::{BackendInfo, BackendKind, cpu_device};
use crate::train::memory::BufferLimits;

/// The device to run on and what to tell the user about it. Never fails: the CPU always works.
pub async fn select_device() -> (Device, BackendInfo) {
    match webgpu_adapter().await {
        Err(reason) => (cpu_device(), BackendInfo::cpu(Some(reason))),
        // cubecl asks the device for the adapter's own limits (cubecl-wgpu's `required_limits:
        // adapter.limits()`), so the adapter's are the ones the batch must fit.
        Ok((adapter, limits)) => match Device::wgpu_options().init_async().await {
            Ok(device) => (
                device,
                BackendInfo {
                    kind: BackendKind::WebGpu,
                    adapter,
                    fallback_reason: None,
                    limits,
                },
            ),
            Err(e) => (
                cpu_device(),
                BackendInfo::cpu(Some(format!(
                    "WebGPU offered the adapter \"{adapter}\", but it could not be started ({e}), so the CPU runs instead."
                ))),
            ),
        },
    }
}

/// The name of the adapter `navigator.gpu.requestAdapter()` gives, or why there is none.
pub async fn webgpu_adapter_name() -> Result<String, String> {
    webgpu_adapter().await.map(|(name, _)| name)
}

/// The adapter's name and its limits on one buffer (`None` if it does not state them).
async fn webgpu_adapter() -> Result<(String, Option<BufferLimits>), String> {
    let navigator = property(&js_sys::global(), "navigator");
    let gpu = property(&navigator, "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return Err(
            "This browser does not offer WebGPU (navigator.gpu is missing), so the CPU runs instead: \
             everything works, more slowly."
                .to_owned(),
        );
    }
    let request: Result<Promise, String> = Reflect::get(&gpu, &"requestAdapter".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .and_then(|f| f.call0(&gpu).ok())
        .and_then(|p| p.dyn_into::<Promise>().ok())
        .ok_or_else(|| "navigator.gpu.requestAdapter could not be called".to_owned());
    let adapter = JsFuture::from(request?)
        .await
        .map_err(|e| format!("requesting a WebGPU adapter failed: {e:?}"))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err(
            "WebGPU is present but offered no adapter (it may be disabled, blocklisted or \
             unsupported on this GPU), so the CPU runs instead: everything works, more slowly."
                .to_owned(),
        );
    }
    Ok((describe_adapter(&adapter), buffer_limits(&adapter)))
}

/// `adapter.limits.maxStorageBufferBindingSize` and `maxBufferSize`.
fn buffer_limits(adapter: &JsValue) -> Option<BufferLimits> {
    let limits = property(adapter, "limits");
    // JavaScript numbers: exact for any buffer size a GPU states (below 2^53).
    let bytes = |key: &str| property(&limits, key).as_f64().map(|v| v as u64);
    Some(BufferLimits {
        max_storage_buffer_binding_size: bytes("maxStorageBufferBindingSize")?,
        max_buffer_size: bytes("maxBufferSize")?,
    })
}

/// "vendor architecture (description)", plus a note when it is a software fallback adapter.
fn describe_adapter(adapter: &JsValue) -> String {
    let info = property(adapter, "info");
    let text = |key: &str| property(&info, key).as_string().unwrap_or_default();
    let mut name = [text("vendor"), text("architecture")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let description = text("description");
    if !description.is_empty() {
        name = if name.is_empty() {
            description
        } else {
            format!("{name} ({description})")
        };
    }
    if name.is_empty() {
        name = "unnamed WebGPU adapter".to_owned();
    }
    let fallback = property(&info, "isFallbackAdapter")
        .as_bool()
        .unwrap_or(false)
        || property(adapter, "isFallbackAdapter")
            .as_bool()
            .unwrap_or(false);
    if fallback {
        name.push_str(" — software fallback adapter");
    }
    name
}

fn property(target: &JsValue, key: &str) -> JsValue {
    Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}
