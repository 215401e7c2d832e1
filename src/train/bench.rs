//! Images per second of DenseNet inference and of one training step (forward, class-weighted
//! BCE, backward, Adam) on a device, the same code natively (`examples/cpu_bench.rs`) and in the
//! browser (`tests/cpu_bench.rs`), so the two can be compared on the same thread count.
//!
//! The clock is passed in: `std::time::Instant` does not exist on wasm32-unknown-unknown, where
//! the caller uses `performance.now()`.

use burn::module::Module as _;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};

use super::adam::PathAdam;
use super::loss::binary_cross_entropy_with_logits;
use crate::model::densenet::DenseNetConfig;
use crate::model::init::seeded_on;

/// One benchmark: a network, an input side and a batch.
#[derive(Clone, Debug)]
pub struct BenchCase {
    /// Shown in the results.
    pub name: &'static str,
    /// The network (grey input).
    pub model: DenseNetConfig,
    /// Input side, pixels.
    pub side: usize,
    /// Images per batch.
    pub batch: usize,
}

/// What a [`BenchCase`] measured: medians over the repetitions.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchResult {
    /// The case's name.
    pub name: &'static str,
    /// Input side.
    pub side: usize,
    /// Batch.
    pub batch: usize,
    /// Inference (evaluation mode, no autodiff), images/s.
    pub infer_images_per_s: f64,
    /// One training step, images/s.
    pub train_images_per_s: f64,
}

impl BenchResult {
    /// One line of the report.
    #[must_use]
    pub fn line(&self) -> String {
        format!(
            "{:<12} {:>4}² batch {:>2}: infer {:>7.2} images/s, train {:>6.2} images/s",
            self.name, self.side, self.batch, self.infer_images_per_s, self.train_images_per_s
        )
    }
}

/// The cases the README reports: DenseNet121 and the page's small DenseNet at 64², batch 8
/// (14 outputs, as ChestX-ray14).
#[must_use]
pub fn standard_cases() -> Vec<BenchCase> {
    vec![
        BenchCase {
            name: "DenseNet121",
            model: DenseNetConfig::densenet121(14, 1),
            side: 64,
            batch: 8,
        },
        BenchCase {
            name: "small",
            model: crate::train::session::architecture(crate::protocol::ModelChoice::Small, 14, 1),
            side: 64,
            batch: 8,
        },
    ]
}

/// Runs `case` on `device` (plain, not autodiff): one warm-up, then the median of `reps`
/// timed repetitions of each. `now` is a clock in milliseconds.
pub fn run_case(
    device: &Device,
    case: &BenchCase,
    reps: usize,
    now: &dyn Fn() -> f64,
) -> BenchResult {
    let reps = reps.max(1);
    let autodiff = device.clone().autodiff();
    let outputs = case.model.num_classes;
    let [b, s] = [case.batch, case.side];
    let pixels: Vec<f32> = (0..b * s * s)
        .map(|i| ((i % s) as f32 * 0.37).sin() + ((i / s) as f32 * 0.11).cos())
        .collect();
    let targets: Vec<f32> = (0..b * outputs)
        .map(|i| (i % 3 == 0) as u8 as f32)
        .collect();

    let mut model = seeded_on(1, &autodiff, |cpu| case.model.init(cpu));
    // The app's optimizer (the trainer's), not burn's `ModuleOptimizer`.
    let mut optimizer = PathAdam::new(&AdamConfig::new());
    let mut train_ms = Vec::with_capacity(reps);
    for rep in 0..=reps {
        let start = now();
        let images =
            Tensor::<4>::from_data(TensorData::new(pixels.clone(), [b, 1, s, s]), &autodiff);
        let y = Tensor::<2>::from_data(TensorData::new(targets.clone(), [b, outputs]), &autodiff);
        let loss = binary_cross_entropy_with_logits(model.forward(images), y, None, None);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optimizer.step(1e-3, model, grads);
        // Reading a parameter back makes sure the update is done on a lazy backend.
        let _ = model.classifier.weight.val().into_data();
        if rep > 0 {
            train_ms.push(now() - start);
        }
    }

    let eval = model.valid();
    let mut infer_ms = Vec::with_capacity(reps);
    for rep in 0..=reps {
        let start = now();
        let images = Tensor::<4>::from_data(TensorData::new(pixels.clone(), [b, 1, s, s]), device);
        let _ = eval.forward(images).into_data();
        if rep > 0 {
            infer_ms.push(now() - start);
        }
    }
    let rate = |ms: &mut Vec<f64>| b as f64 * 1000.0 / median(ms).max(1e-9);
    BenchResult {
        name: case.name,
        side: s,
        batch: b,
        infer_images_per_s: rate(&mut infer_ms),
        train_images_per_s: rate(&mut train_ms),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
