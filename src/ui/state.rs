//! The page's state, changed only through [`Action`]s (a reducer, as in yew's todomvc).

use std::rc::Rc;

use yew::Reducible;

use crate::backend::BackendInfo;
use crate::data::{DatasetSummary, IssueLine};
use crate::protocol::{LoadProgress, Response};
use crate::train::smoke_step::StepReport;
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
            Action::Worker(Response::LoadProgress(progress)) => next.progress = Some(progress),
            Action::Worker(Response::Dataset(summary)) => {
                next.loading = false;
                next.summary = Some(*summary);
            }
            Action::Worker(Response::Backend(info)) => next.backend = Some(info),
            Action::Worker(Response::StepDone(report)) => {
                next.step_running = false;
                next.steps.push(report);
            }
            Action::Worker(Response::Failed(message)) => {
                next.step_running = false;
                next.loading = false;
                next.error = Some(message);
            }
        }
        Rc::new(next)
    }
}
