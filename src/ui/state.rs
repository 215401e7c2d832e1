//! The page's state, changed only through [`Action`]s (a reducer, as in yew's todomvc).

use std::rc::Rc;

use yew::Reducible;

use crate::backend::BackendInfo;
use crate::protocol::Response;
use crate::train::smoke_step::StepReport;

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
}

/// What can happen to the state.
pub enum Action {
    /// The user asked for a training step.
    StepRequested,
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
            Action::Worker(Response::Backend(info)) => next.backend = Some(info),
            Action::Worker(Response::StepDone(report)) => {
                next.step_running = false;
                next.steps.push(report);
            }
            Action::Worker(Response::Failed(message)) => {
                next.step_running = false;
                next.error = Some(message);
            }
        }
        Rc::new(next)
    }
}
