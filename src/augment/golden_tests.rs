//! The CPU reference against real Keras: `tests/fixtures/keras_augment`, written by its
//! `make_goldens.py` with keras-preprocessing 1.1.2 (numpy 2.4.6, scipy 1.17.1, Pillow 13.0.0).
//!
//! Tolerance: our port evaluates the same bilinear formula at the same coordinates in the same
//! `f64` arithmetic and stores `f32`, as scipy does for a `float32` input; what can differ is the
//! last bits of the 3×3 matrix products (numpy's BLAS may fuse multiply-adds) and the `f32`
//! rounding of the stored value, a few 1e-5 grey levels at 255. So 1e-3 of the 0–255 range
//! is a bound with two orders of margin that still catches any wrong coordinate, axis, weight or
//! border rule (those give errors of whole grey levels). A pixel whose coordinate falls exactly
//! on a `constant` border could in principle flip to `cval` on a last-bit difference; none
//! does in these cases, so no exception is made. `standardize` outputs are about ±3, computed
//! by Keras in `float32`: we allow 1e-4 there.
//!
//! The sampler cannot reproduce numpy's stream, so `golden_sampler_draws_like_keras` compares
//! distributions: 20,000 of our draws against 20,000 of Keras's for the same pasted call.
//!
//! `cargo test --release --lib golden -- --nocapture` prints the max error of every case.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::affine::sample_bilinear;
use super::normalize::{FeaturewiseStats, standardize};
use super::params::TransformParams;
use super::pipeline::keras_apply_transform;
use super::plane::Plane;
use super::spec::{AugmentSpec, FillMode};

/// Grey levels (0–255). The transform's taps and weights are worked out in `f64` like scipy's,
/// the blend in `f32` (the line sampler): measured 1.5e-5 at most.
const TOLERANCE: f32 = 1e-4;
const STANDARDIZE_TOLERANCE: f32 = 1e-4;

pub(super) fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras_augment")
}

pub(super) fn manifest() -> Value {
    let text = std::fs::read_to_string(folder().join("manifest.json")).expect("manifest.json");
    serde_json::from_str(&text).expect("manifest parses")
}

pub(super) fn read_png(name: &str) -> (Plane, Vec<u8>) {
    let grey = image::open(folder().join(name)).expect(name).to_luma8();
    let (w, h) = grey.dimensions();
    let bytes = grey.into_raw();
    let plane = Plane::from_u8(h as usize, w as usize, &bytes).expect("sized");
    (plane, bytes)
}

pub(super) fn read_f32(name: &str, height: usize, width: usize) -> Plane {
    let bytes = std::fs::read(folder().join(name)).expect(name);
    let pixels = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Plane::new(height, width, pixels).expect("golden has height × width floats")
}

/// Keras's `apply_transform` dict, with its defaults for missing keys.
pub(super) fn params_from(dict: &Value) -> TransformParams {
    let number = |key: &str, default: f64| dict.get(key).and_then(Value::as_f64).unwrap_or(default);
    let flag = |key: &str| dict.get(key).and_then(Value::as_bool).unwrap_or(false);
    TransformParams {
        theta: number("theta", 0.0),
        tx: number("tx", 0.0),
        ty: number("ty", 0.0),
        shear: number("shear", 0.0),
        zx: number("zx", 1.0),
        zy: number("zy", 1.0),
        flip_horizontal: flag("flip_horizontal"),
        flip_vertical: flag("flip_vertical"),
        channel_shift_intensity: dict.get("channel_shift_intensity").and_then(Value::as_f64),
        brightness: dict.get("brightness").and_then(Value::as_f64),
        ..TransformParams::default()
    }
}

fn max_error(a: &Plane, b: &Plane) -> f32 {
    assert_eq!((a.height, a.width), (b.height, b.width));
    a.pixels
        .iter()
        .zip(&b.pixels)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn shape(manifest: &Value) -> (usize, usize) {
    let side = |key| manifest[key].as_u64().expect("size") as usize;
    (side("height"), side("width"))
}

#[test]
fn golden_apply_transform_matches_keras() {
    let manifest = manifest();
    let (height, width) = shape(&manifest);
    let (input, _) = read_png("input.png");
    assert_eq!((input.height, input.width), (height, width));
    let cases = manifest["cases"].as_array().expect("cases");
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let fill = case["fill_mode"].as_str().and_then(FillMode::from_name);
        let spec = AugmentSpec {
            fill_mode: fill.expect("fill mode"),
            cval: case["cval"].as_f64().expect("cval"),
            ..AugmentSpec::default()
        };
        let ours = keras_apply_transform(&spec, &params_from(&case["params"]), &input);
        let keras = read_f32(case["file"].as_str().expect("file"), height, width);
        let error = max_error(&ours, &keras);
        eprintln!("golden {name:28} max |ours - keras| = {error:.2e} grey levels");
        if error > TOLERANCE {
            failures.push(format!("{name}: {error}"));
        }
    }
    assert!(failures.is_empty(), "over {TOLERANCE}: {failures:?}");
}

#[test]
fn golden_standardize_matches_keras() {
    let manifest = manifest();
    let (height, width) = shape(&manifest);
    let (input, first) = read_png("input.png");
    let (_, second) = read_png("input2.png");
    for case in manifest["standardize"].as_array().expect("standardize") {
        let name = case["name"].as_str().expect("name");
        let featurewise = case["featurewise"].as_bool().expect("flag");
        let samplewise = case["samplewise"].as_bool().expect("flag");
        let spec = AugmentSpec {
            rescale: case["rescale"].as_f64(),
            samplewise_center: samplewise,
            samplewise_std_normalization: samplewise,
            featurewise_center: featurewise,
            featurewise_std_normalization: featurewise,
            ..AugmentSpec::default()
        };
        let source = match case["input_case"].as_str() {
            Some("identity") => input.clone(),
            // Keras's own transform output, so that only standardize is compared here.
            _ => read_f32("combined.f32", height, width),
        };
        let stats = featurewise.then(|| {
            let stats = FeaturewiseStats::fit(&[&first, &second], spec.rescale).expect("pixels");
            let (mean, std) = (case["mean"].as_f64(), case["std"].as_f64());
            let (mean, std) = (mean.expect("mean"), std.expect("std"));
            // Keras accumulates in float32: agreement to ~1e-6 relative.
            assert!(
                (stats.mean - mean).abs() < 1e-5 * mean,
                "{} vs {mean}",
                stats.mean
            );
            assert!(
                (stats.std - std).abs() < 1e-5 * std,
                "{} vs {std}",
                stats.std
            );
            stats
        });
        let ours = standardize(&spec, stats.as_ref(), &source).expect("stats given");
        let keras = read_f32(case["file"].as_str().expect("file"), height, width);
        let error = max_error(&ours, &keras);
        eprintln!("golden {name:28} max |ours - keras| = {error:.2e}");
        assert!(error < STANDARDIZE_TOLERANCE, "{name}: {error}");
    }
}

#[test]
fn golden_fill_modes_match_scipy_map_coordinates() {
    let manifest = manifest();
    let probe = &manifest["probe"];
    let dims: Vec<usize> = probe["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dim") as usize)
        .collect();
    let pixels = probe["image"]
        .as_array()
        .expect("image")
        .iter()
        .map(|v| v.as_f64().expect("pixel") as f32)
        .collect();
    let image = Plane::new(dims[0], dims[1], pixels).expect("sized");
    let cval = probe["cval"].as_f64().expect("cval");
    for mode in FillMode::ALL {
        let points = probe["points"][mode.name()].as_array().expect("points");
        let mut worst = 0.0f32;
        for point in points {
            let p: Vec<f64> = point
                .as_array()
                .expect("triple")
                .iter()
                .map(|v| v.as_f64().expect("number"))
                .collect();
            let ours = sample_bilinear(&image, p[0], p[1], mode, cval) as f32;
            let error = (ours - p[2] as f32).abs();
            assert!(
                error <= TOLERANCE,
                "{mode:?} at ({}, {}): ours {ours}, scipy {}",
                p[0],
                p[1],
                p[2]
            );
            worst = worst.max(error);
        }
        eprintln!(
            "probe  {:28} max |ours - scipy| = {worst:.2e} over {} points",
            mode.name(),
            points.len()
        );
    }
}

/// Our draws of `params` field `key`, as Keras's dict would hold it (`None` and `False` as 0).
fn field(params: &TransformParams, key: &str) -> f64 {
    let value = match key {
        "theta" => params.theta,
        "tx" => params.tx,
        "ty" => params.ty,
        "shear" => params.shear,
        "zx" => params.zx,
        "zy" => params.zy,
        "channel_shift_intensity" => params.channel_shift_intensity.unwrap_or(0.0),
        "brightness" => params.brightness.unwrap_or(0.0),
        "flip_horizontal" => f64::from(u8::from(params.flip_horizontal)),
        "flip_vertical" => f64::from(u8::from(params.flip_vertical)),
        other => panic!("unknown Keras parameter {other}"),
    };
    // −0.0 (a zero shift times sign −1) is Keras's integer 0.
    value + 0.0
}

#[test]
fn golden_sampler_draws_like_keras() {
    let manifest = manifest();
    let (height, width) = shape(&manifest);
    for summary in manifest["draws"].as_array().expect("draws") {
        let call = summary["call"].as_str().expect("call");
        let spec = super::parse_keras_call(call)
            .expect("our reader reads it")
            .spec;
        let n = summary["draws"].as_u64().expect("count") as usize;
        let mut rng = crate::rng::SplitMix64::new(0);
        let ours: Vec<TransformParams> = (0..n)
            .map(|_| super::sample(&spec, height, width, &mut rng))
            .collect();
        for (key, keras) in summary["continuous"].as_object().expect("continuous") {
            let values: Vec<f64> = ours.iter().map(|p| field(p, key)).collect();
            let stat = |name: &str| keras[name].as_f64().expect("number");
            let mean = values.iter().sum::<f64>() / n as f64;
            let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
            let (min, max) = values
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            let span = stat("max") - stat("min");
            // Two independent means of n draws differ by < 4.5 standard errors.
            let mean_bound = 4.5 * stat("std") * (2.0 / n as f64).sqrt();
            assert!(
                (mean - stat("mean")).abs() < mean_bound,
                "{call} {key} mean {mean}"
            );
            assert!(
                (std / stat("std") - 1.0).abs() < 0.03,
                "{call} {key} std {std}"
            );
            assert!(
                (min - stat("min")).abs() < 0.01 * span,
                "{call} {key} min {min}"
            );
            assert!(
                (max - stat("max")).abs() < 0.01 * span,
                "{call} {key} max {max}"
            );
            eprintln!(
                "draws  {key:24} mean {mean:+.4} (keras {:+.4})",
                stat("mean")
            );
        }
        for (key, keras) in summary["discrete"].as_object().expect("discrete") {
            let keras = keras.as_object().expect("frequencies");
            let mut counts = std::collections::BTreeMap::<String, usize>::new();
            for p in &ours {
                *counts.entry(format!("{:?}", field(p, key))).or_default() += 1;
            }
            for value in counts.keys() {
                assert!(keras.contains_key(value), "{call} {key}: we drew {value}");
            }
            for (value, share) in keras {
                let share = share.as_f64().expect("share");
                let got = counts.get(value).copied().unwrap_or(0) as f64 / n as f64;
                // A frequency around ¼ has a standard error of 0.003 per side.
                assert!(
                    (got - share).abs() < 0.02,
                    "{call} {key}={value}: {got} vs {share}"
                );
            }
        }
    }
}
