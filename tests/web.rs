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

/// A small DenseNet's forward pass (inference mode) and one class-weighted training step agree
/// on WebGPU and on the CPU backend, from the same seeded weights.
#[wasm_bindgen_test]
async fn a_densenet_forward_and_training_step_agree_on_webgpu_and_cpu() {
    use burn::module::Module;
    use burn::optim::{AdamConfig, GradientsParams};
    use burn::tensor::{Tensor, TensorData};
    use cxr_lab::model::densenet::{DenseNet, DenseNetConfig};
    use cxr_lab::model::init::seeded_on;
    use cxr_lab::train::loss::binary_cross_entropy_with_logits;

    let (gpu, _) = select_device().await;
    let build = |device: &burn::tensor::Device| -> DenseNet {
        seeded_on(21, device, |cpu| {
            DenseNetConfig::new(3)
                .with_growth_rate(4)
                .with_block_config(vec![2, 2])
                .with_num_init_features(8)
                .with_bn_size(2)
                .init(cpu)
        })
    };
    // A deterministic input: a smooth pattern, no random draws on either device.
    let pixels: Vec<f32> = (0..2 * 32 * 32)
        .map(|i| ((i % 32) as f32 * 0.2).sin() + ((i / 32) as f32 * 0.1).cos())
        .collect();
    let targets = vec![1.0f32, 0.0, 1.0, 0.0, 1.0, 0.0];
    let mut results = Vec::new();
    for device in [gpu.autodiff(), cpu_device().autodiff()] {
        let model = build(&device);
        let plain = device.clone().without_autodiff();
        let x = |d: &burn::tensor::Device| {
            Tensor::<4>::from_data(TensorData::new(pixels.clone(), [2, 1, 32, 32]), d)
        };
        let probabilities = model
            .valid()
            .forward_probabilities(x(&plain))
            .into_data_async()
            .await
            .expect("read")
            .try_into_vec::<f32>()
            .expect("f32");
        let y = Tensor::<2>::from_data(TensorData::new(targets.clone(), [2, 3]), &device);
        let loss =
            binary_cross_entropy_with_logits(model.forward(x(&device)), y.clone(), None, None);
        let before: f32 = loss.clone().into_scalar_async().await.expect("read");
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let model = AdamConfig::new().init().step(1e-2, model, grads);
        let after: f32 = binary_cross_entropy_with_logits(model.forward(x(&device)), y, None, None)
            .into_scalar_async()
            .await
            .expect("read");
        results.push((probabilities, before, after));
    }
    let (gpu, cpu) = (&results[0], &results[1]);
    for (g, c) in gpu.0.iter().zip(&cpu.0) {
        assert!(close(*g, *c), "forward: {:?} vs {:?}", gpu.0, cpu.0);
    }
    assert!(
        close(gpu.1, cpu.1) && close(gpu.2, cpu.2),
        "{gpu:?} vs {cpu:?}"
    );
    assert!(gpu.2 < gpu.1, "the step lowers the loss on WebGPU: {gpu:?}");
}

/// The batch augmentation on burn tensors gives the same images on WebGPU as on the CPU
/// backend, for the `complex` preset's drawn parameters plus a rotation and brightness.
#[wasm_bindgen_test]
async fn the_batch_augmentation_agrees_on_webgpu_and_cpu() {
    use burn::tensor::{Tensor, TensorData};
    use cxr_lab::augment::gpu::augment_batch;
    use cxr_lab::augment::{AugmentSpec, sample};
    use cxr_lab::rng::SplitMix64;

    let (gpu, _) = select_device().await;
    let spec = AugmentSpec {
        rotation_range: 10.0,
        brightness_range: Some([0.8, 1.2]),
        ..AugmentSpec::complex()
    };
    let side = 48;
    let mut rng = SplitMix64::new(5);
    let params: Vec<_> = (0..4)
        .map(|_| sample(&spec, side, side, &mut rng))
        .collect();
    let pixels: Vec<f32> = (0..4 * side * side)
        .map(|i| ((i * 37) % 251) as f32)
        .collect();
    let mut outputs = Vec::new();
    for device in [gpu, cpu_device()] {
        let x =
            Tensor::<4>::from_data(TensorData::new(pixels.clone(), [4, 1, side, side]), &device);
        let y = augment_batch(&spec, &params, x).expect("augments");
        outputs.push(
            y.into_data_async()
                .await
                .expect("read")
                .try_into_vec::<f32>()
                .expect("f32"),
        );
    }
    // Grey levels 0–255: bilinear weights in f32 on both; brightness truncates to integers, so
    // a pixel on a truncation edge may differ by one level.
    let differ = outputs[0]
        .iter()
        .zip(&outputs[1])
        .filter(|(g, c)| (**g - **c).abs() > 0.05)
        .count();
    let worst = outputs[0]
        .iter()
        .zip(&outputs[1])
        .map(|(g, c)| (g - c).abs())
        .fold(0.0f32, f32::max);
    assert!(
        differ * 1000 <= outputs[0].len() && worst <= 1.0 + 1e-3,
        "{differ} pixels differ, worst {worst}"
    );
}
