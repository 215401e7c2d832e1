//! Native wgpu against flex: the browser tests of `tests/web.rs` (the tiny CNN's training step, a
//! small DenseNet's forward pass and training step, the batch augmentation) run here on burn's
//! wgpu backend natively (Vulkan through wgpu, WGSL shaders) and on the CPU's `flex`, from the
//! same seeded weights and inputs, and must agree within the tolerances stated below. Plus
//! `cxr train --backend wgpu` end to end on a tiny budget, and its sentence when there is no
//! adapter at all.
//!
//! On a machine without a GPU the adapter is Mesa's lavapipe (`mesa-vulkan-drivers`, a Vulkan
//! driver that runs on the CPU; `scripts/setup.sh` installs it): correct but slow, and the first
//! step of each new kernel pays shader compilation and autotuning, which each test prints.
//! `scripts/test.sh` sets `CUBECL_AUTOTUNE_LEVEL=minimal` (cubecl reads it when the runtime
//! starts) to keep that short. Without a Vulkan adapter (on Linux; wgpu's OpenGL fallback does not
//! count) the tests fail with a sentence saying what to install, unless `CXR_SKIP_NATIVE_GPU=1`,
//! which makes them pass as skipped, saying so on stderr.
//!
//! `cargo test --release --test wgpu_native -- --nocapture` prints the measured errors.
#![cfg(not(target_arch = "wasm32"))]

use std::io::Write as _;
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use cxr_lab::augment::gpu::prepare_batch;
use cxr_lab::augment::{AugmentSpec, FillMode, Plane, TransformParams, prepare_image, sample};
use cxr_lab::backend::{BackendKind, cpu_device, wgpu_device};
use cxr_lab::model::densenet::{DenseNet, DenseNetConfig};
use cxr_lab::model::init::seeded_on;
use cxr_lab::rng::SplitMix64;
use cxr_lab::train::loss::binary_cross_entropy_with_logits;
use cxr_lab::train::smoke_step::SmokeTrainer;

/// Relative agreement of the losses and probabilities, as in `tests/web.rs`: lavapipe's `f32`
/// and flex's `f32` sum in different orders.
const TOLERANCE: f32 = 1e-3;

/// Gradients and updated parameters: the largest difference over the tensor's largest value.
/// Measured on lavapipe (Mesa 22.3): gradients ≤ 2.1e-5 of their tensor's scale, parameters
/// after Adam ≤ 2.2e-6, probabilities 9.3e-8, losses ≤ 3e-8 (the test prints them).
const TENSOR_TOLERANCE: f32 = 1e-3;

/// Grey levels where the augmentation is continuous, and the share of pixels allowed beyond it
/// where it is not (the `constant` border, the `wrap` seam, brightness's `u8` truncations):
/// `SMOOTH` and `FLIPPED_SHARE` of `src/augment/gpu_tests.rs`, which explains them.
const SMOOTH: f32 = 1e-2;
const FLIPPED_SHARE: f64 = 1e-3;

/// The GPU through wgpu, or `None` (the test then passes as skipped) when there is no Vulkan
/// adapter and `CXR_SKIP_NATIVE_GPU=1`. Without one and without that variable: a failure that
/// says what to install.
///
/// On Linux the adapter must be a Vulkan one, the API `--backend wgpu` runs on there. Without a
/// Vulkan driver wgpu falls back to OpenGL (Mesa's llvmpipe through EGL, where present), on which
/// these tests also pass, but then the Vulkan path would go untested while the tests look green.
fn gpu(test: &str) -> Option<Device> {
    let vulkan = match wgpu_device() {
        // `wgpu_device` names the adapter "name, API[ — a CPU driver]".
        Ok((_, info)) if cfg!(target_os = "linux") && !info.adapter.contains(", Vulkan") => Err(
            format!("wgpu's adapter is not a Vulkan one: {}", info.adapter),
        ),
        other => other.map_err(|e| e.to_string()),
    };
    match vulkan {
        Ok((device, info)) => {
            assert_eq!(info.kind, BackendKind::WebGpu, "{info:?}");
            eprintln!("{test}: on {}", info.path());
            Some(device)
        }
        Err(error) if std::env::var("CXR_SKIP_NATIVE_GPU").as_deref() == Ok("1") => {
            // Straight to stderr, which the test harness does not capture: a skip is seen
            // without `--nocapture`.
            let _ = writeln!(
                std::io::stderr(),
                "{test}: SKIPPED (CXR_SKIP_NATIVE_GPU=1): {error}"
            );
            None
        }
        Err(error) => panic!(
            "{test}: no Vulkan adapter for the native GPU tests: {error}.\n\
             Install Mesa's Vulkan drivers, whose lavapipe runs Vulkan on the CPU: \
             `apt-get install mesa-vulkan-drivers libvulkan1` (scripts/setup.sh does it). \
             Or set CXR_SKIP_NATIVE_GPU=1 to skip these tests."
        ),
    }
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= TOLERANCE * a.abs().max(b.abs()).max(1.0)
}

fn read<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .try_into_vec::<f32>()
        .expect("an f32 tensor")
}

/// The largest `|a − b|` over the largest `|b|` (at least `floor`): an error on the tensor's
/// scale.
fn scaled_error(a: &[f32], b: &[f32], floor: f32) -> f32 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(floor, |m, v| m.max(v.abs()));
    let worst = a
        .iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    worst / scale
}

/// Every float parameter's values (BatchNorm's running statistics included), in visiting order.
#[derive(Default)]
struct Values(Vec<Vec<f32>>);

impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(read(param.val()));
    }
}

/// Every parameter's gradient, in visiting order.
struct Gradients<'a> {
    grads: &'a GradientsParams,
    values: Vec<Vec<f32>>,
}

impl ModuleVisitor for Gradients<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            self.values.push(read(grad));
        }
    }
}

/// The tiny DenseNet of the other tests (growth 4, blocks 2-2, 8 stem maps, bottleneck 2).
fn tiny_densenet(device: &Device) -> DenseNet {
    seeded_on(21, device, |cpu| {
        DenseNetConfig::new(3)
            .with_growth_rate(4)
            .with_block_config(vec![2, 2])
            .with_num_init_features(8)
            .with_bn_size(2)
            .init(cpu)
    })
}

/// What one device computes in the DenseNet test.
struct DenseNetRun {
    probabilities: Vec<f32>,
    loss_before: f32,
    gradients: Vec<Vec<f32>>,
    parameters: Vec<Vec<f32>>,
    loss_after: f32,
}

/// Inference-mode probabilities, then the class-weighted loss, its gradients, one Adam step, the
/// parameters after it and the loss after it.
fn densenet_run(device: &Device) -> DenseNetRun {
    let device = device.clone().autodiff();
    let plain = device.clone().without_autodiff();
    let model = tiny_densenet(&device);
    // A deterministic input: a smooth pattern, no random draws on either device.
    let pixels: Vec<f32> = (0..2 * 32 * 32)
        .map(|i| ((i % 32) as f32 * 0.2).sin() + ((i / 32) as f32 * 0.1).cos())
        .collect();
    let x = |d: &Device| Tensor::<4>::from_data(TensorData::new(pixels.clone(), [2, 1, 32, 32]), d);
    let probabilities = read(model.valid().forward_probabilities(x(&plain)));
    let targets = Tensor::<2>::from_data(
        TensorData::new(vec![1.0f32, 0.0, 1.0, 0.0, 1.0, 0.0], [2, 3]),
        &device,
    );
    let weights = || {
        Some((
            Tensor::<1>::from_data(TensorData::new(vec![0.7f32, 0.6, 0.9], [3]), &device),
            Tensor::<1>::from_data(TensorData::new(vec![0.3f32, 0.4, 0.1], [3]), &device),
        ))
    };
    let loss = |model: &DenseNet| {
        binary_cross_entropy_with_logits(
            model.forward(x(&device)),
            targets.clone(),
            weights(),
            None,
        )
    };
    let before = loss(&model);
    let loss_before = read(before.clone())[0];
    let grads = GradientsParams::from_grads(before.backward(), &model);
    let mut gradients = Gradients {
        grads: &grads,
        values: Vec::new(),
    };
    model.visit(&mut gradients);
    let gradients = gradients.values;
    let model = AdamConfig::new().init().step(1e-2, model, grads);
    let mut parameters = Values::default();
    model.visit(&mut parameters);
    let loss_after = read(loss(&model))[0];
    DenseNetRun {
        probabilities,
        loss_before,
        gradients,
        parameters: parameters.0,
        loss_after,
    }
}

/// A small DenseNet's forward pass (inference mode) and one class-weighted training step agree
/// on wgpu and on flex: probabilities, loss, every gradient, every parameter after Adam (and
/// BatchNorm's running statistics), the loss after the step.
#[test]
fn a_densenet_forward_and_training_step_agree_on_wgpu_and_flex() {
    let Some(gpu) = gpu("densenet") else { return };
    let started = Instant::now();
    let on_gpu = densenet_run(&gpu);
    let first = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let again = densenet_run(&gpu);
    let warm = started.elapsed().as_secs_f64();
    eprintln!(
        "densenet: first wgpu run (forward, step, shader compilation and autotune) {first:.1} s, \
         the same run again {warm:.2} s"
    );
    let on_cpu = densenet_run(&cpu_device());

    for (g, c) in on_gpu.probabilities.iter().zip(&on_cpu.probabilities) {
        assert!(
            close(*g, *c),
            "forward: {:?} vs {:?}",
            on_gpu.probabilities,
            on_cpu.probabilities
        );
    }
    assert!(
        close(on_gpu.loss_before, on_cpu.loss_before)
            && close(on_gpu.loss_after, on_cpu.loss_after),
        "losses: wgpu {} → {}, flex {} → {}",
        on_gpu.loss_before,
        on_gpu.loss_after,
        on_cpu.loss_before,
        on_cpu.loss_after
    );
    assert!(
        on_gpu.loss_after < on_gpu.loss_before,
        "the step lowers the loss on wgpu"
    );
    // torchvision's `DenseNet(4, (2, 2), 8, 2, num_classes=3)` has 34 parameter tensors.
    assert_eq!(on_gpu.gradients.len(), 34);
    assert_eq!(on_cpu.gradients.len(), 34);
    // The stem BatchNorm's γ has a gradient of zero up to rounding (~1e-7): every consumer of
    // the stem's features is a per-channel BatchNorm, which undoes any scaling. Such a tensor is
    // compared on the scale of the model's gradients, 1e-3 of the largest, not on its own noise.
    let floor = 1e-3
        * on_cpu
            .gradients
            .iter()
            .flatten()
            .fold(0.0f32, |m, v| m.max(v.abs()));
    let worst_gradient = on_gpu
        .gradients
        .iter()
        .zip(&on_cpu.gradients)
        .map(|(g, c)| scaled_error(g, c, floor))
        .fold(0.0f32, f32::max);
    assert_eq!(on_gpu.parameters.len(), on_cpu.parameters.len());
    let worst_parameter = on_gpu
        .parameters
        .iter()
        .zip(&on_cpu.parameters)
        .map(|(g, c)| scaled_error(g, c, 1e-6))
        .fold(0.0f32, f32::max);
    let rerun = scaled_error(&again.probabilities, &on_gpu.probabilities, 1e-6);
    eprintln!(
        "densenet: |wgpu − flex| probabilities {:.1e}, loss {:.1e} → {:.1e}; over each tensor's \
         scale: gradients ≤ {worst_gradient:.1e}, parameters after Adam ≤ {worst_parameter:.1e}; \
         wgpu run twice: {rerun:.1e}",
        scaled_error(&on_gpu.probabilities, &on_cpu.probabilities, 1e-6),
        (on_gpu.loss_before - on_cpu.loss_before).abs(),
        (on_gpu.loss_after - on_cpu.loss_after).abs(),
    );
    assert!(worst_gradient <= TENSOR_TOLERANCE, "{worst_gradient}");
    assert!(worst_parameter <= TENSOR_TOLERANCE, "{worst_parameter}");
}

/// The page's tiny CNN step (`cxr smoke`) gives the same losses on wgpu and flex, step by step.
#[test]
fn the_tiny_cnn_training_step_agrees_on_wgpu_and_flex() {
    let Some(gpu) = gpu("tiny CNN") else { return };
    let mut on_gpu = SmokeTrainer::new(&gpu.autodiff(), 11);
    let mut on_cpu = SmokeTrainer::new(&cpu_device().autodiff(), 11);
    for _ in 0..3 {
        let started = Instant::now();
        let g = pollster::block_on(on_gpu.step()).expect("wgpu read-back");
        let seconds = started.elapsed().as_secs_f64();
        let c = pollster::block_on(on_cpu.step()).expect("flex read-back");
        eprintln!(
            "tiny CNN step {} on wgpu in {seconds:.2} s: loss {:.5} → {:.5} (flex {:.5} → {:.5})",
            g.step, g.loss_before, g.loss_after, c.loss_before, c.loss_after
        );
        assert_eq!(g.step, c.step);
        assert!(close(g.loss_before, c.loss_before), "{g:?} vs {c:?}");
        assert!(close(g.loss_after, c.loss_after), "{g:?} vs {c:?}");
        assert!(g.loss_after < g.loss_before, "{g:?}");
    }
}

/// 40×52 grey images: the two NIH crops of the Keras goldens and a synthetic one with a disc
/// (the images `src/augment/gpu_tests.rs` uses), repeated to `count`.
fn images(count: usize) -> Vec<Plane> {
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keras_augment");
    let png = |name: &str| {
        let grey = image::open(format!("{folder}/{name}"))
            .expect("fixture image")
            .to_luma8();
        let (w, h) = grey.dimensions();
        Plane::from_u8(h as usize, w as usize, grey.as_raw()).expect("sized")
    };
    let (h, w) = (40, 52);
    let synthetic = (0..h * w)
        .map(|i| {
            let (r, c) = ((i / w) as f32, (i % w) as f32);
            let disc = if (r - 18.0).powi(2) + (c - 30.0).powi(2) < 120.0 {
                90.0
            } else {
                0.0
            };
            (20.0 + 2.5 * c + disc + 30.0 * (r * 0.7).sin() * (c * 0.45).cos()).clamp(0.0, 255.0)
        })
        .collect();
    let three = [
        png("input.png"),
        png("input2.png"),
        Plane::new(h, w, synthetic).expect("sized"),
    ];
    (0..count).map(|i| three[i % 3].clone()).collect()
}

/// `prepare_batch` on `device`, one batch.
fn prepared_on(
    device: &Device,
    spec: &AugmentSpec,
    params: &[TransformParams],
    planes: &[Plane],
) -> Vec<Plane> {
    let (h, w) = (planes[0].height, planes[0].width);
    let pixels: Vec<f32> = planes.iter().flat_map(|p| p.pixels.clone()).collect();
    let x = Tensor::<4>::from_data(TensorData::new(pixels, [planes.len(), 1, h, w]), device);
    let y = read(prepare_batch(spec, params, None, x).expect("augments"));
    y.chunks(h * w)
        .map(|p| Plane::new(h, w, p.to_vec()).expect("sized"))
        .collect()
}

/// The largest error and the pixels over `SMOOTH`, out of how many.
fn compare(ours: &[Plane], reference: &[Plane]) -> (f32, usize, usize) {
    let mut worst = 0.0f32;
    let (mut over, mut total) = (0, 0);
    for (a, b) in ours.iter().zip(reference) {
        for (x, y) in a.pixels.iter().zip(&b.pixels) {
            let e = (x - y).abs();
            worst = worst.max(e);
            over += usize::from(e > SMOOTH);
            total += 1;
        }
    }
    (worst, over, total)
}

/// Transforms that reach far past the borders: several periods of `reflect` and `wrap`.
fn strong() -> Vec<TransformParams> {
    vec![
        TransformParams {
            theta: 30.0,
            tx: 4.0,
            ty: -6.0,
            zx: 1.4,
            zy: 1.3,
            ..TransformParams::default()
        },
        TransformParams {
            tx: -47.0,
            ty: 61.0,
            zx: 1.7,
            zy: 2.2,
            ..TransformParams::default()
        },
        TransformParams {
            theta: -75.0,
            shear: 25.0,
            zx: 0.6,
            zy: 2.5,
            ..TransformParams::default()
        },
    ]
}

/// The batch augmentation on wgpu against the CPU path (`prepare_image`, itself held to Keras):
/// the `complex` preset's sampled parameters, standardisation included, and each fill mode on
/// strong transforms plus a sampled batch, with the bounds of `src/augment/gpu_tests.rs`.
#[test]
fn the_batch_augmentation_on_wgpu_matches_the_cpu_path() {
    let Some(gpu) = gpu("augmentation") else {
        return;
    };
    let started = Instant::now();

    // `complex` (rotation, shift, shear, zoom, crop, samplewise normalisation), 12 images, seeded.
    let complex = AugmentSpec::complex();
    let mut rng = SplitMix64::new(7);
    let planes = images(12);
    let params: Vec<TransformParams> = (0..12)
        .map(|_| sample(&complex, 40, 52, &mut rng))
        .collect();
    let cpu: Vec<Plane> = planes
        .iter()
        .zip(&params)
        .map(|(img, p)| prepare_image(&complex, p, None, img).expect("no featurewise"))
        .collect();
    let ours = prepared_on(&gpu, &complex, &params, &planes);
    let (worst, _, _) = compare(&ours, &cpu);
    eprintln!(
        "augmentation: wgpu vs CPU path, complex preset: max {worst:.1e} (standardised units); \
         first batch {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Standardised values are ~±3 with std 1: 1e-3 is 1e-2 grey levels at a std of ~50.
    assert!(worst < 1e-3, "complex: {worst}");

    for fill in FillMode::ALL {
        // A sampled batch with larger transforms than `complex`, then the strong ones.
        let spec = AugmentSpec {
            fill_mode: fill,
            cval: 40.0,
            rotation_range: 20.0,
            zoom_range: cxr_lab::augment::ZoomRange::Symmetric(0.3),
            width_shift_range: cxr_lab::augment::ShiftRange::Float(0.2),
            height_shift_range: cxr_lab::augment::ShiftRange::Float(0.2),
            samplewise_center: false,
            samplewise_std_normalization: false,
            ..AugmentSpec::complex()
        };
        let mut rng = SplitMix64::new(3);
        let mut params: Vec<TransformParams> =
            (0..6).map(|_| sample(&spec, 40, 52, &mut rng)).collect();
        params.extend(strong());
        let planes = images(params.len());
        let cpu: Vec<Plane> = planes
            .iter()
            .zip(&params)
            .map(|(img, p)| prepare_image(&spec, p, None, img).expect("no featurewise"))
            .collect();
        let ours = prepared_on(&gpu, &spec, &params, &planes);
        let (worst, over, total) = compare(&ours, &cpu);
        eprintln!(
            "augmentation: wgpu vs CPU path, fill {:8} max {worst:.1e} grey levels ({over} of \
             {total} px > {SMOOTH:.0e})",
            fill.name()
        );
        // The border and the seam are discontinuous: there, up to a full grey range.
        let jump = match fill {
            FillMode::Constant | FillMode::Wrap => 255.0,
            FillMode::Nearest | FillMode::Reflect => 0.0,
        };
        assert!(
            over as f64 <= FLIPPED_SHARE * total as f64,
            "{}: {over} px",
            fill.name()
        );
        assert!(worst <= jump + SMOOTH, "{}: {worst}", fill.name());
    }
}

/// `cxr train --backend wgpu` end to end on a tiny budget: the report names wgpu and the
/// adapter, and the run trains and tests as on the CPU.
#[test]
fn cxr_train_runs_on_wgpu_and_names_the_adapter() {
    use cxr_lab::cli::train::{TrainArgs, run};

    if gpu("cxr train").is_none() {
        return;
    }
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/www/demo/nih800");
    let args: Vec<String> = [
        "--images",
        demo,
        "--backend",
        "wgpu",
        "--size",
        "16",
        "--model",
        "small",
        "--outputs",
        "abnormal",
        "--batch",
        "64",
        "--epochs",
        "1",
        "--aug",
        "complex",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let args = TrainArgs::parse(&args).expect("valid command line");
    let started = Instant::now();
    let report = run(&args, &mut |_| {}).expect("trains on wgpu");
    let (_, info) = wgpu_device().expect("the device the run used");
    eprintln!(
        "cxr train on {}: {:.1} s, test mean AUC {:?}",
        report.backend,
        started.elapsed().as_secs_f64(),
        report.run.test.mean_auc
    );
    assert_eq!(report.backend, info.path());
    assert!(report.backend.starts_with("wgpu ("), "{}", report.backend);
    assert_eq!(report.run.history.len(), 1);
    assert!(report.run.history[0].train_loss.is_finite());
    assert_eq!(report.run.test.outputs.len(), 1);
}

/// Without any adapter (the Vulkan loader and EGL pointed at no driver), `cxr train --backend
/// wgpu` stops with exit status 2 and the sentence saying what to install; no panic.
#[cfg(target_os = "linux")]
#[test]
fn without_an_adapter_cxr_says_what_to_install() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/www/demo/nih800");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cxr"))
        .args([
            "train",
            "--images",
            demo,
            "--backend",
            "wgpu",
            "--model",
            "small",
        ])
        // Vulkan drivers (both of the loader's names for the list) and EGL vendors (glvnd,
        // wgpu's OpenGL fallback) that do not exist.
        .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
        .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
        .env("__EGL_VENDOR_LIBRARY_FILENAMES", "/nonexistent/egl.json")
        .output()
        .expect("cxr runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cxr train: --backend wgpu: wgpu found no GPU adapter")
            && stderr.contains("mesa-vulkan-drivers"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
