//! The page's state, changed only through [`Action`]s (a reducer, as in yew's todomvc).

use std::rc::Rc;

use yew::Reducible;

use crate::augment::AugmentSpec;
use crate::backend::BackendInfo;
use crate::data::{DatasetSummary, IssueLine};
use crate::protocol::{
    CheckpointOffer, EvaluationReport, LoadProgress, ModelInfo, Response, TrainingEnd,
    TrainingStarted,
};
use crate::train::classify::Classification;
use crate::train::memory::BatchCap;
use crate::train::smoke_step::StepReport;
use crate::train::trainer::{EpochRecord, StepReport as TrainStep};

/// A training run as the page shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrainingView {
    /// Asked for, not started yet (the worker prepares the model).
    pub requested: bool,
    /// What the run does, once started.
    pub started: Option<TrainingStarted>,
    /// The latest step and the run's elapsed milliseconds then (pauses excluded).
    pub last: Option<(TrainStep, f64)>,
    /// Images trained on so far.
    pub images: usize,
    /// `(global step, mean loss since the previous point)`.
    pub losses: Vec<(usize, f32)>,
    /// Validated epochs.
    pub epochs: Vec<EpochRecord>,
    /// Paused by the user.
    pub paused: bool,
    /// How it ended, once it has.
    pub end: Option<TrainingEnd>,
    /// The batch the worker lowered to fit the GPU's buffer limits, if it did.
    pub batch_cap: Option<BatchCap>,
}

impl TrainingView {
    /// Running: asked for or started, not ended.
    #[must_use]
    pub fn running(&self) -> bool {
        (self.requested || self.started.is_some()) && self.end.is_none()
    }

    /// Images per second so far.
    #[must_use]
    pub fn images_per_second(&self) -> Option<f64> {
        let (_, ms) = self.last.as_ref()?;
        (*ms > 0.0).then(|| self.images as f64 * 1000.0 / ms)
    }

    /// Seconds left at the current rate, for all epochs.
    #[must_use]
    pub fn eta_seconds(&self) -> Option<f64> {
        let (step, ms) = self.last.as_ref()?;
        let left = step.total_steps.saturating_sub(step.global_step);
        (step.global_step > 0).then(|| ms / 1000.0 / step.global_step as f64 * left as f64)
    }
}
use crate::ui::data_panel::DataSettings;

/// Everything the page shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct State {
    /// The worker's backend, once it has picked one.
    pub backend: Option<BackendInfo>,
    /// Training steps done so far, oldest first.
    pub steps: Vec<StepReport>,
    /// A step is running in the worker.
    pub step_running: bool,
    /// The last error, for the user.
    pub error: Option<String>,
    /// Working resolution and split settings.
    pub data_settings: DataSettings,
    /// Files are being listed, read or decoded.
    pub loading: bool,
    /// The latest loading progress (kept after loading, for the rate).
    pub progress: Option<LoadProgress>,
    /// The loaded data set, as the worker summarised it.
    pub summary: Option<DatasetSummary>,
    /// Files the browser could not read, for "Issues with your data".
    pub read_failures: Vec<IssueLine>,
    /// The training run, once one was asked for.
    pub training: Option<TrainingView>,
    /// The evaluation of the kept model on the test split.
    pub evaluation: Option<EvaluationReport>,
    /// An evaluation is running.
    pub evaluating: bool,
    /// The model classification uses.
    pub model: Option<ModelInfo>,
    /// The latest classification results.
    pub classified: Vec<Classification>,
    /// A classification is running.
    pub classifying: bool,
    /// The augmentation spec training uses.
    pub augment_spec: AugmentSpec,
    /// The preview grid: image name and PNGs (original first).
    pub preview: Option<(String, Vec<Vec<u8>>)>,
    /// Which image and draws the preview shows (bumped by "Another image").
    pub preview_seed: u64,
    /// The augmentation comparison, once asked for.
    pub comparison: Option<ComparisonView>,
    /// The interrupted run kept in the browser's storage, offered to resume.
    pub checkpoint: Option<CheckpointOffer>,
    /// The latest checkpoint written: `(epochs done, bytes, milliseconds)`.
    pub checkpoint_saved: Option<(usize, usize, f64)>,
}

/// An augmentation comparison as the page shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ComparisonView {
    /// Level names.
    pub levels: Vec<String>,
    /// The levels' specs, in order (to resume with the levels not done).
    pub specs: Vec<(String, crate::augment::AugmentSpec)>,
    /// The settings every level trains with.
    pub base: Option<Box<crate::protocol::TrainRequest>>,
    /// Levels are training now.
    pub running: bool,
    /// The level training now.
    pub current: Option<usize>,
    /// Finished levels.
    pub results: Vec<(String, crate::metrics::Evaluation)>,
}

/// What can happen to the state.
pub enum Action {
    /// The user asked for a training step.
    StepRequested,
    /// The user picked files (or the demo): a new load begins.
    LoadStarted,
    /// Loading could not begin (the demo manifest failed to load); for the user.
    LoadFailed(String),
    /// The browser could not read one file.
    ReadFailed(IssueLine),
    /// The data settings changed.
    DataSettings(DataSettings),
    /// The user started a training run.
    TrainingRequested,
    /// The user asked for the evaluation.
    EvaluationRequested,
    /// The user asked to classify images.
    ClassifyRequested,
    /// The augmentation spec changed.
    AugmentSpec(Box<AugmentSpec>),
    /// Another preview image.
    PreviewShuffled,
    /// The user started a comparison: the settings and the levels.
    ComparisonRequested(
        Box<crate::protocol::TrainRequest>,
        Vec<(String, crate::augment::AugmentSpec)>,
    ),
    /// The user resumed an unfinished comparison.
    ComparisonResumed,
    /// The user resumed the interrupted run from its checkpoint.
    CheckpointResumed,
    /// The worker answered.
    Worker(Response),
}

impl Reducible for State {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut next = (*self).clone();
        match action {
            Action::StepRequested => {
                next.step_running = true;
                next.error = None;
            }
            Action::LoadStarted => {
                next.loading = true;
                next.progress = None;
                next.summary = None;
                next.read_failures.clear();
                next.error = None;
            }
            Action::LoadFailed(message) => {
                next.loading = false;
                next.error = Some(message);
            }
            Action::ReadFailed(issue) => next.read_failures.push(issue),
            Action::DataSettings(settings) => next.data_settings = settings,
            Action::TrainingRequested => {
                next.training = Some(TrainingView {
                    requested: true,
                    ..TrainingView::default()
                });
                next.checkpoint_saved = None;
                next.evaluation = None;
                next.error = None;
            }
            Action::CheckpointResumed => {
                next.training = Some(TrainingView {
                    requested: true,
                    ..TrainingView::default()
                });
                next.checkpoint = None;
                next.checkpoint_saved = None;
                next.evaluation = None;
                next.error = None;
            }
            Action::EvaluationRequested => {
                next.evaluating = true;
                next.error = None;
            }
            Action::AugmentSpec(spec) => next.augment_spec = *spec,
            Action::PreviewShuffled => next.preview_seed += 1,
            Action::ComparisonRequested(base, specs) => {
                next.comparison = Some(ComparisonView {
                    levels: specs.iter().map(|(n, _)| n.clone()).collect(),
                    specs,
                    base: Some(base),
                    running: true,
                    current: None,
                    results: Vec::new(),
                });
                next.training = Some(TrainingView {
                    requested: true,
                    ..TrainingView::default()
                });
                next.evaluation = None;
                next.error = None;
            }
            Action::ComparisonResumed => {
                if let Some(c) = next.comparison.as_mut() {
                    c.running = true;
                }
                next.training = Some(TrainingView {
                    requested: true,
                    ..TrainingView::default()
                });
                next.error = None;
            }
            Action::Worker(Response::ComparisonLevel { name, .. }) => {
                if let Some(c) = next.comparison.as_mut() {
                    c.current = c.levels.iter().position(|l| *l == name);
                }
                next.training = Some(TrainingView {
                    requested: true,
                    ..TrainingView::default()
                });
            }
            Action::Worker(Response::ComparisonResult(name, evaluation)) => {
                next.comparison
                    .get_or_insert_with(ComparisonView::default)
                    .results
                    .push((name, *evaluation));
            }
            Action::Worker(Response::ComparisonEnded) => {
                let c = next.comparison.get_or_insert_with(ComparisonView::default);
                c.current = None;
                c.running = false;
            }
            Action::Worker(Response::Preview { name, images }) => {
                next.preview = Some((name, images));
            }
            Action::ClassifyRequested => {
                next.classifying = true;
                next.error = None;
            }
            Action::Worker(Response::ModelLoaded(info)) => next.model = Some(info),
            Action::Worker(Response::Classified(results)) => {
                next.classifying = false;
                next.classified = results;
            }
            Action::Worker(Response::BatchCapped(cap)) => {
                next.training
                    .get_or_insert_with(TrainingView::default)
                    .batch_cap = Some(cap);
            }
            Action::Worker(Response::TrainingStarted(started)) => {
                let view = next.training.get_or_insert_with(TrainingView::default);
                view.started = Some(started);
            }
            Action::Worker(Response::TrainingStep { step, elapsed_ms }) => {
                let view = next.training.get_or_insert_with(TrainingView::default);
                view.images += step.images;
                if let Some(loss) = step.loss {
                    view.losses.push((step.global_step, loss));
                }
                view.last = Some((step, elapsed_ms));
            }
            Action::Worker(Response::TrainingEpoch(record)) => {
                next.training
                    .get_or_insert_with(TrainingView::default)
                    .epochs
                    .push(record);
            }
            Action::Worker(Response::TrainingPaused(paused)) => {
                if let Some(view) = next.training.as_mut() {
                    view.paused = paused;
                }
            }
            Action::Worker(Response::TrainingEnded(end)) => {
                let view = next.training.get_or_insert_with(TrainingView::default);
                view.paused = false;
                view.end = Some(end);
            }
            Action::Worker(Response::Evaluation(report)) => {
                next.evaluating = false;
                next.evaluation = Some(*report);
            }
            // Handled where the answer arrives (a download), not kept in the state.
            Action::Worker(Response::ModelFile { .. }) => {}
            Action::Worker(Response::LoadProgress(progress)) => next.progress = Some(progress),
            Action::Worker(Response::Dataset(summary)) => {
                next.loading = false;
                next.summary = Some(*summary);
            }
            Action::Worker(Response::Backend(info)) => next.backend = Some(info),
            Action::Worker(Response::Checkpoint(offer)) => next.checkpoint = offer,
            Action::Worker(Response::CheckpointSaved {
                epochs_done,
                bytes,
                write_ms,
            }) => next.checkpoint_saved = Some((epochs_done, bytes, write_ms)),
            Action::Worker(Response::StepDone(report)) => {
                next.step_running = false;
                next.steps.push(report);
            }
            Action::Worker(Response::Failed(message)) => {
                next.step_running = false;
                next.loading = false;
                next.evaluating = false;
                next.classifying = false;
                next.error = Some(message);
            }
        }
        Rc::new(next)
    }
}
