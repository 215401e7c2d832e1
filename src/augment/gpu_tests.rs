//! The tensor path against two independent answers: the CPU reference (`augment_image`,
//! `f64`, itself checked against Keras) on the same images and parameters, and the Keras
//! goldens in `tests/fixtures/keras_augment`.
//!
//! The tests run on `flex` (`cpu_device()`). The same checks on wgpu run natively in
//! `tests/wgpu_native.rs` (Vulkan; Mesa's lavapipe without a GPU) and in the browser in
//! `tests/web.rs` (WebGPU), with the bounds stated here.
//!
//! Tolerances. The sampling coordinates are computed in `f32` from an `f32` matrix, where the
//! CPU path works in `f64`. Coordinates up to ~100 carry an error of ~1e-5 pixel, and
//! neighbouring grey levels differ by at most 255. So a smooth sample moves by at most ~3e-3
//! grey levels, and [`SMOOTH`] = 1e-2 leaves margin while still catching any wrong weight,
//! axis or border rule (those cost whole grey levels). Three places are discontinuous, and
//! there one `f32` rounding can move a pixel to the other side:
//! - the `constant` border at exactly 0 or n − 1 (cval or the edge pixel);
//! - the `wrap` seam;
//! - the two `u8` truncations of brightness (±1 grey level, times the factor).
//!
//! For those cases at most [`FLIPPED_SHARE`] of the pixels may exceed `SMOOTH`, by at most the
//! jump. Brightness, which truncates, is allowed 1 grey level times its factor (and times the
//! gamma and contrast that follow it). In the runs here only one pixel in the sampled batch
//! (24,960 pixels) crossed a truncation; the border and seam cases crossed none. The test
//! prints the counts.
//!
//! `cargo test --release --lib augment::gpu -- --nocapture` prints the max error of each case.

use burn::tensor::{Tensor, TensorData};
use serde_json::Value;

use super::*;
use crate::augment::golden_tests as golden;
use crate::augment::params::{CropWindow, EraseRect, NoiseDraw};
use crate::augment::pipeline::{augment_image, keras_apply_transform};
use crate::augment::plane::Plane;
use crate::augment::spec::{ErasingSpec, NoiseSpec};
use crate::augment::{sample, standardize};
use crate::backend::cpu_device;

/// Max error where the mapping from coordinates to grey levels is continuous.
const SMOOTH: f32 = 1e-2;
/// Share of pixels allowed over `SMOOTH` where it is not (a border, a seam, a truncation).
const FLIPPED_SHARE: f64 = 1e-3;

/// The Keras fixtures, read as the Keras golden tests read them.
fn read_png(name: &str) -> Plane {
    golden::read_png(name).0
}

fn synthetic() -> Plane {
    let (h, w) = (40, 52);
    let pixels = (0..h * w)
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
    Plane::new(h, w, pixels).expect("sized")
}

/// The two real NIH crops and the synthetic image, all 40×52.
fn images() -> Vec<Plane> {
    vec![read_png("input.png"), read_png("input2.png"), synthetic()]
}

fn to_tensor(planes: &[Plane]) -> Tensor<4> {
    let (h, w) = (planes[0].height, planes[0].width);
    let pixels: Vec<f32> = planes.iter().flat_map(|p| p.pixels.clone()).collect();
    Tensor::from_data(
        TensorData::new(pixels, [planes.len(), 1, h, w]),
        &cpu_device(),
    )
}

fn from_tensor(x: Tensor<4>) -> Vec<Plane> {
    let [b, _, h, w] = x.dims();
    let pixels = x.into_data().try_to_vec::<f32>().expect("f32 tensor");
    (0..b)
        .map(|i| Plane::new(h, w, pixels[i * h * w..(i + 1) * h * w].to_vec()).expect("sized"))
        .collect()
}

fn gpu(spec: &AugmentSpec, params: &[TransformParams], planes: &[Plane]) -> Vec<Plane> {
    from_tensor(augment_batch(spec, params, to_tensor(planes)).expect("augments"))
}

/// Max error over the batch, and how many pixels exceed `SMOOTH`.
fn compare(ours: &[Plane], reference: &[Plane]) -> (f32, usize, usize) {
    let mut worst = 0.0f32;
    let mut over = 0;
    let mut total = 0;
    for (a, b) in ours.iter().zip(reference) {
        assert_eq!((a.height, a.width), (b.height, b.width));
        for (x, y) in a.pixels.iter().zip(&b.pixels) {
            let e = (x - y).abs();
            worst = worst.max(e);
            over += usize::from(e > SMOOTH);
            total += 1;
        }
    }
    (worst, over, total)
}

/// `augment_image` on each image and `augment_batch` on the batch; returns the max error
/// after checking it against the case's bound (`jump`: the size of a discontinuity allowed
/// on `FLIPPED_SHARE` of the pixels; 0 for a continuous case).
fn check_against_cpu(name: &str, spec: &AugmentSpec, params: &[TransformParams], jump: f32) {
    let planes = images();
    let planes: Vec<Plane> = (0..params.len())
        .map(|i| planes[i % planes.len()].clone())
        .collect();
    let cpu: Vec<Plane> = planes
        .iter()
        .zip(params)
        .map(|(img, p)| augment_image(spec, p, img))
        .collect();
    let ours = gpu(spec, params, &planes);
    let (worst, over, total) = compare(&ours, &cpu);
    eprintln!(
        "gpu vs cpu {name:26} max |gpu - cpu| = {worst:.2e}  ({over} of {total} px > {SMOOTH:.0e})"
    );
    if jump == 0.0 {
        assert!(worst <= SMOOTH, "{name}: {worst}");
    } else {
        assert!(
            over as f64 <= FLIPPED_SHARE * total as f64,
            "{name}: {over} px"
        );
        assert!(worst <= jump + SMOOTH, "{name}: {worst}");
    }
}

/// Writes one parameter's value into a parameter set.
type Setter = fn(&mut TransformParams, f64);

/// Three images, each with its own value of one parameter.
fn each(values: [f64; 3], set: Setter) -> Vec<TransformParams> {
    values
        .iter()
        .map(|&v| {
            let mut p = TransformParams::default();
            set(&mut p, v);
            p
        })
        .collect()
}

fn strong(fill: FillMode, cval: f64) -> (AugmentSpec, Vec<TransformParams>) {
    let spec = AugmentSpec {
        fill_mode: fill,
        cval,
        ..AugmentSpec::default()
    };
    let params = vec![
        TransformParams {
            theta: 30.0,
            tx: 4.0,
            ty: -6.0,
            zx: 1.4,
            zy: 1.3,
            ..TransformParams::default()
        },
        // Far outside: several periods of reflect and wrap.
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
    ];
    (spec, params)
}

/// The largest brightness factor in a batch: what one truncation step can cost.
fn brightness_jump(params: &[TransformParams]) -> f32 {
    params
        .iter()
        .filter_map(|p| p.brightness)
        .fold(0.0, f64::max) as f32
}

#[test]
fn each_affine_parameter_alone_matches_the_cpu_path() {
    let spec = AugmentSpec::default();
    let cases: [(&str, [f64; 3], Setter); 6] = [
        ("theta", [17.0, -5.0, 90.0], |p, v| p.theta = v),
        ("tx", [5.5, -3.0, 0.25], |p, v| p.tx = v),
        ("ty", [-7.25, 2.0, 11.5], |p, v| p.ty = v),
        ("shear", [20.0, -0.02, 8.0], |p, v| p.shear = v),
        ("zx", [0.8, 1.02, 1.5], |p, v| p.zx = v),
        ("zy", [1.25, 0.98, 0.6], |p, v| p.zy = v),
    ];
    for (name, values, set) in cases {
        check_against_cpu(name, &spec, &each(values, set), 0.0);
    }
}

#[test]
fn combined_transforms_and_flips_match_the_cpu_path() {
    let spec = AugmentSpec::default();
    let combined = vec![
        TransformParams {
            theta: -12.0,
            tx: 3.0,
            ty: -4.5,
            shear: 8.0,
            zx: 0.9,
            zy: 1.1,
            flip_horizontal: true,
            ..TransformParams::default()
        },
        TransformParams {
            theta: 4.0,
            shear: -0.02,
            zx: 1.02,
            zy: 0.99,
            flip_vertical: true,
            ..TransformParams::default()
        },
        TransformParams {
            theta: 45.0,
            tx: -2.0,
            flip_horizontal: true,
            flip_vertical: true,
            ..TransformParams::default()
        },
    ];
    check_against_cpu("combined", &spec, &combined, 0.0);
    // Flips alone, and an untouched image in the same batch: all exact.
    let flips = vec![
        TransformParams {
            flip_horizontal: true,
            ..TransformParams::default()
        },
        TransformParams {
            flip_vertical: true,
            ..TransformParams::default()
        },
        TransformParams::default(),
    ];
    let planes = images();
    let cpu: Vec<Plane> = planes
        .iter()
        .zip(&flips)
        .map(|(img, p)| augment_image(&spec, p, img))
        .collect();
    assert_eq!(
        gpu(&spec, &flips, &planes),
        cpu,
        "flips move pixels exactly"
    );
    eprintln!("gpu vs cpu {:26} max |gpu - cpu| = 0 (exact)", "flips");
}

#[test]
fn every_fill_mode_matches_the_cpu_path() {
    for fill in FillMode::ALL {
        let (spec, params) = strong(fill, 40.0);
        let jump = match fill {
            // The border and the seam are discontinuous: up to a full grey range.
            FillMode::Constant | FillMode::Wrap => 255.0,
            FillMode::Nearest | FillMode::Reflect => 0.0,
        };
        check_against_cpu(&format!("fill {}", fill.name()), &spec, &params, jump);
        // With a crop, in the same resampling: the border mode acts at the crop's borders.
        let cropped: Vec<TransformParams> = params
            .iter()
            .zip([0.85, 0.7, 0.95])
            .map(|(p, fraction)| TransformParams {
                crop: Some(CropWindow {
                    top: 40.0 * (1.0 - fraction) / 3.0,
                    left: 52.0 * (1.0 - fraction) / 2.0,
                    height: 40.0 * fraction,
                    width: 52.0 * fraction,
                }),
                ..p.clone()
            })
            .collect();
        let name = format!("fill {}, cropped", fill.name());
        check_against_cpu(&name, &spec, &cropped, jump);
    }
    // Integer shifts put coordinates exactly on the constant border.
    let (spec, _) = strong(FillMode::Constant, 0.0);
    let shifts = each([5.0, -3.0, 51.0], |p, v| {
        p.tx = v;
        p.ty = -v;
    });
    check_against_cpu("fill constant, integer", &spec, &shifts, 0.0);
}

#[test]
fn intensity_steps_match_the_cpu_path() {
    let spec = AugmentSpec::default();
    let shift = each([30.0, -20.0, 0.0], |p, v| {
        p.channel_shift_intensity = Some(v)
    });
    check_against_cpu("channel shift", &spec, &shift, 0.0);
    // On untransformed images brightness has no rounding to disagree on.
    let bright = each([1.4, 0.6, 1.0], |p, v| p.brightness = Some(v));
    check_against_cpu("brightness", &spec, &bright, 0.0);
    // After a rotation a truncation can fall either side.
    let mut rotated = bright.clone();
    for (p, theta) in rotated.iter_mut().zip([7.0, -3.0, 20.0]) {
        p.theta = theta;
        p.channel_shift_intensity = Some(-10.0);
    }
    check_against_cpu(
        "rotation + brightness",
        &spec,
        &rotated,
        brightness_jump(&rotated),
    );
    let gamma = each([0.8, 1.25, 2.0], |p, v| p.gamma = Some(v));
    check_against_cpu("gamma", &spec, &gamma, 0.0);
    let contrast = each([0.9, 1.1, 1.8], |p, v| p.contrast = Some(v));
    check_against_cpu("contrast", &spec, &contrast, 0.0);
}

#[test]
fn crop_noise_and_erasing_match_the_cpu_path() {
    let spec = AugmentSpec {
        erasing: Some(ErasingSpec {
            probability: 1.0,
            area: [0.02, 0.33],
            aspect: [0.3, 3.3],
            value: 17.0,
        }),
        ..AugmentSpec::default()
    };
    let crop = each([0.85, 0.9, 1.0], |p, v| {
        p.crop = Some(CropWindow {
            top: 2.3 * v,
            left: 5.1 * v,
            height: 40.0 * v,
            width: 52.0 * v,
        });
    });
    check_against_cpu("crop", &spec, &crop, 0.0);
    let noise = each([4.0, 0.0, 10.0], |p, v| {
        p.noise = (v > 0.0).then_some(NoiseDraw {
            std: v,
            seed: v as u64,
        });
    });
    check_against_cpu("noise", &spec, &noise, 0.0);
    let erase = vec![
        TransformParams {
            erase: Some(EraseRect {
                top: 3,
                left: 10,
                height: 12,
                width: 30,
            }),
            ..TransformParams::default()
        },
        TransformParams::default(),
        TransformParams {
            erase: Some(EraseRect {
                top: 30,
                left: 45,
                height: 20,
                width: 20,
            }),
            ..TransformParams::default()
        },
    ];
    check_against_cpu("erasing", &spec, &erase, 0.0);
}

/// Everything the GPU path does, drawn by the seeded sampler: a different transform for each
/// of 12 images in one batch.
#[test]
fn sampled_batch_matches_the_cpu_path() {
    let spec = AugmentSpec {
        rotation_range: 15.0,
        width_shift_range: crate::augment::ShiftRange::Float(0.1),
        height_shift_range: crate::augment::ShiftRange::Float(0.1),
        shear_range: 5.0,
        zoom_range: crate::augment::ZoomRange::Symmetric(0.1),
        channel_shift_range: 10.0,
        fill_mode: FillMode::Reflect,
        horizontal_flip: true,
        vertical_flip: true,
        brightness_range: Some([0.8, 1.2]),
        gamma: Some([0.8, 1.25]),
        contrast: Some([0.9, 1.1]),
        noise: Some(NoiseSpec {
            std: 3.0,
            probability: 0.5,
        }),
        erasing: Some(ErasingSpec {
            probability: 0.5,
            area: [0.02, 0.2],
            aspect: [0.3, 3.3],
            value: 0.0,
        }),
        ..AugmentSpec::complex()
    };
    let mut rng = SplitMix64::new(7);
    let params: Vec<TransformParams> = (0..12).map(|_| sample(&spec, 40, 52, &mut rng)).collect();
    // Brightness truncates, then gamma and contrast stretch the one-level step.
    check_against_cpu("sampled batch", &spec, &params, 1.3 * 1.2 * 1.1 * 1.3);

    // The whole `prepare` path, standardize included, under the `complex` preset.
    let complex = AugmentSpec::complex();
    let params: Vec<TransformParams> = (0..12)
        .map(|_| sample(&complex, 40, 52, &mut rng))
        .collect();
    let planes: Vec<Plane> = (0..12).map(|i| images()[i % 3].clone()).collect();
    let cpu: Vec<Plane> = planes
        .iter()
        .zip(&params)
        .map(|(img, p)| crate::augment::prepare_image(&complex, p, None, img).expect("no stats"))
        .collect();
    let ours = from_tensor(prepare_batch(&complex, &params, None, to_tensor(&planes)).expect("ok"));
    let (worst, _, _) = compare(&ours, &cpu);
    eprintln!(
        "gpu vs cpu {:26} max |gpu - cpu| = {worst:.2e} (standardised units)",
        "complex, prepared"
    );
    // Standardised values are ~±3 with std 1: 1e-3 is 1e-2 grey levels at a std of ~50.
    assert!(worst < 1e-3, "{worst}");
}

#[test]
fn standardize_batch_matches_standardize() {
    let planes = images();
    let stats = FeaturewiseStats {
        mean: 0.45,
        std: 0.22,
    };
    let spec = AugmentSpec {
        rescale: Some(1.0 / 255.0),
        samplewise_center: true,
        samplewise_std_normalization: true,
        featurewise_center: true,
        featurewise_std_normalization: true,
        ..AugmentSpec::default()
    };
    let cpu: Vec<Plane> = planes
        .iter()
        .map(|p| standardize(&spec, Some(&stats), p).expect("stats given"))
        .collect();
    let ours = from_tensor(standardize_batch(&spec, Some(&stats), to_tensor(&planes)).expect("ok"));
    let (worst, _, _) = compare(&ours, &cpu);
    assert!(worst < 1e-3, "{worst}");
    assert_eq!(
        standardize_batch(&spec, None, to_tensor(&planes)).err(),
        Some(StandardizeError::FeaturewiseNotFitted)
    );
}

#[test]
fn refuses_what_it_cannot_do() {
    let planes = images();
    let spec = AugmentSpec::default();
    let two = vec![TransformParams::default(); 2];
    assert_eq!(
        augment_batch(&spec, &two, to_tensor(&planes)).err(),
        Some(GpuAugmentError::ParamsCount {
            images: 3,
            params: 2
        })
    );
    let mut blurred = vec![TransformParams::default(); 3];
    blurred[1].blur_sigma = Some(1.0);
    assert_eq!(
        augment_batch(&spec, &blurred, to_tensor(&planes)).err(),
        Some(GpuAugmentError::CpuOnly {
            image: 1,
            step: "Gaussian blur"
        })
    );
}

/// The Keras goldens, one batch per fill mode and cval, each image with its own case's
/// parameters. The reference is Keras itself, so `SMOOTH` covers our `f32` and its `f64`.
#[test]
fn golden_batches_match_keras() {
    let manifest = golden::manifest();
    let side = |key: &str| manifest[key].as_u64().expect("size") as usize;
    let (height, width) = (side("height"), side("width"));
    let input = read_png("input.png");
    let cases = manifest["cases"].as_array().expect("cases");
    let mut groups: Vec<((String, f64), Vec<&Value>)> = Vec::new();
    for case in cases {
        let key = (
            case["fill_mode"].as_str().expect("fill").to_owned(),
            case["cval"].as_f64().expect("cval"),
        );
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(case),
            None => groups.push((key, vec![case])),
        }
    }
    let mut checked = 0;
    for ((fill, cval), members) in groups {
        let spec = AugmentSpec {
            fill_mode: FillMode::from_name(&fill).expect("fill mode"),
            cval,
            ..AugmentSpec::default()
        };
        let params: Vec<TransformParams> = members
            .iter()
            .map(|c| golden::params_from(&c["params"]))
            .collect();
        let planes = vec![input.clone(); members.len()];
        let ours = gpu(&spec, &params, &planes);
        for ((case, ours), p) in members.iter().zip(&ours).zip(&params) {
            let name = case["name"].as_str().expect("name");
            let keras = golden::read_f32(case["file"].as_str().expect("file"), height, width);
            let (worst, over, _) =
                compare(std::slice::from_ref(ours), std::slice::from_ref(&keras));
            eprintln!(
                "gpu vs keras {name:28} max |gpu - keras| = {worst:.2e} ({over} px > {SMOOTH:.0e})"
            );
            // Sanity: the CPU path agrees with the same golden (its own test holds it to 1e-3).
            let cpu = keras_apply_transform(&spec, p, &input);
            assert!(compare(&[cpu], &[keras]).0 < 1e-3);
            let bound = if p.brightness.is_some() && keras_matrix(p, height, width).is_some() {
                p.brightness.unwrap_or(1.0) as f32 + SMOOTH
            } else {
                SMOOTH
            };
            assert!(worst <= bound, "{name}: {worst}");
            checked += 1;
        }
    }
    assert_eq!(checked, cases.len());
}
