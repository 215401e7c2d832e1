//! What a training run is asked to do: plain serde data, shared by the page, the worker and
//! the CLI, and saved in the model file.

use serde::{Deserialize, Serialize};

use super::preprocess::{InputSpec, Normalization};

/// How the learning rate changes over the run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// The same rate throughout.
    Constant,
    /// Cosine decay from the rate to `rate × min_factor` over all steps.
    Cosine {
        /// The final fraction of the rate.
        min_factor: f64,
    },
    /// Multiply the rate by `factor` when the validation mean AUC has not improved for
    /// `patience` epochs (Keras' `ReduceLROnPlateau`).
    ReduceOnPlateau {
        /// Multiplier, e.g. 0.1.
        factor: f64,
        /// Epochs without improvement before reducing.
        patience: usize,
    },
}

/// Which loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LossKind {
    /// Binary cross-entropy with per-finding weights from the training split (w_pos = fraction
    /// of negatives, w_neg = fraction of positives), as in CheXNet: rare findings are not
    /// drowned by the negatives. The default.
    ClassWeighted,
    /// Plain binary cross-entropy.
    Plain,
}

/// A training run's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The model's input.
    pub input: InputSpec,
    /// Images per step.
    pub batch_size: usize,
    /// Passes over the training split.
    pub epochs: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Adam's L2 penalty (0 for none).
    pub weight_decay: f32,
    /// Learning rate schedule.
    pub schedule: Schedule,
    /// Batches whose gradients are summed before one optimiser update (1 = none): a larger
    /// effective batch than the device memory allows.
    pub accumulation: usize,
    /// Train only the classifier; the convolutional backbone stays as loaded.
    pub freeze_backbone: bool,
    /// The loss.
    pub loss: LossKind,
    /// Stop after this many epochs without a better validation mean AUC.
    pub early_stopping: Option<usize>,
    /// Seed of the weights, the batch order and the augmentation.
    pub seed: u64,
    /// Read the mean training loss back every this many steps (reading stalls the GPU queue, so
    /// not every step).
    pub loss_every: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            input: InputSpec {
                side: 224,
                channels: 1,
                normalization: Normalization::Samplewise,
            },
            batch_size: 16,
            epochs: 5,
            learning_rate: 1e-3,
            weight_decay: 0.0,
            schedule: Schedule::Constant,
            accumulation: 1,
            freeze_backbone: false,
            loss: LossKind::ClassWeighted,
            early_stopping: Some(3),
            seed: 0,
            loss_every: 5,
        }
    }
}

impl TrainConfig {
    /// The learning rate at `step` of `total_steps` with the plateau factor `plateau`.
    #[must_use]
    pub fn learning_rate_at(&self, step: usize, total_steps: usize, plateau: f64) -> f64 {
        match self.schedule {
            Schedule::Constant => self.learning_rate,
            Schedule::Cosine { min_factor } => {
                let t = step as f64 / total_steps.max(1) as f64;
                let cosine = 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos());
                self.learning_rate * (min_factor + (1.0 - min_factor) * cosine)
            }
            Schedule::ReduceOnPlateau { .. } => self.learning_rate * plateau,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_goes_from_the_rate_to_its_floor() {
        let config = TrainConfig {
            schedule: Schedule::Cosine { min_factor: 0.1 },
            learning_rate: 1.0,
            ..TrainConfig::default()
        };
        assert_eq!(config.learning_rate_at(0, 100, 1.0), 1.0);
        assert!((config.learning_rate_at(50, 100, 1.0) - 0.55).abs() < 1e-12);
        assert!((config.learning_rate_at(100, 100, 1.0) - 0.1).abs() < 1e-12);
    }
}
