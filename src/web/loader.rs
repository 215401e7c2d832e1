//! The page's side of loading: reads [`PickedFile`]s in batches and sends them to the compute
//! worker, which decodes them.
//!
//! Batches of [`BATCH`] files keep the worker's queue short, so progress reports and a Cancel
//! interleave with decoding; the loader waits for the worker to acknowledge (its
//! `LoadProgress`) before reading more than [`IN_FLIGHT`] batches ahead, so a folder of
//! thousands of 1024² X-rays is never all in the tab's memory as raw bytes at once. A file the
//! browser cannot read never reaches the worker; it is reported through `on_failure`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use futures::StreamExt as _;
use futures::channel::mpsc::{UnboundedSender, unbounded};
use futures::future::join_all;
use gloo_worker::WorkerBridge;

use crate::data::{DataView, IssueLine};
use crate::protocol::Request;
use crate::web::files::PickedFile;
use crate::web::worker::ComputeWorker;

/// Files per `LoadFiles` message.
pub const BATCH: usize = 32;
/// Batches sent but not yet acknowledged by the worker, at most.
pub const IN_FLIGHT: usize = 2;

/// Shared between the loader, the Cancel button and the worker's answers.
#[derive(Debug, Default)]
pub struct LoadControl {
    cancelled: Cell<bool>,
    acks: RefCell<Option<UnboundedSender<usize>>>,
}

impl LoadControl {
    /// Stops the loader after the batch it is reading; the worker keeps what it decoded.
    pub fn cancel(&self) {
        self.cancelled.set(true);
        // Wakes a loader waiting for an acknowledgement.
        self.acks.borrow_mut().take();
    }

    /// The worker has consumed `done` files (from its `LoadProgress`).
    pub fn acknowledge(&self, done: usize) {
        if let Some(acks) = self.acks.borrow().as_ref() {
            // A closed channel means the loader has finished: nothing to wake.
            let _ = acks.unbounded_send(done);
        }
    }
}

/// Sends `files` to the worker: `StartLoading`, batches of `LoadFiles`, then `FinishLoading`
/// with `view` — or nothing more once [`LoadControl::cancel`] was called (the Cancel button
/// sends `CancelLoading` itself, at once).
pub async fn load(
    files: Vec<PickedFile>,
    side: u32,
    view: DataView,
    worker: Rc<WorkerBridge<ComputeWorker>>,
    control: Rc<LoadControl>,
    on_failure: impl Fn(IssueLine),
) {
    control.cancelled.set(false);
    let (acks, mut acked_rx) = unbounded();
    *control.acks.borrow_mut() = Some(acks);
    worker.send(Request::StartLoading {
        side,
        total: files.len(),
    });
    let mut sent = 0;
    let mut acked = 0;
    for chunk in files.chunks(BATCH) {
        if control.cancelled.get() {
            break;
        }
        let read = join_all(chunk.iter().map(PickedFile::read)).await;
        let mut batch = Vec::with_capacity(chunk.len());
        for (file, bytes) in chunk.iter().zip(read) {
            match bytes {
                Ok(bytes) => batch.push((file.path.clone(), bytes)),
                Err(text) => on_failure(IssueLine {
                    text,
                    path: Some(file.path.clone()),
                }),
            }
        }
        if control.cancelled.get() {
            break;
        }
        sent += chunk.len();
        let unreadable = chunk.len() - batch.len();
        worker.send(Request::LoadFiles {
            files: batch,
            unreadable,
        });
        while sent > acked + IN_FLIGHT * BATCH {
            match acked_rx.next().await {
                Some(done) => acked = done,
                None => break,
            }
        }
    }
    control.acks.borrow_mut().take();
    if !control.cancelled.get() {
        worker.send(Request::FinishLoading { view });
    }
}
