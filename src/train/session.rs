//! A training session on a loaded data set, as the worker (and the CLI) runs it: from a
//! [`TrainRequest`] to a [`Trainer`] with its model, examples and augmentation, then the
//! evaluation of the kept model and its model file. The worker only drives it step by step and
//! relays its events; everything here is plain Rust on a burn `Device`, tested natively.

use burn::module::Module;
use burn::tensor::Device;

use super::augmenter::{Augmenter, augmenter_for};
use super::examples::{Examples, SplitExamples, split_examples};
use super::predict::predict;
use super::preprocess::{InputSpec, Normalization};
use super::trainer::{Event, TrainError, Trainer};
use crate::data::{DataView, Dataset, Output};
use crate::metrics::{BootstrapConfig, evaluate};
use crate::model::densenet::{DenseNet, DenseNetConfig};
use crate::model::file::{ModelMeta, save_model};
use crate::model::import::load_torchvision_safetensors;
use crate::model::init::seeded_on;
use crate::model::params::trainable_params;
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
}

/// The architecture for a choice.
fn architecture(choice: ModelChoice, outputs: usize, channels: usize) -> DenseNetConfig {
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
        request: TrainRequest,
        device: &Device,
    ) -> Result<(Session, TrainingStarted), String> {
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
                "the labels say nothing about {}: with folder labels (normal / abnormal), train \
                 the Abnormal output",
                outputs
                    .iter()
                    .map(|o| o.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let mut config = request.config;
        let seed = config.seed;
        let (model, model_config) = match &request.weights {
            None => {
                config.input.channels = 1;
                let arch = architecture(request.model, outputs.len(), 1);
                let model = seeded_on(seed, device, |cpu| arch.init(cpu));
                (model, arch)
            }
            Some(bytes) => {
                // torchvision's ImageNet DenseNet121: 3 channels, 1,000 classes, its own
                // normalisation. Its features are kept; the classifier is new, one output each.
                config.input.channels = 3;
                config.input.normalization = Normalization::IMAGENET;
                let imagenet = DenseNetConfig::densenet121(1000, 3);
                let loaded = load_torchvision_safetensors(
                    imagenet.init(&crate::backend::cpu_device().autodiff()),
                    bytes,
                )
                .map_err(|e| format!("the initial weights do not fit: {e}"))?;
                let arch = DenseNetConfig::densenet121(outputs.len(), 3);
                let fresh = seeded_on(seed, device, |cpu| arch.init(cpu));
                let model = DenseNet {
                    features: loaded.features.fork(device),
                    classifier: fresh.classifier,
                };
                (model, arch)
            }
        };
        let parameters = trainable_params(&model);
        let mut meta = ModelMeta::new(model_config, outputs.clone(), config.input);
        meta.augmentation = serde_json::to_value(&request.augmentation).ok();
        let trainer = Trainer::new(
            model,
            device,
            config.clone(),
            outputs.clone(),
            examples.train.clone(),
            examples.validation.clone(),
        )
        .map_err(|e| e.to_string())?;
        let started = TrainingStarted {
            outputs: outputs.clone(),
            train_images: examples.train.len(),
            validation_images: examples.validation.len(),
            steps_per_epoch: trainer.steps_per_epoch(),
            epochs: config.epochs,
            parameters,
        };
        Ok((
            Session {
                trainer,
                augmenter: augmenter_for(request.augmentation, device),
                examples,
                outputs,
                meta,
                device: device.clone(),
            },
            started,
        ))
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

/// What a model file records of its training.
#[derive(serde::Serialize)]
struct TrainingRecord<'a> {
    config: &'a super::config::TrainConfig,
    history: &'a [super::trainer::EpochRecord],
    best_epoch: Option<usize>,
}
