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

/// A matrix in a `Vec`, element (i, j) at `i · row_stride + j · col_stride`: row-major or
/// column-major.
struct Strided {
    values: Vec<f32>,
    row_stride: usize,
    col_stride: usize,
}

impl Strided {
    fn new(rows: usize, cols: usize, column_major: bool, seed: &mut u32) -> Self {
        let values = (0..rows * cols)
            .map(|_| {
                *seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (*seed >> 8) as f32 / (1 << 23) as f32 - 1.0
            })
            .collect();
        let (row_stride, col_stride) = if column_major { (1, rows) } else { (cols, 1) };
        Self {
            values,
            row_stride,
            col_stride,
        }
    }

    fn at(&self, i: usize, j: usize) -> f32 {
        self.values[i * self.row_stride + j * self.col_stride]
    }
}

/// gemm's wasm SIMD128 micro-kernels (replaced in `vendor/gemm-f32`) against the defining sums
/// in f64: `dst = alpha · dst + beta · lhs · rhs` (`dst` not read without `read_dst`), for
/// whole and partial 8x4 tiles, one or several k-blocks, and row- and column-major operands.
#[wasm_bindgen_test]
// gemm's API takes raw pointers with strides; each matrix is a whole `Vec` of its shape.
#[allow(unsafe_code)]
fn gemms_simd128_kernels_compute_the_defining_sums() {
    let mut seed = 7;
    let shapes = [
        (1, 1, 1),
        (8, 4, 1),
        (13, 7, 5),
        (35, 77, 130),
        (128, 16, 700),
        (4, 128, 300),
    ];
    for (m, n, k) in shapes {
        for layout in 0..8u8 {
            let [dst_cm, lhs_cm, rhs_cm] = [0, 1, 2].map(|bit| layout >> bit & 1 == 1);
            let lhs = Strided::new(m, k, lhs_cm, &mut seed);
            let rhs = Strided::new(k, n, rhs_cm, &mut seed);
            for (read_dst, alpha, beta) in [(false, 0.0, 1.0), (true, 1.0, 1.0), (true, 0.5, -2.0)]
            {
                let mut dst = Strided::new(m, n, dst_cm, &mut seed);
                let before = dst.values.clone();
                // SAFETY: each operand's pointer and strides address only its own `Vec`, of
                // its shape's length; `dst` is not aliased.
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        dst.values.as_mut_ptr(),
                        dst.col_stride as isize,
                        dst.row_stride as isize,
                        read_dst,
                        lhs.values.as_ptr(),
                        lhs.col_stride as isize,
                        lhs.row_stride as isize,
                        rhs.values.as_ptr(),
                        rhs.col_stride as isize,
                        rhs.row_stride as isize,
                        alpha,
                        beta,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
                for (i, j) in (0..m).flat_map(|i| (0..n).map(move |j| (i, j))) {
                    let old = f64::from(before[i * dst.row_stride + j * dst.col_stride]);
                    let (sum, scale) = (0..k).fold((0.0, 0.0), |(sum, scale), p| {
                        let term = f64::from(lhs.at(i, p)) * f64::from(rhs.at(p, j));
                        (sum + term, scale + term.abs())
                    });
                    let kept = if read_dst {
                        f64::from(alpha) * old
                    } else {
                        0.0
                    };
                    let want = kept + f64::from(beta) * sum;
                    let got = f64::from(dst.at(i, j));
                    let tolerance = 1e-5 * (kept.abs() + f64::from(beta.abs()) * scale) + 1e-30;
                    assert!(
                        (got - want).abs() <= tolerance,
                        "{m}x{n}x{k}, layout {layout:03b}, read_dst {read_dst}, alpha {alpha}, \
                         beta {beta}: ({i}, {j}) is {got}, not {want}"
                    );
                }
            }
        }
    }
}
