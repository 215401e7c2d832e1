//! [`Trainer`]: a DenseNet training run driven one step at a time, so that the worker can report
//! progress, take a Cancel or a Pause between steps, and never block; the CLI drives the same
//! steps with `pollster`.
//!
//! Each [`Trainer::step`] either trains on one batch or, at the end of an epoch, validates:
//! probabilities on the validation split in inference mode (batch norm on running statistics),
//! mean AUC over the findings, the abnormal-vs-normal AUC (the highest finding probability as
//! the score), the schedule and early stopping. The best epoch's weights are kept.
//!
//! Reading a value back from the GPU waits for the queue to drain, so the training loss is summed
//! on the device and read only every `loss_every` steps and at the end of an epoch.

use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::adam::{AdamSnapshot, PathAdam};
use super::augmenter::Augmenter;
use super::config::{LossKind, Schedule, TrainConfig};
use super::examples::Examples;
use super::loss::binary_cross_entropy_with_logits;
use super::predict::{PredictError, input_tensor, predict};
use super::preprocess::{normalize, normalize_batch, to_unit_range};
use crate::data::{ImageStore, Output};
use crate::metrics::{auc, evaluate};
use crate::model::densenet::DenseNet;
use crate::rng::SplitMix64;

/// Why training stopped or could not go on.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Nothing to train on.
    #[error("the training split has no images")]
    NoTrainingImages,
    /// Nothing to validate on.
    #[error(
        "the validation split has no images: give validation a share of the split (10 % by default)"
    )]
    NoValidationImages,
    /// An image index past the store (a bug in the caller).
    #[error("image {0} is not in the store")]
    NoImage(usize),
    /// A device read failed (device lost, out of memory).
    #[error("the device failed: {0}")]
    Device(String),
    /// The augmentation spec asks for something the device cannot do.
    #[error("augmentation on the device failed: {0}")]
    Augment(String),
    /// The loss became NaN or infinite.
    #[error("the training loss became {0}: lower the learning rate")]
    Diverged(f32),
}

impl From<PredictError> for TrainError {
    fn from(e: PredictError) -> Self {
        match e {
            PredictError::NoImage(i) => TrainError::NoImage(i),
            PredictError::Read(e) => TrainError::Device(e),
        }
    }
}

/// Progress after a training step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Step within the epoch, from 1.
    pub step: usize,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// Steps so far in the run.
    pub global_step: usize,
    /// Steps of the whole run (if it is not stopped early).
    pub total_steps: usize,
    /// Images trained on in this step.
    pub images: usize,
    /// Mean training loss since the last report that had one, when read this step.
    pub loss: Option<f32>,
    /// Learning rate of this step.
    pub learning_rate: f64,
}

/// What an epoch gave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// Epoch, from 1.
    pub epoch: usize,
    /// Mean training loss over the epoch.
    pub train_loss: f32,
    /// Mean weighted BCE on the validation split.
    pub validation_loss: f32,
    /// Mean AUC over the outputs that have one on the validation split.
    pub validation_auc: Option<f64>,
    /// Abnormal-vs-normal AUC on the validation split: the abnormal output's, or else the
    /// highest finding probability's.
    pub abnormal_auc: Option<f64>,
    /// Per-output validation AUC, in output order.
    pub output_auc: Vec<Option<f64>>,
    /// Learning rate at the end of the epoch.
    pub learning_rate: f64,
    /// Whether this epoch is the best so far (and its weights kept).
    pub best: bool,
}

/// Why the run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Finish {
    /// All epochs done.
    Completed,
    /// No better validation AUC for the early-stopping patience.
    EarlyStopped,
}

/// What one [`Trainer::step`] did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Event {
    /// Trained on a batch.
    Step(StepReport),
    /// Validated at the end of an epoch.
    Epoch(EpochRecord),
    /// The run is over (returned after the last epoch's record, and from then on).
    Finished(Finish),
}

/// The best epoch's weights, in inference mode.
struct Best {
    epoch: usize,
    score: f64,
    model: DenseNet,
}

/// A training run; see the module doc.
pub struct Trainer {
    config: TrainConfig,
    outputs: Vec<Output>,
    device: Device,
    model: Option<DenseNet>,
    optimizer: PathAdam,
    accumulator: GradientsAccumulator<DenseNet>,
    accumulated: usize,
    weights: Option<(Vec<f32>, Vec<f32>)>,
    train: Examples,
    validation: Examples,
    rng: SplitMix64,
    order: Vec<usize>,
    cursor: usize,
    epoch: usize,
    global_step: usize,
    loss_sum: Option<Tensor<1>>,
    loss_steps: usize,
    epoch_loss_sum: f64,
    epoch_loss_steps: usize,
    plateau_factor: f64,
    since_improvement: usize,
    history: Vec<EpochRecord>,
    best: Option<Best>,
    finished: Option<Finish>,
}

impl Trainer {
    /// A run training `model` (on `device`, which must have autodiff) on `train`, validated on
    /// `validation`; `outputs` says what each of the model's outputs predicts.
    ///
    /// # Errors
    /// [`TrainError`] if a split is empty.
    pub fn new(
        model: DenseNet,
        device: &Device,
        config: TrainConfig,
        outputs: Vec<Output>,
        train: Examples,
        validation: Examples,
    ) -> Result<Self, TrainError> {
        if train.is_empty() {
            return Err(TrainError::NoTrainingImages);
        }
        if validation.is_empty() {
            return Err(TrainError::NoValidationImages);
        }
        let model = if config.freeze_backbone {
            DenseNet {
                features: model.features.no_grad(),
                classifier: model.classifier,
            }
        } else {
            model
        };
        let weights = (config.loss == LossKind::ClassWeighted).then(|| train.class_weights());
        let optimizer = PathAdam::new(&adam_config(&config));
        let mut trainer = Trainer {
            rng: SplitMix64::new(config.seed ^ 0x5EED_BA7C),
            config,
            outputs,
            device: device.clone(),
            model: Some(model),
            optimizer,
            accumulator: GradientsAccumulator::new(),
            accumulated: 0,
            weights,
            train,
            validation,
            order: Vec::new(),
            cursor: 0,
            epoch: 1,
            global_step: 0,
            loss_sum: None,
            loss_steps: 0,
            epoch_loss_sum: 0.0,
            epoch_loss_steps: 0,
            plateau_factor: 1.0,
            since_improvement: 0,
            history: Vec::new(),
            best: None,
            finished: None,
        };
        trainer.shuffle();
        Ok(trainer)
    }

    /// Steps per epoch.
    #[must_use]
    pub fn steps_per_epoch(&self) -> usize {
        self.train.len().div_ceil(self.config.batch_size.max(1))
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The epochs validated so far.
    #[must_use]
    pub fn history(&self) -> &[EpochRecord] {
        &self.history
    }

    /// The epoch whose weights are kept as the best, if any.
    #[must_use]
    pub fn best_epoch(&self) -> Option<usize> {
        self.best.as_ref().map(|b| b.epoch)
    }

    /// The best epoch's weights in inference mode, else the current ones.
    #[must_use]
    pub fn best_model(&self) -> Option<DenseNet> {
        match &self.best {
            Some(best) => Some(best.model.clone()),
            None => self.model.as_ref().map(Module::valid),
        }
    }

    /// The model being trained (training mode).
    #[must_use]
    pub fn model(&self) -> Option<&DenseNet> {
        self.model.as_ref()
    }

    fn shuffle(&mut self) {
        self.order = (0..self.train.len()).collect();
        // Fisher–Yates with the run's generator: the same seed, the same order.
        for i in (1..self.order.len()).rev() {
            let j = self.rng.below(i as u64 + 1) as usize;
            self.order.swap(i, j);
        }
        self.cursor = 0;
    }

    /// One batch, or the end-of-epoch validation; see the module doc.
    ///
    /// # Errors
    /// [`TrainError`] when the device fails or the loss diverges; the run cannot go on.
    pub async fn step(
        &mut self,
        store: &ImageStore,
        augmenter: &dyn Augmenter,
    ) -> Result<Event, TrainError> {
        if let Some(finish) = self.finished {
            return Ok(Event::Finished(finish));
        }
        if self.cursor >= self.order.len() {
            return self.end_epoch(store).await.map(Event::Epoch);
        }
        self.train_batch(store, augmenter).await.map(Event::Step)
    }

    /// The model's input for the training examples `batch`: stored pixels to `[0, 1]`, then
    /// augmented and normalised, image by image on the CPU or as one tensor on the device,
    /// whichever `augmenter` does.
    fn batch_input(
        &mut self,
        batch: &[usize],
        store: &ImageStore,
        augmenter: &dyn Augmenter,
    ) -> Result<Tensor<4>, TrainError> {
        let input = self.config.input;
        let side = input.side as usize;
        let mut pixels = Vec::with_capacity(batch.len() * input.len());
        for example in batch {
            let image = self.train.images[*example];
            let stored = store.get(image).ok_or(TrainError::NoImage(image))?;
            let grey = to_unit_range(stored, store.side(), input.side);
            if augmenter.on_device() {
                pixels.extend(grey);
            } else {
                let grey = augmenter.augment(grey, input.side, &mut self.rng);
                pixels.extend(normalize(grey, &input));
            }
        }
        if !augmenter.on_device() {
            return Ok(input_tensor(pixels, batch.len(), &input, &self.device));
        }
        let grey = Tensor::<4>::from_data(
            TensorData::new(pixels, [batch.len(), 1, side, side]),
            &self.device,
        );
        let augmented = augmenter
            .augment_batch(grey, &mut self.rng)
            .map_err(|e| TrainError::Augment(e.to_string()))?;
        Ok(normalize_batch(augmented, &input))
    }

    async fn train_batch(
        &mut self,
        store: &ImageStore,
        augmenter: &dyn Augmenter,
    ) -> Result<StepReport, TrainError> {
        let batch_size = self.config.batch_size.max(1);
        let end = (self.cursor + batch_size).min(self.order.len());
        let batch: Vec<usize> = self.order[self.cursor..end].to_vec();
        let epoch_step = self.cursor / batch_size + 1;
        self.cursor = end;
        self.global_step += 1;

        let k = self.outputs.len();
        let x = self.batch_input(&batch, store, augmenter)?;
        let targets: Vec<f32> = batch
            .iter()
            .flat_map(|e| self.train.targets[e * k..(e + 1) * k].iter().copied())
            .collect();
        let mask: Vec<f32> = batch
            .iter()
            .flat_map(|e| self.train.mask[e * k..(e + 1) * k].iter().copied())
            .collect();
        let y = Tensor::<2>::from_data(TensorData::new(targets, [batch.len(), k]), &self.device);
        let m = Tensor::<2>::from_data(TensorData::new(mask, [batch.len(), k]), &self.device);
        let weights = self.weights.as_ref().map(|(pos, neg)| {
            (
                Tensor::<1>::from_data(TensorData::new(pos.clone(), [k]), &self.device),
                Tensor::<1>::from_data(TensorData::new(neg.clone(), [k]), &self.device),
            )
        });

        let Some(model) = self.model.take() else {
            return Err(TrainError::Device("the model was lost".to_owned()));
        };
        let logits = model.forward(x);
        let loss = binary_cross_entropy_with_logits(logits, y, weights, Some(m));
        let accumulation = self.config.accumulation.max(1);
        let scaled = if accumulation > 1 {
            loss.clone() / accumulation as f32
        } else {
            loss.clone()
        };
        let grads = GradientsParams::from_grads(scaled.backward(), &model);
        self.accumulator.accumulate(&model, grads);
        self.accumulated += 1;

        let total_steps = self.steps_per_epoch() * self.config.epochs;
        let learning_rate =
            self.config
                .learning_rate_at(self.global_step, total_steps, self.plateau_factor);
        let end_of_epoch = self.cursor >= self.order.len();
        let model = if self.accumulated >= accumulation || end_of_epoch {
            self.accumulated = 0;
            let grads = self.accumulator.grads();
            self.optimizer.step(learning_rate, model, grads)
        } else {
            model
        };
        self.model = Some(model);

        let detached = loss.detach();
        self.loss_sum = Some(match self.loss_sum.take() {
            Some(sum) => sum + detached,
            None => detached,
        });
        self.loss_steps += 1;
        let read_now = end_of_epoch
            || self
                .global_step
                .is_multiple_of(self.config.loss_every.max(1));
        let loss = if read_now {
            Some(self.read_loss().await?)
        } else {
            None
        };
        Ok(StepReport {
            epoch: self.epoch,
            step: epoch_step,
            steps_per_epoch: self.steps_per_epoch(),
            global_step: self.global_step,
            total_steps,
            images: batch.len(),
            loss,
            learning_rate,
        })
    }

    /// Reads the summed loss back (async), folds it into the epoch's mean, returns the mean
    /// since the last read.
    async fn read_loss(&mut self) -> Result<f32, TrainError> {
        let Some(sum) = self.loss_sum.take() else {
            return Ok(f32::NAN);
        };
        let steps = std::mem::take(&mut self.loss_steps).max(1);
        let total: f32 = sum
            .into_scalar_async()
            .await
            .map_err(|e| TrainError::Device(format!("{e:?}")))?;
        if !total.is_finite() {
            return Err(TrainError::Diverged(total));
        }
        self.epoch_loss_sum += f64::from(total);
        self.epoch_loss_steps += steps;
        Ok(total / steps as f32)
    }

    async fn end_epoch(&mut self, store: &ImageStore) -> Result<EpochRecord, TrainError> {
        let Some(model) = self.model.as_ref() else {
            return Err(TrainError::Device("the model was lost".to_owned()));
        };
        let inference = model.valid();
        let plain = self.device.clone().without_autodiff();
        let probabilities = predict(
            &inference,
            store,
            &self.validation.images,
            &self.config.input,
            self.config.batch_size,
            &plain,
        )
        .await?;
        let k = self.outputs.len();
        let evaluation = evaluate(
            &self.outputs,
            &probabilities,
            &self.validation.targets,
            Some(&self.validation.mask),
            None,
        );
        let abnormal_auc = match self.outputs.iter().position(|o| *o == Output::Abnormal) {
            Some(j) => evaluation.findings[j].auc,
            None => abnormal_auc(&probabilities, &self.validation.abnormal, k),
        };
        let validation_loss = weighted_bce(
            &probabilities,
            &self.validation.targets,
            &self.validation.mask,
            self.weights.as_ref(),
            k,
        );
        let train_loss = (self.epoch_loss_sum / self.epoch_loss_steps.max(1) as f64) as f32;
        self.epoch_loss_sum = 0.0;
        self.epoch_loss_steps = 0;

        // The score that picks the best epoch: mean AUC, else the abnormal AUC, else -loss.
        let score = evaluation
            .mean_auc
            .or(abnormal_auc)
            .unwrap_or(-f64::from(validation_loss));
        let improved = self.best.as_ref().is_none_or(|b| score > b.score);
        if improved {
            self.best = Some(Best {
                epoch: self.epoch,
                score,
                model: inference,
            });
            self.since_improvement = 0;
        } else {
            self.since_improvement += 1;
            if let Schedule::ReduceOnPlateau { factor, patience } = self.config.schedule
                && self.since_improvement.is_multiple_of(patience.max(1))
            {
                self.plateau_factor *= factor;
            }
        }
        let total_steps = self.steps_per_epoch() * self.config.epochs;
        let record = EpochRecord {
            epoch: self.epoch,
            train_loss,
            validation_loss,
            validation_auc: evaluation.mean_auc,
            abnormal_auc,
            output_auc: evaluation.findings.iter().map(|f| f.auc).collect(),
            learning_rate: self.config.learning_rate_at(
                self.global_step,
                total_steps,
                self.plateau_factor,
            ),
            best: improved,
        };
        self.history.push(record.clone());

        if self.epoch >= self.config.epochs {
            self.finished = Some(Finish::Completed);
        } else if self
            .config
            .early_stopping
            .is_some_and(|patience| self.since_improvement >= patience)
        {
            self.finished = Some(Finish::EarlyStopped);
        } else {
            self.epoch += 1;
            self.shuffle();
        }
        Ok(record)
    }
}

/// Where a run stands between two epochs, less the weights and the optimizer's moments (which
/// [`Trainer::snapshot`] reads from the device): what a checkpoint needs to go on exactly as
/// the run would have.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// The next epoch to train (or the last one, once finished).
    pub epoch: usize,
    /// Steps so far.
    pub global_step: usize,
    /// What reduce-on-plateau has multiplied the learning rate by.
    pub plateau_factor: f64,
    /// Epochs since the best one.
    pub since_improvement: usize,
    /// The epochs validated so far.
    pub history: Vec<EpochRecord>,
    /// The best epoch and its score, if one was validated.
    pub best: Option<(usize, f64)>,
    /// Whether the best epoch's weights are the current ones (the usual case right after an
    /// improving epoch), so that a checkpoint need not hold them twice.
    pub best_is_current: bool,
    /// How the run ended, if it has.
    pub finished: Option<Finish>,
    /// The generator's state (batch order and augmentation draws).
    pub rng: u64,
    /// The order of the training examples in the epoch to come.
    pub order: Vec<usize>,
}

impl Trainer {
    /// Whether the run is over.
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.finished.is_some()
    }

    /// Whether the run is between two epochs (or has not begun): no batch of the coming epoch
    /// trained, no gradient or loss pending. Only then is a snapshot exact.
    #[must_use]
    pub fn at_epoch_boundary(&self) -> bool {
        self.cursor == 0 && self.accumulated == 0 && self.loss_sum.is_none()
    }

    /// The run's state and its optimizer's moments (one async device read).
    ///
    /// # Errors
    /// [`TrainError::Device`] when the read fails or the run is in the middle of an epoch.
    pub async fn snapshot(&self) -> Result<(TrainerState, AdamSnapshot), TrainError> {
        if !self.at_epoch_boundary() {
            return Err(TrainError::Device(
                "a checkpoint is taken between two epochs only".to_owned(),
            ));
        }
        let last_validated = self.history.last().map(|r| r.epoch);
        let state = TrainerState {
            epoch: self.epoch,
            global_step: self.global_step,
            plateau_factor: self.plateau_factor,
            since_improvement: self.since_improvement,
            history: self.history.clone(),
            best: self.best.as_ref().map(|b| (b.epoch, b.score)),
            best_is_current: self
                .best
                .as_ref()
                .is_some_and(|b| Some(b.epoch) == last_validated),
            finished: self.finished,
            rng: self.rng.state(),
            order: self.order.clone(),
        };
        let optimizer = self
            .optimizer
            .snapshot()
            .await
            .map_err(TrainError::Device)?;
        Ok((state, optimizer))
    }

    /// A run that goes on from `state`: `model` holds its current weights (on `device`, with
    /// autodiff), `best` the best epoch's (inference mode) unless
    /// [`TrainerState::best_is_current`]; the other arguments are as for [`Trainer::new`].
    ///
    /// # Errors
    /// As [`Trainer::new`], and [`TrainError::Device`] when the state does not fit the examples.
    #[allow(clippy::too_many_arguments)]
    pub fn resume(
        model: DenseNet,
        best: Option<DenseNet>,
        device: &Device,
        config: TrainConfig,
        outputs: Vec<Output>,
        train: Examples,
        validation: Examples,
        state: TrainerState,
        optimizer: &AdamSnapshot,
    ) -> Result<Self, TrainError> {
        let mut order = state.order.clone();
        order.sort_unstable();
        if !order.iter().copied().eq(0..train.len()) {
            return Err(TrainError::Device(
                "the checkpoint's batch order does not fit the training split".to_owned(),
            ));
        }
        let adam = adam_config(&config);
        let mut trainer = Trainer::new(model, device, config, outputs, train, validation)?;
        let best_model = match (state.best, best) {
            (None, _) => None,
            (Some(_), Some(best)) => Some(best),
            (Some(_), None) if state.best_is_current => trainer.model.as_ref().map(Module::valid),
            (Some(_), None) => {
                return Err(TrainError::Device(
                    "the checkpoint lacks the best epoch's weights".to_owned(),
                ));
            }
        };
        trainer.best = state
            .best
            .zip(best_model)
            .map(|((epoch, score), model)| Best {
                epoch,
                score,
                model,
            });
        trainer.optimizer = PathAdam::restore(&adam, optimizer, device);
        trainer.rng = SplitMix64::new(state.rng);
        trainer.order = state.order;
        trainer.cursor = 0;
        trainer.epoch = state.epoch;
        trainer.global_step = state.global_step;
        trainer.plateau_factor = state.plateau_factor;
        trainer.since_improvement = state.since_improvement;
        trainer.history = state.history;
        trainer.finished = state.finished;
        Ok(trainer)
    }
}

/// The optimizer's hyper-parameters for a run's settings.
pub(crate) fn adam_config(config: &TrainConfig) -> AdamConfig {
    AdamConfig::new().with_weight_decay(
        (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay)),
    )
}

/// Abnormal-vs-normal AUC: an image's score is its highest finding probability (NIH's
/// "No Finding" is all findings absent).
fn abnormal_auc(probabilities: &[f32], abnormal: &[Option<bool>], k: usize) -> Option<f64> {
    let (scores, labels): (Vec<f32>, Vec<bool>) = abnormal
        .iter()
        .enumerate()
        .filter_map(|(i, label)| {
            let row = &probabilities[i * k..(i + 1) * k];
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            label.map(|l| (max, l))
        })
        .unzip();
    auc(&scores, &labels)
}

/// Mean (weighted, masked) binary cross-entropy of probabilities, on the CPU: the validation
/// loss, comparable with the training loss.
fn weighted_bce(
    probabilities: &[f32],
    targets: &[f32],
    mask: &[f32],
    weights: Option<&(Vec<f32>, Vec<f32>)>,
    k: usize,
) -> f32 {
    let (mut sum, mut count) = (0.0_f64, 0.0_f64);
    for (i, p) in probabilities.iter().enumerate() {
        let j = i % k;
        let p = f64::from(*p).clamp(1e-7, 1.0 - 1e-7);
        let y = f64::from(targets[i]);
        let (w_pos, w_neg) = weights.map_or((1.0, 1.0), |(pos, neg)| {
            (f64::from(pos[j]), f64::from(neg[j]))
        });
        sum += f64::from(mask[i]) * -(w_pos * y * p.ln() + w_neg * (1.0 - y) * (1.0 - p).ln());
        count += 1.0;
    }
    (sum / count.max(1.0)) as f32
}
