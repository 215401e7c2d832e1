//! The messages between the page and the compute worker: small plain data, never tensors.

use serde::{Deserialize, Serialize};

use crate::backend::BackendInfo;
use crate::data::{DataView, DatasetSummary};
use crate::train::smoke_step::StepReport;

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
    /// A request failed; the text is for the user.
    Failed(String),
}
