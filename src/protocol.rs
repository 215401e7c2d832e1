//! The messages between the page and the compute worker: small plain data, never tensors.

use serde::{Deserialize, Serialize};

use crate::backend::BackendInfo;
use crate::train::smoke_step::StepReport;

/// What the page asks of the worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Which backend runs? Answered with [`Response::Backend`] once the device is ready.
    Backend,
    /// One Adam step of the tiny CNN; answered with [`Response::StepDone`].
    SmokeStep,
}

/// What the worker tells the page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// The backend in use.
    Backend(BackendInfo),
    /// A training step finished.
    StepDone(StepReport),
    /// A request failed; the text is for the user.
    Failed(String),
}
