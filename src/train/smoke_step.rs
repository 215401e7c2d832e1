//! The page's "training step": a [`TinyCnn`] trained on a fixed synthetic batch, one Adam step
//! per call, reporting the loss before and after.
//!
//! It is a real forward, backward and optimiser step on whatever device the worker picked, so it
//! proves the whole path (WebGPU or CPU, autodiff, Adam, async read-back) in a second or two.
//! The weights come from [`seeded_on`], so the same seed gives the same numbers on every
//! backend: the browser tests compare WebGPU with the CPU on exactly this.

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::model::init::seeded_on;
use crate::model::tiny_cnn::{TinyCnn, TinyCnnConfig};
use crate::train::loss::binary_cross_entropy_with_logits;

/// Side of the synthetic square images.
const IMAGE_SIDE: usize = 16;
/// Images in the synthetic batch.
const BATCH: usize = 8;
/// Adam's learning rate for the smoke step: large enough that one step visibly lowers the loss.
const LEARNING_RATE: f64 = 0.05;

/// The losses around one optimiser step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// 1 for the first step of a trainer, then 2, 3, …
    pub step: usize,
    /// Mean BCE on the batch before the step.
    pub loss_before: f32,
    /// Mean BCE on the same batch after the step.
    pub loss_after: f32,
}

/// Why a step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The GPU (or CPU) could not hand the loss back.
    #[error("could not read the loss back from the device: {0}")]
    ReadBack(String),
}

/// A tiny model, its optimiser and a fixed batch, on one device.
pub struct SmokeTrainer {
    model: Option<TinyCnn>,
    optimizer: ModuleOptimizer,
    images: Tensor<4>,
    targets: Tensor<2>,
    steps_done: usize,
}

impl SmokeTrainer {
    /// A trainer on `device` (which must have autodiff), with weights drawn from `seed`.
    pub fn new(device: &Device, seed: u64) -> Self {
        let model = seeded_on(seed, device, |cpu| TinyCnnConfig::new(2).init(cpu));
        let (images, targets) = synthetic_batch();
        Self {
            model: Some(model),
            optimizer: AdamConfig::new().init(),
            images: Tensor::from_data(images, device),
            targets: Tensor::from_data(targets, device),
            steps_done: 0,
        }
    }

    /// One forward, backward and Adam step; reads both losses back asynchronously.
    pub async fn step(&mut self) -> Result<StepReport, StepError> {
        let model = self
            .model
            .take()
            .expect("the model is put back at the end of every step");
        let loss = self.loss(&model);
        let loss_before = read_scalar(loss.clone()).await;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let model = self.optimizer.step(LEARNING_RATE, model, grads);
        let loss_after = read_scalar(self.loss(&model)).await;
        self.model = Some(model);
        self.steps_done += 1;
        Ok(StepReport {
            step: self.steps_done,
            loss_before: loss_before?,
            loss_after: loss_after?,
        })
    }

    fn loss(&self, model: &TinyCnn) -> Tensor<1> {
        let logits = model.forward(self.images.clone());
        binary_cross_entropy_with_logits(logits, self.targets.clone(), None, None)
    }
}

/// Reads a one-element tensor without blocking: a synchronous read panics on WebGPU in wasm.
async fn read_scalar(tensor: Tensor<1>) -> Result<f32, StepError> {
    tensor
        .into_scalar_async::<f32>()
        .await
        .map_err(|e| StepError::ReadBack(format!("{e:?}")))
}

/// Eight 16x16 grey images, each with one square on a faint gradient; finding 0 is "the square
/// is bright", finding 1 "the square is large". Both survive global average pooling (position
/// would not), so the tiny CNN can learn them. Deterministic: every backend sees the same batch.
fn synthetic_batch() -> (TensorData, TensorData) {
    let mut pixels = vec![0.0f32; BATCH * IMAGE_SIDE * IMAGE_SIDE];
    let mut targets = vec![0.0f32; BATCH * 2];
    for i in 0..BATCH {
        let bright = i % 2 == 0;
        let large = (i / 2) % 2 == 0;
        let (level, side) = (if bright { 0.9 } else { 0.45 }, if large { 7 } else { 3 });
        let (x0, y0) = (1 + (3 * i) % 7, 2 + (5 * i) % 6);
        let image = &mut pixels[i * IMAGE_SIDE * IMAGE_SIDE..(i + 1) * IMAGE_SIDE * IMAGE_SIDE];
        for (p, v) in image.iter_mut().enumerate() {
            let (y, x) = (p / IMAGE_SIDE, p % IMAGE_SIDE);
            *v = 0.05 + 0.01 * ((x + 2 * y) % 7) as f32;
            if (x0..x0 + side).contains(&x) && (y0..y0 + side).contains(&y) {
                *v = level;
            }
        }
        targets[2 * i] = f32::from(u8::from(bright));
        targets[2 * i + 1] = f32::from(u8::from(large));
    }
    (
        TensorData::new(pixels, [BATCH, 1, IMAGE_SIDE, IMAGE_SIDE]),
        TensorData::new(targets, [BATCH, 2]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu_device;

    #[test]
    fn adam_steps_lower_the_loss_on_the_cpu() {
        let device = cpu_device().autodiff();
        let mut trainer = SmokeTrainer::new(&device, 7);
        let first = pollster::block_on(trainer.step()).expect("CPU read-back cannot fail");
        assert_eq!(first.step, 1);
        assert!(first.loss_after < first.loss_before, "{first:?}");
        let mut last = first;
        for _ in 0..9 {
            last = pollster::block_on(trainer.step()).expect("CPU read-back cannot fail");
        }
        assert_eq!(last.step, 10);
        assert!(
            last.loss_after < 0.8 * first.loss_before,
            "ten steps should cut the loss: {first:?} → {last:?}"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_numbers() {
        let device = cpu_device().autodiff();
        let a = pollster::block_on(SmokeTrainer::new(&device, 3).step()).expect("CPU read-back");
        let b = pollster::block_on(SmokeTrainer::new(&device, 3).step()).expect("CPU read-back");
        let c = pollster::block_on(SmokeTrainer::new(&device, 4).step()).expect("CPU read-back");
        assert_eq!(a, b);
        assert_ne!(a.loss_before, c.loss_before);
    }

    #[test]
    fn the_batch_labels_match_the_squares() {
        let (images, targets) = synthetic_batch();
        let pixels = images.try_to_vec::<f32>().expect("f32 data");
        let targets = targets.try_to_vec::<f32>().expect("f32 data");
        for i in 0..BATCH {
            let image = &pixels[i * IMAGE_SIDE * IMAGE_SIDE..(i + 1) * IMAGE_SIDE * IMAGE_SIDE];
            let square: Vec<f32> = image.iter().copied().filter(|&v| v > 0.3).collect();
            let bright = square.iter().all(|&v| v > 0.8);
            assert_eq!(targets[2 * i] > 0.5, bright, "image {i}");
            assert_eq!(targets[2 * i + 1] > 0.5, square.len() == 49, "image {i}");
            assert!(square.len() == 49 || square.len() == 9, "image {i}");
        }
    }
}
