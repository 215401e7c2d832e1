//! A training session on a loaded data set, as the worker (and the CLI) runs it: from a
//! [`TrainRequest`] to a [`Trainer`] with its model, examples and augmentation, then the
//! evaluation of the kept model and its model file. The worker only drives it step by step and
//! relays its events; everything here is plain Rust on a burn `Device`, tested natively.

use burn::module::Module;
use burn::tensor::Device;

use super::augmenter::{Augmenter, augmenter_for};
use super::checkpoint::{Checkpoint, CheckpointSummary, fingerprint};
use super::examples::{Examples, SplitExamples, split_examples};
use super::predict::predict;
use super::preprocess::InputSpec;
use super::trainer::{Event, TrainError, Trainer};
use crate::data::{DataView, Dataset, Output};
use crate::metrics::{BootstrapConfig, evaluate};
use crate::model::densenet::{DenseNet, DenseNetConfig};
use crate::model::file::{ModelMeta, load_model, save_model};
use crate::model::init::seeded_on;
use crate::model::params::trainable_params;
use crate::model::pretrained::Pretrained;
use crate::protocol::{
    EvaluationReport, ModelChoice, OutputsChoice, TrainRequest, TrainingStarted,
};

/// A running (or finished) session.
pub struct Session {
    trainer: Trainer,
    augmenter: Box<dyn Augmenter>,
    examples: SplitExamples,
    outputs: Vec<Output>,
    meta: ModelMeta,
    device: Device,
    /// The run as asked for, less the initial weights, and the view it trains on: for
    /// checkpoints.
    request: TrainRequest,
    view: DataView,
    /// [`fingerprint`] of the data it trains on.
    fingerprint: u64,
}

/// The architecture for a choice (`outputs` logits, `channels` input channels).
pub fn architecture(choice: ModelChoice, outputs: usize, channels: usize) -> DenseNetConfig {
    match choice {
        ModelChoice::DenseNet121 => DenseNetConfig::densenet121(outputs, channels),
        ModelChoice::Small => DenseNetConfig::new(outputs)
            .with_in_channels(channels)
            .with_growth_rate(8)
            .with_block_config(vec![2, 2, 2])
            .with_num_init_features(16)
            .with_bn_size(2),
    }
}

impl Session {
    /// Prepares a run on `dataset` seen through `view`, on `device` (with autodiff).
    ///
    /// # Errors
    /// A sentence for the user: no labelled images, an empty side, no finding chosen, weights
    /// that do not fit.
    pub fn start(
        dataset: &Dataset,
        view: &DataView,
        mut request: TrainRequest,
        device: &Device,
    ) -> Result<(Session, TrainingStarted), String> {
        let (outputs, examples) = outputs_and_examples(dataset, view, &request)?;
        let weights = request.weights.take();
        let mut config = request.config.clone();
        let seed = config.seed;
        let (model, model_config) = match &weights {
            None => {
                config.input.channels = 1;
                let arch = architecture(request.model, outputs.len(), 1);
                let model = seeded_on(seed, device, |cpu| arch.init(cpu));
                (model, arch)
            }
            Some(bytes) => {
                // The architecture, channels and normalisation are the weights' own; their
                // features are kept, and so are the classifier rows of outputs they name
                // (torchxrayvision's findings); other rows are new.
                let weights = Pretrained::read(bytes)
                    .map_err(|e| format!("the initial weights cannot be used: {e}"))?;
                config.input = weights.input(config.input.side);
                weights
                    .model_for(&outputs, seed, device)
                    .map_err(|e| format!("the initial weights cannot be used: {e}"))?
            }
        };
        let parameters = trainable_params(&model);
        let mut meta = ModelMeta::new(model_config, outputs.clone(), config.input);
        meta.augmentation = serde_json::to_value(&request.augmentation).ok();
        let fingerprint = fingerprint(dataset, &examples);
        let trainer = Trainer::new(
            model,
            device,
            config.clone(),
            outputs.clone(),
            examples.train.clone(),
            examples.validation.clone(),
        )
        .map_err(|e| e.to_string())?;
        let session = Session {
            trainer,
            augmenter: augmenter_for(request.augmentation.clone(), device),
            examples,
            outputs,
            meta,
            device: device.clone(),
            request,
            view: *view,
            fingerprint,
        };
        let started = session.started(parameters);
        Ok((session, started))
    }

    /// The run as it stands, to go on later with [`Session::resume`]; taken between two epochs
    /// (right after [`Event::Epoch`]). `saved_at_ms` is left 0 for the caller's clock.
    ///
    /// # Errors
    /// A sentence for the user: the run is mid-epoch, or a device read failed.
    pub async fn checkpoint(&self) -> Result<Checkpoint, String> {
        let (state, optimizer) = self.trainer.snapshot().await.map_err(|e| e.to_string())?;
        let Some(model) = self.trainer.model() else {
            return Err("the model was lost".to_owned());
        };
        let model_bytes = save_model(model, &self.meta)
            .await
            .map_err(|e| e.to_string())?;
        let best_model = match (state.best, state.best_is_current, self.trainer.best_model()) {
            (Some(_), false, Some(best)) => Some(
                save_model(&best, &self.meta)
                    .await
                    .map_err(|e| e.to_string())?,
            ),
            _ => None,
        };
        let best_auc = state
            .history
            .iter()
            .filter_map(|r| r.validation_auc)
            .fold(None, |best: Option<f64>, auc| {
                Some(best.map_or(auc, |b| b.max(auc)))
            });
        let config = self.trainer.config().clone();
        Ok(Checkpoint {
            summary: CheckpointSummary {
                epochs_done: state.history.len(),
                epochs: config.epochs,
                model: self.request.model,
                side: config.input.side,
                images: self.examples.train.len()
                    + self.examples.validation.len()
                    + self.examples.test.len(),
                fingerprint: self.fingerprint,
                best_auc,
                saved_at_ms: 0.0,
            },
            request: self.request.clone(),
            view: self.view,
            config,
            state,
            optimizer,
            model: model_bytes,
            best_model,
        })
    }

    /// Goes on with the run `checkpoint` holds, on `dataset` (which must be the data it was
    /// trained on), on `device` (with autodiff).
    ///
    /// # Errors
    /// A sentence for the user: other data, or a checkpoint that does not load.
    pub fn resume(
        dataset: &Dataset,
        checkpoint: &Checkpoint,
        device: &Device,
    ) -> Result<(Session, TrainingStarted), String> {
        let view = checkpoint.view;
        let request = checkpoint.request.clone();
        let (outputs, examples, fingerprint) = Self::fitting_examples(dataset, checkpoint)?;
        let unloadable = |e: crate::model::file::ModelFileError| {
            format!("the checkpoint's weights do not load: {e}")
        };
        let (model, meta) = load_model(&checkpoint.model, device).map_err(unloadable)?;
        if meta.outputs != outputs {
            return Err("the checkpoint's model predicts other outputs".to_owned());
        }
        let best = match &checkpoint.best_model {
            Some(bytes) => Some(
                load_model(bytes, &device.clone().without_autodiff())
                    .map_err(unloadable)?
                    .0,
            ),
            None => None,
        };
        let parameters = trainable_params(&model);
        let trainer = Trainer::resume(
            model,
            best,
            device,
            checkpoint.config.clone(),
            outputs.clone(),
            examples.train.clone(),
            examples.validation.clone(),
            checkpoint.state.clone(),
            &checkpoint.optimizer,
        )
        .map_err(|e| e.to_string())?;
        let session = Session {
            trainer,
            augmenter: augmenter_for(request.augmentation.clone(), device),
            examples,
            outputs,
            meta,
            device: device.clone(),
            request,
            view,
            fingerprint,
        };
        let started = session.started(parameters);
        Ok((session, started))
    }

    /// What the page is told when the run starts or resumes: all of it read off the session.
    fn started(&self, parameters: usize) -> TrainingStarted {
        TrainingStarted {
            outputs: self.outputs.clone(),
            train_images: self.examples.train.len(),
            validation_images: self.examples.validation.len(),
            steps_per_epoch: self.trainer.steps_per_epoch(),
            epochs: self.trainer.config().epochs,
            parameters,
        }
    }

    /// Whether `checkpoint` can resume on `dataset`: the same images, labels and split.
    ///
    /// # Errors
    /// Why not, for the user.
    pub fn check_fits(dataset: &Dataset, checkpoint: &Checkpoint) -> Result<(), String> {
        Self::fitting_examples(dataset, checkpoint).map(|_| ())
    }

    fn fitting_examples(
        dataset: &Dataset,
        checkpoint: &Checkpoint,
    ) -> Result<(Vec<Output>, SplitExamples, u64), String> {
        let (outputs, examples) =
            outputs_and_examples(dataset, &checkpoint.view, &checkpoint.request)?;
        let fingerprint = fingerprint(dataset, &examples);
        if fingerprint != checkpoint.summary.fingerprint {
            return Err(format!(
                "the loaded data is not the data the interrupted run trained on ({} labelled \
                 images then, {} now, or other images, labels or split): load the same data to \
                 resume",
                checkpoint.summary.images,
                examples.train.len() + examples.validation.len() + examples.test.len()
            ));
        }
        Ok((outputs, examples, fingerprint))
    }

    /// Whether the run is over (all epochs, or stopped early).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.trainer.is_finished()
    }

    /// The epochs validated so far.
    #[must_use]
    pub fn history(&self) -> &[super::trainer::EpochRecord] {
        self.trainer.history()
    }

    /// One training step or end-of-epoch validation.
    ///
    /// # Errors
    /// [`TrainError`] when the run cannot go on.
    pub async fn step(&mut self, dataset: &Dataset) -> Result<Event, TrainError> {
        self.trainer
            .step(&dataset.store, self.augmenter.as_ref())
            .await
    }

    /// The epoch kept, if one was validated.
    #[must_use]
    pub fn best_epoch(&self) -> Option<usize> {
        self.trainer.best_epoch()
    }

    /// The model's outputs.
    #[must_use]
    pub fn outputs(&self) -> &[Output] {
        &self.outputs
    }

    /// The input the model takes.
    #[must_use]
    pub fn input(&self) -> InputSpec {
        self.meta.input
    }

    /// The test split's examples.
    #[must_use]
    pub fn test_examples(&self) -> &Examples {
        &self.examples.test
    }

    /// The kept model (best epoch, inference mode) on the plain device.
    #[must_use]
    pub fn kept_model(&self) -> Option<DenseNet> {
        self.trainer.best_model()
    }

    /// Evaluates the kept model on the test split, with seeded bootstrap intervals.
    ///
    /// # Errors
    /// A sentence for the user.
    pub async fn evaluate(&self, dataset: &Dataset) -> Result<EvaluationReport, String> {
        let test = &self.examples.test;
        if test.is_empty() {
            return Err(
                "the test split has no images: give test a share of the split (20 % by default)"
                    .to_owned(),
            );
        }
        let model = self
            .kept_model()
            .ok_or_else(|| "no model has been trained yet".to_owned())?;
        let plain = self.device.clone().without_autodiff();
        let config = self.trainer.config();
        let probabilities = predict(
            &model,
            &dataset.store,
            &test.images,
            &config.input,
            config.batch_size,
            &plain,
        )
        .await
        .map_err(|e| e.to_string())?;
        let bootstrap = BootstrapConfig {
            seed: config.seed,
            ..BootstrapConfig::default()
        };
        Ok(EvaluationReport {
            split: "test".to_owned(),
            evaluation: evaluate(
                &self.outputs,
                &probabilities,
                &test.targets,
                Some(&test.mask),
                Some(&bootstrap),
            ),
        })
    }

    /// The kept model as a CXR Lab model file, with the training config and history.
    ///
    /// # Errors
    /// A sentence for the user.
    pub async fn model_file(&self) -> Result<Vec<u8>, String> {
        let model = self
            .kept_model()
            .ok_or_else(|| "no model has been trained yet".to_owned())?;
        let mut meta = self.meta.clone();
        meta.training = serde_json::to_value(TrainingRecord {
            config: self.trainer.config(),
            history: self.trainer.history(),
            best_epoch: self.best_epoch(),
        })
        .ok();
        save_model(&model.valid(), &meta)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The model's outputs for `request` on `view`, and the split's examples.
fn outputs_and_examples(
    dataset: &Dataset,
    view: &DataView,
    request: &TrainRequest,
) -> Result<(Vec<Output>, SplitExamples), String> {
    let outputs = match request.outputs {
        OutputsChoice::Findings => Output::findings(&view.labels.findings.findings()),
        OutputsChoice::Abnormal => vec![Output::Abnormal],
    };
    if outputs.is_empty() {
        return Err("no finding is chosen: tick at least one in the Data panel".to_owned());
    }
    let examples = split_examples(dataset, &view.split, &outputs)?;
    if examples.train.mask.iter().all(|m| *m == 0.0) {
        return Err(format!(
            "the labels say nothing about {}: with folder labels (normal / abnormal), train the \
             Abnormal output",
            outputs
                .iter()
                .map(|o| o.label())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok((outputs, examples))
}

/// What a model file records of its training.
#[derive(serde::Serialize)]
struct TrainingRecord<'a> {
    config: &'a super::config::TrainConfig,
    history: &'a [super::trainer::EpochRecord],
    best_epoch: Option<usize>,
}
