//! Browser tests (wasm-bindgen-test in headless Chromium, WebGPU on SwiftShader): the page's
//! training step on WebGPU and on the CPU backend give the same numbers.
//!
//! Run with `cargo test --release --target wasm32-unknown-unknown --test web`
//! (`scripts/test.sh` does).
#![cfg(target_arch = "wasm32")]

use cxr_lab::backend::{BackendKind, cpu_device};
use cxr_lab::train::smoke_step::SmokeTrainer;
use cxr_lab::web::gpu::{select_device, webgpu_adapter_name};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

// The compute runs in a dedicated worker in the product, so the tests do too.
wasm_bindgen_test_configure!(run_in_dedicated_worker);

/// Relative agreement expected between SwiftShader's f32 and flex's f32 on a few Adam steps.
const TOLERANCE: f32 = 1e-3;

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= TOLERANCE * a.abs().max(b.abs()).max(1.0)
}

#[wasm_bindgen_test]
async fn the_training_step_agrees_on_webgpu_and_cpu() {
    let adapter = webgpu_adapter_name()
        .await
        .expect("Chromium started with --enable-unsafe-webgpu offers a WebGPU adapter");
    let (gpu_device, backend) = select_device().await;
    assert_eq!(backend.kind, BackendKind::WebGpu, "{backend:?}");
    assert_eq!(backend.adapter, adapter);
    let device_name = format!("{gpu_device:?}").to_lowercase();
    assert!(
        device_name.contains("wgpu"),
        "not a wgpu device: {device_name}"
    );

    let mut on_gpu = SmokeTrainer::new(&gpu_device.autodiff(), 11);
    let mut on_cpu = SmokeTrainer::new(&cpu_device().autodiff(), 11);
    for _ in 0..3 {
        let gpu = on_gpu.step().await.expect("WebGPU read-back");
        let cpu = on_cpu.step().await.expect("CPU read-back");
        assert_eq!(gpu.step, cpu.step);
        assert!(
            close(gpu.loss_before, cpu.loss_before),
            "{gpu:?} vs {cpu:?}"
        );
        assert!(close(gpu.loss_after, cpu.loss_after), "{gpu:?} vs {cpu:?}");
        assert!(gpu.loss_after < gpu.loss_before, "{gpu:?}");
    }
}
