//! The Web Worker that owns the device and the models.
//!
//! The page never touches a tensor: it sends [`Request`]s and gets [`Response`]s. Requests are
//! queued and served one at a time by a single async task, so a long GPU job never overlaps
//! another and the model is never shared.

use futures::StreamExt as _;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use gloo_worker::{HandlerId, Worker, WorkerScope};

use crate::protocol::{Request, Response};
use crate::train::smoke_step::SmokeTrainer;
use crate::web::gpu::select_device;

/// Seed of the tiny CNN behind the page's training-step button.
const SMOKE_SEED: u64 = 42;

/// The compute worker: a queue in front of [`serve`].
pub struct ComputeWorker {
    requests: UnboundedSender<(HandlerId, Request)>,
}

impl Worker for ComputeWorker {
    type Message = ();
    type Input = Request;
    type Output = Response;

    fn create(scope: &WorkerScope<Self>) -> Self {
        let (requests, queue) = unbounded();
        wasm_bindgen_futures::spawn_local(serve(scope.clone(), queue));
        Self { requests }
    }

    fn update(&mut self, _scope: &WorkerScope<Self>, _msg: Self::Message) {}

    fn received(&mut self, scope: &WorkerScope<Self>, request: Request, id: HandlerId) {
        if self.requests.unbounded_send((id, request)).is_err() {
            scope.respond(
                id,
                Response::Failed("the compute worker has stopped".into()),
            );
        }
    }
}

/// Picks the device once, then answers the queued requests in order.
async fn serve(
    scope: WorkerScope<ComputeWorker>,
    mut queue: UnboundedReceiver<(HandlerId, Request)>,
) {
    let (device, backend) = select_device().await;
    let mut smoke: Option<SmokeTrainer> = None;
    while let Some((id, request)) = queue.next().await {
        let response = match request {
            Request::Backend => Response::Backend(backend.clone()),
            Request::SmokeStep => {
                let trainer = smoke.get_or_insert_with(|| {
                    SmokeTrainer::new(&device.clone().autodiff(), SMOKE_SEED)
                });
                match trainer.step().await {
                    Ok(report) => Response::StepDone(report),
                    Err(e) => Response::Failed(e.to_string()),
                }
            }
        };
        scope.respond(id, response);
    }
}
