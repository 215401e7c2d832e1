//! The Web Worker that owns the device and the models.
//!
//! The page never touches a tensor: it sends [`Request`]s and gets [`Response`]s. Requests are
//! queued and served one at a time by a single async task, so a long GPU job never overlaps
//! another and the model is never shared.
//!
//! The worker also owns the loaded data: the page sends files in batches
//! ([`Request::LoadFiles`]), the worker decodes them into an [`Ingest`] and, at the end, keeps
//! the [`Dataset`] and answers with a plain [`DatasetSummary`]. A Cancel is noted as soon as it
//! arrives (in [`Worker::received`], outside the queue), so batches still queued are skipped.

use std::cell::Cell;
use std::rc::Rc;

use futures::StreamExt as _;
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use gloo_worker::{HandlerId, Worker, WorkerScope};

use crate::backend::BackendInfo;
use crate::data::Output;
use crate::data::{DataView, Dataset, DatasetSummary, Ingest};
use crate::model::densenet::DenseNet;
use crate::model::pretrained::load_classifier;
use crate::protocol::{
    CheckpointOffer, LoadProgress, ModelInfo, Request, Response, TrainRequest, TrainingEnd,
};
use crate::train::checkpoint::Checkpoint;
use crate::train::classify::classify;
use crate::train::memory::cap_request;
use crate::train::preprocess::InputSpec;
use crate::train::session::Session;
use crate::train::smoke_step::SmokeTrainer;
use crate::train::trainer::Event;
use crate::web::gpu::select_device;
use crate::web::storage;

/// Augmented versions in the preview grid.
const PREVIEW_COUNT: usize = 12;

/// The checkpoint's file in the origin's private file system: one run at a time.
const CHECKPOINT_FILE: &str = "cxr-lab-checkpoint.bin";

/// Seed of the tiny CNN behind the page's training-step button.
const SMOKE_SEED: u64 = 42;

/// The compute worker: a queue in front of [`serve`].
pub struct ComputeWorker {
    requests: UnboundedSender<(HandlerId, Request)>,
    /// Set when a [`Request::CancelLoading`] arrives, cleared by the next
    /// [`Request::StartLoading`].
    cancel: Rc<Cell<bool>>,
    /// Pause and cancel of a training run, set on arrival: the queue is busy with the run.
    training: Rc<TrainingControl>,
}

/// Flags a running training loop reads between steps.
#[derive(Default)]
struct TrainingControl {
    paused: Cell<bool>,
    cancelled: Cell<bool>,
}

impl Worker for ComputeWorker {
    type Message = ();
    type Input = Request;
    type Output = Response;

    fn create(scope: &WorkerScope<Self>) -> Self {
        let (requests, queue) = unbounded();
        let cancel = Rc::new(Cell::new(false));
        let training = Rc::new(TrainingControl::default());
        wasm_bindgen_futures::spawn_local(serve(
            scope.clone(),
            queue,
            Rc::clone(&cancel),
            Rc::clone(&training),
        ));
        Self {
            requests,
            cancel,
            training,
        }
    }

    fn update(&mut self, _scope: &WorkerScope<Self>, _msg: Self::Message) {}

    fn received(&mut self, scope: &WorkerScope<Self>, request: Request, id: HandlerId) {
        match request {
            Request::CancelLoading { .. } => self.cancel.set(true),
            Request::PauseTraining => {
                self.training.paused.set(true);
                scope.respond(id, Response::TrainingPaused(true));
                return;
            }
            Request::ResumeTraining => {
                self.training.paused.set(false);
                scope.respond(id, Response::TrainingPaused(false));
                return;
            }
            Request::CancelTraining => {
                self.training.cancelled.set(true);
                self.training.paused.set(false);
                return;
            }
            _ => {}
        }
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
    cancel: Rc<Cell<bool>>,
    training: Rc<TrainingControl>,
) {
    let (device, backend) = select_device().await;
    let mut smoke: Option<SmokeTrainer> = None;
    let mut data = DataState::default();
    let mut session: Option<Session> = None;
    // The model classification uses: the last one trained or loaded.
    let mut current: Option<(DenseNet, Vec<Output>, InputSpec)> = None;
    while let Some((id, request)) = queue.next().await {
        let response = match request {
            Request::StartLoading { side, total } => {
                cancel.set(false);
                Some(data.start(side, total))
            }
            Request::LoadFiles { files, unreadable } => {
                if cancel.get() {
                    None
                } else {
                    let progress = data.add(&files, unreadable);
                    // Let a Cancel (and the page's other messages) in between batches.
                    next_tick().await;
                    progress
                }
            }
            Request::FinishLoading { view } | Request::CancelLoading { view } => {
                let cancelled = matches!(request, Request::CancelLoading { .. });
                if let Some(summary) = data.finish(view, cancelled) {
                    scope.respond(id, summary);
                    // Loaded: can the interrupted run (if any) go on on this data?
                    scope.respond(id, Response::Checkpoint(offer(&data).await));
                }
                None
            }
            Request::SetView(view) => data.set_view(view),
            Request::StartTraining(request) => {
                training.paused.set(false);
                training.cancelled.set(false);
                let respond = |r: Response| scope.respond(id, r);
                // A new run replaces the interrupted one (it writes its own checkpoint).
                if let Err(e) = storage::remove_file(CHECKPOINT_FILE).await {
                    respond(Response::Failed(format!("the old checkpoint stays: {e}")));
                }
                respond(Response::Checkpoint(None));
                session = train(
                    &data,
                    *request,
                    (&device, &backend),
                    &training,
                    respond,
                    true,
                )
                .await;
                keep_model(&session, &mut current, |r| scope.respond(id, r));
                None
            }
            Request::ResumeCheckpoint => {
                training.paused.set(false);
                training.cancelled.set(false);
                let respond = |r: Response| scope.respond(id, r);
                session = resume(&data, &device, &training, respond).await;
                keep_model(&session, &mut current, |r| scope.respond(id, r));
                None
            }
            Request::DiscardCheckpoint => Some(match storage::remove_file(CHECKPOINT_FILE).await {
                Ok(()) => Response::Checkpoint(None),
                Err(e) => Response::Failed(format!("the checkpoint could not be deleted: {e}")),
            }),
            Request::Compare { base, levels } => {
                training.paused.set(false);
                training.cancelled.set(false);
                let respond = |r: Response| scope.respond(id, r);
                let of = levels.len();
                for (index, (name, spec)) in levels.into_iter().enumerate() {
                    if training.cancelled.get() {
                        break;
                    }
                    respond(Response::ComparisonLevel {
                        index,
                        of,
                        name: name.clone(),
                    });
                    let mut request = (*base).clone();
                    // The epochs are the budget: every level gets all of them.
                    request.config.early_stopping = None;
                    if let Some(normalization) =
                        (crate::train::augmenter::SpecAugmenter { spec: spec.clone() })
                            .normalization()
                    {
                        request.config.input.normalization = normalization;
                    }
                    request.augmentation = spec;
                    let Some(done) = train(
                        &data,
                        request,
                        (&device, &backend),
                        &training,
                        respond,
                        false,
                    )
                    .await
                    else {
                        break;
                    };
                    if training.cancelled.get() {
                        break;
                    }
                    if let Some(dataset) = &data.dataset {
                        match done.evaluate(dataset).await {
                            Ok(report) => respond(Response::ComparisonResult(
                                name,
                                Box::new(report.evaluation),
                            )),
                            Err(e) => {
                                respond(Response::Failed(e));
                                break;
                            }
                        }
                    }
                    session = Some(done);
                }
                Some(Response::ComparisonEnded)
            }
            Request::LoadModel(bytes) => Some(match load_classifier(&bytes, &device) {
                Ok((model, meta)) => {
                    let info = ModelInfo {
                        source: meta.created_by.clone(),
                        outputs: meta.outputs.clone(),
                        side: meta.input.side,
                    };
                    current = Some((model, meta.outputs, meta.input));
                    Response::ModelLoaded(info)
                }
                Err(e) => Response::Failed(format!("the model file could not be loaded: {e}")),
            }),
            Request::Preview { spec, image, seed } => Some(match &data.dataset {
                Some(dataset) => {
                    // Training images first (what augmentation is for), else any image.
                    let labelled: Vec<usize> = dataset.labelled().map(|(i, _)| i).collect();
                    let pool = if labelled.is_empty() {
                        (0..dataset.store.len()).collect()
                    } else {
                        labelled
                    };
                    match pool
                        .get(image % pool.len().max(1))
                        .and_then(|i| Some((dataset.store.name(*i)?, dataset.store.get(*i)?)))
                    {
                        Some((name, pixels)) => Response::Preview {
                            name: name.to_owned(),
                            images: crate::augment::preview::preview_pngs(
                                &spec,
                                pixels,
                                dataset.store.side() as usize,
                                PREVIEW_COUNT,
                                seed,
                            ),
                        },
                        None => Response::Failed("no image to preview".to_owned()),
                    }
                }
                None => Response::Failed("load a data set to preview augmentation".to_owned()),
            }),
            Request::Classify { files, cam } => Some(match &current {
                Some((model, outputs, input)) => Response::Classified(
                    classify(model, outputs, input, &files, cam, &device).await,
                ),
                None => Response::Failed("train or load a model first".to_owned()),
            }),
            // Handled on arrival, in `received`.
            Request::PauseTraining | Request::ResumeTraining | Request::CancelTraining => None,
            Request::Evaluate => Some(match (&session, &data.dataset) {
                (Some(session), Some(dataset)) => match session.evaluate(dataset).await {
                    Ok(report) => Response::Evaluation(Box::new(report)),
                    Err(e) => Response::Failed(e),
                },
                _ => Response::Failed("train a model first".to_owned()),
            }),
            Request::SaveModel => Some(match &session {
                Some(session) => match session.model_file().await {
                    Ok(bytes) => Response::ModelFile {
                        name: "cxr-lab-model.safetensors".to_owned(),
                        bytes,
                    },
                    Err(e) => Response::Failed(e),
                },
                None => Response::Failed("train a model first".to_owned()),
            }),
            Request::Backend => {
                scope.respond(id, Response::Backend(backend.clone()));
                Some(Response::Checkpoint(offer(&data).await))
            }
            Request::SmokeStep => {
                let trainer = smoke.get_or_insert_with(|| {
                    SmokeTrainer::new(&device.clone().autodiff(), SMOKE_SEED)
                });
                Some(match trainer.step().await {
                    Ok(report) => Response::StepDone(report),
                    Err(e) => Response::Failed(e.to_string()),
                })
            }
        };
        if let Some(response) = response {
            scope.respond(id, response);
        }
    }
}

/// After a run: its kept model becomes the one classification uses.
fn keep_model(
    session: &Option<Session>,
    current: &mut Option<(DenseNet, Vec<Output>, InputSpec)>,
    respond: impl Fn(Response),
) {
    if let Some(session) = session
        && let Some(model) = session.kept_model()
    {
        *current = Some((model, session.outputs().to_vec(), session.input()));
        respond(Response::ModelLoaded(ModelInfo {
            source: "trained in this tab".to_owned(),
            outputs: session.outputs().to_vec(),
            side: session.input().side,
        }));
    }
}

/// Starts a training session and runs it to its end (see [`run`]); `checkpoints` says whether
/// it keeps a checkpoint in the browser's storage (single runs do, comparison levels do not).
///
/// On a GPU, the batch is first lowered to the largest whose biggest buffer fits the adapter's
/// limits, and the page told why ([`Response::BatchCapped`]).
async fn train(
    data: &DataState,
    mut request: TrainRequest,
    (device, backend): (&burn::tensor::Device, &BackendInfo),
    control: &TrainingControl,
    respond: impl Fn(Response),
    checkpoints: bool,
) -> Option<Session> {
    let Some(dataset) = data.dataset.as_ref() else {
        respond(Response::TrainingEnded(TrainingEnd::Failed(
            "load a data set first".to_owned(),
        )));
        return None;
    };
    if let Some(cap) = backend
        .limits
        .and_then(|limits| cap_request(&mut request, &limits))
    {
        respond(Response::BatchCapped(cap));
    }
    let (session, started) =
        match Session::start(dataset, &data.view, request, &device.clone().autodiff()) {
            Ok(started) => started,
            Err(e) => {
                respond(Response::TrainingEnded(TrainingEnd::Failed(e)));
                return None;
            }
        };
    respond(Response::TrainingStarted(started));
    run(dataset, session, control, respond, checkpoints).await
}

/// Resumes the run kept in the browser's storage on the loaded data and runs it to its end.
async fn resume(
    data: &DataState,
    device: &burn::tensor::Device,
    control: &TrainingControl,
    respond: impl Fn(Response),
) -> Option<Session> {
    let fail = |why: String| respond(Response::TrainingEnded(TrainingEnd::Failed(why)));
    let Some(dataset) = data.dataset.as_ref() else {
        fail("load the data the interrupted run trained on first".to_owned());
        return None;
    };
    let checkpoint = match read_checkpoint().await {
        Ok(Some(checkpoint)) => checkpoint,
        Ok(None) => {
            fail("there is no checkpoint to resume".to_owned());
            return None;
        }
        Err(e) => {
            fail(e);
            return None;
        }
    };
    let (session, started) = match Session::resume(dataset, &checkpoint, &device.clone().autodiff())
    {
        Ok(resumed) => resumed,
        Err(e) => {
            fail(e);
            // Still there: offer it again (with why it cannot resume).
            respond(Response::Checkpoint(offer_for(Some(dataset)).await));
            return None;
        }
    };
    respond(Response::TrainingStarted(started));
    // The curves start with the epochs the interrupted run validated.
    for record in session.history() {
        respond(Response::TrainingEpoch(record.clone()));
    }
    run(dataset, session, control, respond, true).await
}

/// Runs a session to its end, answering each step; returns it (for evaluation and saving).
///
/// With `checkpoints`, each epoch's end writes a checkpoint to the browser's storage, and the
/// run's end (finished or cancelled: the user is done with it) deletes it; a failure (the GPU
/// lost, out of memory) keeps it and offers it to resume.
async fn run(
    dataset: &Dataset,
    mut session: Session,
    control: &TrainingControl,
    respond: impl Fn(Response),
    checkpoints: bool,
) -> Option<Session> {
    let mut elapsed_ms = 0.0;
    loop {
        // Let Pause and Cancel in (a CPU step never yields by itself).
        next_tick().await;
        while control.paused.get() && !control.cancelled.get() {
            sleep_ms(200).await;
        }
        if control.cancelled.get() {
            if checkpoints {
                discard_checkpoint(&respond).await;
            }
            respond(Response::TrainingEnded(TrainingEnd::Cancelled {
                best_epoch: session.best_epoch(),
            }));
            return Some(session);
        }
        let started_ms = js_sys::Date::now();
        let event = session.step(dataset).await;
        elapsed_ms += js_sys::Date::now() - started_ms;
        match event {
            Ok(Event::Step(step)) => respond(Response::TrainingStep { step, elapsed_ms }),
            Ok(Event::Epoch(record)) => {
                respond(Response::TrainingEpoch(record));
                if checkpoints && !session.is_finished() {
                    match write_checkpoint(&session).await {
                        Ok(saved) => respond(saved),
                        Err(e) => respond(Response::Failed(format!(
                            "the checkpoint could not be written (training goes on): {e}"
                        ))),
                    }
                }
            }
            Ok(Event::Finished(finish)) => {
                if checkpoints {
                    discard_checkpoint(&respond).await;
                }
                respond(Response::TrainingEnded(TrainingEnd::Finished {
                    best_epoch: session.best_epoch(),
                    early_stopped: finish == crate::train::trainer::Finish::EarlyStopped,
                }));
                return Some(session);
            }
            Err(e) => {
                let why = e.to_string();
                let lost = device_lost(&why);
                respond(Response::TrainingEnded(TrainingEnd::Failed(if lost {
                    format!(
                        "the GPU device was lost ({why}); the last epoch's checkpoint is kept: \
                         reload the page to resume it on a new device"
                    )
                } else {
                    why
                })));
                if checkpoints {
                    // Offer the last epoch's checkpoint; a lost device is lost for this page,
                    // so that resume waits for a reload.
                    let offer = offer_for(Some(dataset)).await.map(|mut offer| {
                        if lost {
                            offer.blocker = Some(
                                "reload the page (the GPU device was lost; a reload gets a new \
                                 one) and load the same data"
                                    .to_owned(),
                            );
                        }
                        offer
                    });
                    respond(Response::Checkpoint(offer));
                }
                return Some(session);
            }
        }
    }
}

/// Whether a device error means the GPU device is gone: cubecl marks a wgpu device "poisoned"
/// once wgpu's device-lost callback fires (a driver reset, a timeout, the GPU removed), and
/// every later read fails with that error.
fn device_lost(why: &str) -> bool {
    let why = why.to_ascii_lowercase();
    why.contains("poison") || why.contains("device was lost") || why.contains("device lost")
}

/// Takes the session's checkpoint and writes it to the browser's storage.
async fn write_checkpoint(session: &Session) -> Result<Response, String> {
    let started_ms = js_sys::Date::now();
    let mut checkpoint = session.checkpoint().await?;
    checkpoint.summary.saved_at_ms = started_ms;
    let bytes = checkpoint.to_bytes()?;
    storage::write_file(CHECKPOINT_FILE, &bytes).await?;
    Ok(Response::CheckpointSaved {
        epochs_done: checkpoint.summary.epochs_done,
        bytes: bytes.len(),
        write_ms: js_sys::Date::now() - started_ms,
    })
}

async fn discard_checkpoint(respond: &impl Fn(Response)) {
    match storage::remove_file(CHECKPOINT_FILE).await {
        Ok(()) => respond(Response::Checkpoint(None)),
        Err(e) => respond(Response::Failed(format!(
            "the checkpoint could not be deleted: {e}"
        ))),
    }
}

/// The checkpoint in the browser's storage, if there is one.
async fn read_checkpoint() -> Result<Option<Checkpoint>, String> {
    let Some(bytes) = storage::read_file(CHECKPOINT_FILE).await? else {
        return Ok(None);
    };
    Checkpoint::from_bytes(&bytes)
        .map(Some)
        .map_err(|e| format!("the checkpoint cannot be resumed: {e}"))
}

/// What the page can offer about the kept checkpoint, given the loaded data.
async fn offer(data: &DataState) -> Option<CheckpointOffer> {
    offer_for(data.dataset.as_ref()).await
}

async fn offer_for(dataset: Option<&Dataset>) -> Option<CheckpointOffer> {
    // A checkpoint this build cannot read is not offered (and stays until a new run replaces it).
    let checkpoint = read_checkpoint().await.ok()??;
    let blocker = match dataset {
        None => Some(format!(
            "load the data it trained on ({} labelled images) to resume",
            checkpoint.summary.images
        )),
        Some(dataset) => Session::check_fits(dataset, &checkpoint).err(),
    };
    Some(CheckpointOffer {
        summary: checkpoint.summary,
        blocker,
    })
}

/// Resolves after `ms` milliseconds (`setTimeout` of the worker's global scope).
async fn sleep_ms(ms: i32) {
    use js_sys::{Function, Promise, Reflect};
    use wasm_bindgen::{JsCast as _, JsValue};
    let promise = Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        let set_timeout = Reflect::get(&global, &"setTimeout".into())
            .ok()
            .and_then(|f| f.dyn_into::<Function>().ok());
        let scheduled = set_timeout
            .and_then(|f| f.call2(&global, &resolve, &JsValue::from(ms)).ok())
            .is_some();
        if !scheduled {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// The data the worker holds: an ingest in progress, or the loaded set.
#[derive(Default)]
struct DataState {
    loading: Option<Loading>,
    dataset: Option<Dataset>,
    cancelled: bool,
    view: DataView,
}

/// An ingest in progress.
struct Loading {
    ingest: Ingest,
    done: usize,
    total: usize,
    started_ms: f64,
}

impl Loading {
    fn progress(&self) -> LoadProgress {
        LoadProgress {
            done: self.done,
            total: self.total,
            images: self.ingest.store().len(),
            issues: self.ingest.issues().len(),
            elapsed_ms: js_sys::Date::now() - self.started_ms,
        }
    }
}

impl DataState {
    /// Drops the loaded set (its memory goes back before the new one fills) and starts anew.
    fn start(&mut self, side: u32, total: usize) -> Response {
        self.dataset = None;
        let mut ingest = Ingest::new(side);
        ingest.reserve(total);
        let loading = Loading {
            ingest,
            done: 0,
            total,
            started_ms: js_sys::Date::now(),
        };
        let progress = loading.progress();
        self.loading = Some(loading);
        Response::LoadProgress(progress)
    }

    fn add(&mut self, files: &[(String, Vec<u8>)], unreadable: usize) -> Option<Response> {
        let loading = self.loading.as_mut()?;
        for (path, bytes) in files {
            loading.ingest.add_file(path, bytes);
        }
        loading.done += files.len() + unreadable;
        Some(Response::LoadProgress(loading.progress()))
    }

    /// Ends the ingest (if one is running) and summarises the set.
    fn finish(&mut self, view: DataView, cancelled: bool) -> Option<Response> {
        let loading = self.loading.take()?;
        self.dataset = Some(loading.ingest.finish());
        self.cancelled = cancelled;
        self.set_view(view)
    }

    /// Applies the split and label choices (re-reading the labels only when CheXpert's
    /// uncertain policy changed) and summarises the set.
    fn set_view(&mut self, view: DataView) -> Option<Response> {
        self.view = view;
        let dataset = self.dataset.take()?.relabel(view.labels.uncertain);
        let summary =
            DatasetSummary::new(&dataset, &view.split, view.labels.findings, self.cancelled);
        self.dataset = Some(dataset);
        Some(Response::Dataset(Box::new(summary)))
    }
}

/// Resolves on the next turn of the event loop, so messages queued meanwhile are received.
///
/// A `MessageChannel` message rather than `setTimeout(0)`: browsers may clamp timers (to a
/// second in a background tab), which would cost that much per batch.
async fn next_tick() {
    use js_sys::{Array, Function, Promise, Reflect};
    use wasm_bindgen::{JsCast as _, JsValue};
    let promise = Promise::new(&mut |resolve, _| {
        let global = js_sys::global();
        let posted = Reflect::get(&global, &"MessageChannel".into())
            .ok()
            .and_then(|c| c.dyn_into::<Function>().ok())
            .and_then(|c| Reflect::construct(&c, &Array::new()).ok())
            .and_then(|channel| {
                let port1 = Reflect::get(&channel, &"port1".into()).ok()?;
                let port2 = Reflect::get(&channel, &"port2".into()).ok()?;
                Reflect::set(&port1, &"onmessage".into(), &resolve).ok()?;
                let post = Reflect::get(&port2, &"postMessage".into())
                    .ok()?
                    .dyn_into::<Function>()
                    .ok()?;
                post.call1(&port2, &JsValue::UNDEFINED).ok()
            });
        if posted.is_none() {
            let _ = resolve.call0(&JsValue::UNDEFINED);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
