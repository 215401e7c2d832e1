//! The messages between the page and the compute worker: small plain data, never tensors.

use serde::{Deserialize, Serialize};

use crate::augment::AugmentSpec;
use crate::backend::BackendInfo;
use crate::data::{DataView, DatasetSummary, Output};
use crate::metrics::Evaluation;
use crate::train::checkpoint::CheckpointSummary;
use crate::train::classify::{CamChoice, Classification};
use crate::train::config::TrainConfig;
use crate::train::memory::BatchCap;
use crate::train::smoke_step::StepReport;
use crate::train::trainer::{EpochRecord, StepReport as TrainStep};

/// Which network to train.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModelChoice {
    /// torchvision's DenseNet121 (7.0 M parameters with 14 outputs).
    DenseNet121,
    /// A small DenseNet (growth 8, blocks 2-2-2): trains in seconds on a CPU, for a first try.
    Small,
}

/// What the model learns to predict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutputsChoice {
    /// The findings chosen in the Data panel (the article's task).
    Findings,
    /// One output: abnormal vs normal (all a folder-per-class set can teach).
    Abnormal,
}

/// A training run the page asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainRequest {
    /// Settings of the run.
    pub config: TrainConfig,
    /// The network.
    pub model: ModelChoice,
    /// What it predicts.
    pub outputs: OutputsChoice,
    /// The augmentation of training images. Sent as JSON text: the spec reads Keras' "a number
    /// or a pair" forms with untagged enums, which the worker channel's bincode cannot decode.
    #[serde(with = "json_text")]
    pub augmentation: AugmentSpec,
    /// Initial weights: a pretrained DenseNet file's bytes (`.pth`, `.pt`, `.safetensors`; see
    /// [`crate::model::pretrained`]).
    pub weights: Option<Vec<u8>>,
}

/// What a started run will do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingStarted {
    /// The model's outputs, in order.
    pub outputs: Vec<Output>,
    /// Images on the training side.
    pub train_images: usize,
    /// Images on the validation side.
    pub validation_images: usize,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// Epochs asked for.
    pub epochs: usize,
    /// Trainable parameters.
    pub parameters: usize,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TrainingEnd {
    /// All epochs done, or stopped early; the best epoch's weights are kept.
    Finished {
        /// The epoch kept.
        best_epoch: Option<usize>,
        /// Stopped by early stopping.
        early_stopped: bool,
    },
    /// The user cancelled; the best epoch so far is kept, if there was one.
    Cancelled {
        /// The epoch kept.
        best_epoch: Option<usize>,
    },
    /// It could not start or go on; for the user.
    Failed(String),
}

/// The evaluation of the kept model on a side of the split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvaluationReport {
    /// Which side (`test`).
    pub split: String,
    /// The results per output.
    pub evaluation: Evaluation,
}

/// What the page asks of the worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Which backend runs? Answered with [`Response::Backend`] once the device is ready.
    Backend,
    /// One Adam step of the tiny CNN; answered with [`Response::StepDone`].
    SmokeStep,
    /// A new data set: drops the loaded one and starts an ingest at `side`×`side`.
    /// Answered with [`Response::LoadProgress`].
    StartLoading {
        /// Working resolution.
        side: u32,
        /// Files that will come (for the progress bar).
        total: usize,
    },
    /// A batch of files, `(path, bytes)`; answered with [`Response::LoadProgress`] (not at all
    /// once loading was cancelled).
    LoadFiles {
        /// The files the page could read.
        files: Vec<(String, Vec<u8>)>,
        /// Files of the batch the browser could not read (reported by the page), counted as done.
        unreadable: usize,
    },
    /// All files sent: join labels, split; answered with [`Response::Dataset`].
    FinishLoading {
        /// How to split and label the loaded images.
        view: DataView,
    },
    /// Stop loading, keep what was decoded; answered with [`Response::Dataset`]. The worker
    /// notes it on arrival, so batches still queued are skipped.
    CancelLoading {
        /// How to split and label what was loaded.
        view: DataView,
    },
    /// Split or label the loaded set again (the images stay decoded); answered with
    /// [`Response::Dataset`].
    SetView(DataView),
    /// Train on the loaded set with its current view; answered with
    /// [`Response::TrainingStarted`], then a [`Response::TrainingStep`] per step, a
    /// [`Response::TrainingEpoch`] per epoch, and one [`Response::TrainingEnded`].
    StartTraining(Box<TrainRequest>),
    /// The article's experiment: train each augmentation level in turn from the same initial
    /// weights, split, seed and budget, and evaluate each on the test split. Answered like
    /// [`Request::StartTraining`] for each level (after a [`Response::ComparisonLevel`], and
    /// with a [`Response::ComparisonResult`] after it), then with [`Response::ComparisonEnded`].
    Compare {
        /// Everything but the augmentation.
        base: Box<TrainRequest>,
        /// `(name, spec)` per level.
        #[serde(with = "json_text")]
        levels: Vec<(String, AugmentSpec)>,
    },
    /// Go on with the interrupted run kept in the browser's storage, on the loaded data;
    /// answered like [`Request::StartTraining`] (its validated epochs first, as
    /// [`Response::TrainingEpoch`]s).
    ResumeCheckpoint,
    /// Delete the kept checkpoint; answered with [`Response::Checkpoint`]`(None)`.
    DiscardCheckpoint,
    /// Hold the run between two steps (noted on arrival, outside the queue).
    PauseTraining,
    /// Go on after a pause.
    ResumeTraining,
    /// Stop the run between two steps, keeping the best epoch so far.
    CancelTraining,
    /// Evaluate the kept model on the test split; answered with [`Response::Evaluation`].
    Evaluate,
    /// The kept model as a file; answered with [`Response::ModelFile`].
    SaveModel,
    /// A CXR Lab model file to classify with; answered with [`Response::ModelLoaded`].
    LoadModel(Vec<u8>),
    /// The augmentation preview of one loaded image; answered with [`Response::Preview`].
    Preview {
        /// The spec (as JSON text: see [`TrainRequest::augmentation`]).
        #[serde(with = "json_text")]
        spec: Box<AugmentSpec>,
        /// Which training image (an index into the training side; wraps around).
        image: usize,
        /// Seed of the draws.
        seed: u64,
    },
    /// Classify images `(name, bytes)` with the current model (the last trained or loaded);
    /// answered with [`Response::Classified`].
    Classify {
        /// The images.
        files: Vec<(String, Vec<u8>)>,
        /// Which output's Grad-CAM to draw.
        cam: CamChoice,
    },
}

/// How far loading has got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadProgress {
    /// Files taken (decoded, read as labels, or skipped with an issue).
    pub done: usize,
    /// Files announced.
    pub total: usize,
    /// Images decoded so far.
    pub images: usize,
    /// Issues so far.
    pub issues: usize,
    /// Milliseconds since loading started.
    pub elapsed_ms: f64,
}

impl LoadProgress {
    /// Decoded images per second so far.
    #[must_use]
    pub fn images_per_second(&self) -> f64 {
        if self.elapsed_ms > 0.0 {
            self.images as f64 * 1000.0 / self.elapsed_ms
        } else {
            0.0
        }
    }
}

/// What the worker tells the page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// The backend in use.
    Backend(BackendInfo),
    /// A training step finished.
    StepDone(StepReport),
    /// Loading progressed.
    LoadProgress(LoadProgress),
    /// The loaded data set, after [`Request::FinishLoading`], [`Request::CancelLoading`] or
    /// [`Request::SetView`].
    Dataset(Box<DatasetSummary>),
    /// The batch asked for needs a buffer larger than the GPU allows: the run trains with a
    /// smaller one (sent before [`Response::TrainingStarted`]).
    BatchCapped(BatchCap),
    /// A training run started.
    TrainingStarted(TrainingStarted),
    /// A training step finished.
    TrainingStep {
        /// The step.
        step: TrainStep,
        /// Milliseconds since the run started (pauses excluded).
        elapsed_ms: f64,
    },
    /// An epoch was validated.
    TrainingEpoch(EpochRecord),
    /// The run is over.
    TrainingEnded(TrainingEnd),
    /// The run is paused (`true`) or going again (`false`).
    TrainingPaused(bool),
    /// The evaluation of the kept model.
    Evaluation(Box<EvaluationReport>),
    /// The kept model as a CXR Lab model file.
    ModelFile {
        /// A file name to offer.
        name: String,
        /// The file.
        bytes: Vec<u8>,
    },
    /// A comparison moved on to level `index` (of `of`), named `name`.
    ComparisonLevel {
        /// From 0.
        index: usize,
        /// Levels in all.
        of: usize,
        /// The level's name.
        name: String,
    },
    /// A level of the comparison finished: its evaluation on the test split.
    ComparisonResult(String, Box<Evaluation>),
    /// The comparison is over (all levels done, cancelled, or failed).
    ComparisonEnded,
    /// A model is ready to classify with.
    ModelLoaded(ModelInfo),
    /// The preview grid: the original image, then augmented versions, as grey PNGs.
    Preview {
        /// The image's name.
        name: String,
        /// PNG files; the first is the original.
        images: Vec<Vec<u8>>,
    },
    /// Classification results, in the order of the files.
    Classified(Vec<Classification>),
    /// The checkpoint kept in the browser's storage, if any: sent after the backend and after
    /// each load, and whenever it changes.
    Checkpoint(Option<CheckpointOffer>),
    /// A checkpoint was written after an epoch.
    CheckpointSaved {
        /// Epochs it holds.
        epochs_done: usize,
        /// Its size.
        bytes: usize,
        /// Milliseconds to take it and write it.
        write_ms: f64,
    },
    /// A request failed; the text is for the user.
    Failed(String),
}

/// An interrupted run the page can offer to resume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointOffer {
    /// What it is.
    pub summary: CheckpointSummary,
    /// Why it cannot be resumed now (no data, other data), for the user; `None` when it can.
    pub blocker: Option<String>,
}

/// The model classification uses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Where it comes from (`trained in this tab`, a file name).
    pub source: String,
    /// Its outputs, in order.
    pub outputs: Vec<Output>,
    /// Its input side.
    pub side: u32,
}

/// (De)serialises a value as a JSON string, for types bincode cannot carry (untagged enums).
mod json_text {
    use serde::de::{DeserializeOwned, Error as _};
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        serde_json::to_string(value)
            .map_err(S::Error::custom)?
            .serialize(s)
    }

    pub fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(
        d: D,
    ) -> Result<T, D::Error> {
        let text = String::deserialize(d)?;
        serde_json::from_str(&text).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Finding;
    use crate::metrics::evaluate;

    /// gloo-worker's codec: bincode 1, which cannot decode what needs `deserialize_any`.
    fn round_trip<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
        value: &T,
    ) {
        let bytes = bincode::serialize(value).expect("encodes");
        let back: T = bincode::deserialize(&bytes).expect("decodes");
        assert_eq!(&back, value);
    }

    #[test]
    fn every_message_with_nested_types_crosses_the_worker_channel() {
        for augmentation in [
            AugmentSpec::none(),
            AugmentSpec::basic(),
            AugmentSpec::complex(),
        ] {
            round_trip(&Request::StartTraining(Box::new(TrainRequest {
                config: TrainConfig::default(),
                model: ModelChoice::Small,
                outputs: OutputsChoice::Findings,
                augmentation,
                weights: Some(vec![1, 2, 3]),
            })));
        }
        round_trip(&Request::Preview {
            spec: Box::new(AugmentSpec::complex()),
            image: 3,
            seed: 4,
        });
        round_trip(&Request::Compare {
            base: Box::new(TrainRequest {
                config: TrainConfig::default(),
                model: ModelChoice::DenseNet121,
                outputs: OutputsChoice::Abnormal,
                augmentation: AugmentSpec::none(),
                weights: None,
            }),
            levels: vec![("complex".to_owned(), AugmentSpec::complex())],
        });
        round_trip(&Request::Classify {
            files: vec![("a.png".to_owned(), vec![0, 1])],
            cam: CamChoice::Output(2),
        });
        let outputs = Output::findings(&[Finding::Edema, Finding::Hernia]);
        let evaluation = evaluate(
            &outputs,
            &[0.1, 0.9, 0.8, 0.2],
            &[0.0, 1.0, 1.0, 1.0],
            None,
            Some(&crate::metrics::BootstrapConfig::default()),
        );
        round_trip(&Response::Evaluation(Box::new(EvaluationReport {
            split: "test".to_owned(),
            evaluation,
        })));
        round_trip(&Request::ResumeCheckpoint);
        round_trip(&Response::Backend(BackendInfo {
            kind: crate::backend::BackendKind::WebGpu,
            adapter: "google swiftshader".to_owned(),
            fallback_reason: None,
            limits: Some(crate::train::memory::BufferLimits {
                max_storage_buffer_binding_size: 1 << 30,
                max_buffer_size: 1 << 30,
            }),
        }));
        round_trip(&Response::Backend(BackendInfo::cpu(Some(
            "no adapter".to_owned(),
        ))));
        round_trip(&Response::BatchCapped(BatchCap {
            requested: 400,
            batch: 291,
            requested_bytes: 1_474_560_000,
            limit_bytes: 1 << 30,
        }));
        round_trip(&Response::Checkpoint(Some(CheckpointOffer {
            summary: CheckpointSummary {
                epochs_done: 1,
                epochs: 3,
                model: ModelChoice::Small,
                side: 64,
                images: 800,
                fingerprint: 7,
                best_auc: Some(0.6),
                saved_at_ms: 1.0e12,
            },
            blocker: Some("load the data".to_owned()),
        })));
        round_trip(&Response::ModelLoaded(ModelInfo {
            source: "x".to_owned(),
            outputs: vec![Output::Abnormal],
            side: 64,
        }));
        round_trip(&Response::Classified(vec![Classification {
            name: "a.png".to_owned(),
            probabilities: vec![0.5],
            cam_output: Some(0),
            overlay_png: Some(vec![1]),
            error: None,
        }]));
    }
}
