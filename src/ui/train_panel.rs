//! The "Train" panel: the run's settings, Start / Pause / Resume / Cancel, a progress bar with
//! step, epoch, images/s and ETA, the live loss and validation-AUC curves, and, once a model is
//! kept, "Evaluate on the test split" and "Download the model". Thin: it turns the form into a
//! [`TrainRequest`] and shows the [`TrainingView`] the worker's messages built.

use std::rc::Rc;

use js_sys::Uint8Array;
use wasm_bindgen_futures::JsFuture;
use web_sys::{DragEvent, Event, HtmlInputElement, HtmlSelectElement};
use yew::{Callback, Html, Properties, TargetCast as _, function_component, html, use_state};

use crate::augment::AugmentSpec;
use crate::backend::BackendInfo;
use crate::model::pretrained::Pretrained;
use crate::protocol::{CheckpointOffer, ModelChoice, OutputsChoice, TrainRequest, TrainingEnd};
use crate::train::config::TrainConfig;
use crate::train::memory::{cap_batch, request_architecture};
use crate::train::preprocess::{InputSpec, Normalization};
use crate::ui::checkpoint_banner::{CheckpointBanner, saved_line};
use crate::ui::line_chart::{LineChart, Series};
use crate::ui::number_input::NumberInput;
use crate::ui::state::TrainingView;

/// The form's values.
#[derive(Clone, Debug, PartialEq)]
struct Form {
    model: ModelChoice,
    outputs: OutputsChoice,
    side: u32,
    batch: usize,
    epochs: usize,
    learning_rate: f64,
    freeze: bool,
}

impl Default for Form {
    fn default() -> Self {
        Form {
            model: ModelChoice::Small,
            outputs: OutputsChoice::Findings,
            side: 128,
            batch: 16,
            epochs: 5,
            learning_rate: 1e-3,
            freeze: false,
        }
    }
}

/// Props of [`TrainPanel`].
#[derive(Properties, PartialEq)]
pub struct TrainPanelProps {
    /// A data set is loaded and split, and the worker is idle.
    pub ready: bool,
    /// The working resolution of the loaded images (the input side cannot exceed it).
    pub stored_side: u32,
    /// The augmentation (from the Augmentation panel).
    pub augmentation: AugmentSpec,
    /// The run, if one was asked for.
    pub training: Option<TrainingView>,
    /// An evaluation is running.
    pub evaluating: bool,
    /// Start a run.
    pub on_start: Callback<TrainRequest>,
    /// Compare the augmentation levels with these settings.
    pub on_compare: Callback<TrainRequest>,
    /// Pause (`true`) or resume (`false`).
    pub on_pause: Callback<bool>,
    /// Cancel the run.
    pub on_cancel: Callback<()>,
    /// Evaluate the kept model on the test split.
    pub on_evaluate: Callback<()>,
    /// Download the kept model.
    pub on_save: Callback<()>,
    /// An interrupted run kept in the browser's storage.
    pub checkpoint: Option<CheckpointOffer>,
    /// The latest checkpoint written by this run: `(epochs done, bytes, milliseconds)`.
    pub checkpoint_saved: Option<(usize, usize, f64)>,
    /// Resume the interrupted run.
    pub on_resume_checkpoint: Callback<()>,
    /// The backend in use: its path is shown while training, its buffer limits cap the batch.
    pub backend: Option<BackendInfo>,
    /// Delete its checkpoint.
    pub on_discard_checkpoint: Callback<()>,
}

/// A picked initial-weights file and what it was recognised as (or why it cannot be used).
#[derive(Clone, PartialEq)]
struct PickedWeights {
    name: String,
    bytes: Rc<Vec<u8>>,
    /// [`Pretrained::describe`], or the sentence saying why the file is refused.
    recognised: Result<String, String>,
}

/// The panel.
#[function_component(TrainPanel)]
pub fn train_panel(props: &TrainPanelProps) -> Html {
    let form = use_state(Form::default);
    let weights = use_state(|| None::<PickedWeights>);
    let running = props.training.as_ref().is_some_and(TrainingView::running);

    let select = |id: &'static str,
                  options: Vec<(&'static str, &'static str, bool)>,
                  set: fn(&mut Form, &str)| {
        let form = form.clone();
        let onchange = Callback::from(move |e: Event| {
            let select: HtmlSelectElement = e.target_unchecked_into();
            let mut next = (*form).clone();
            set(&mut next, &select.value());
            form.set(next);
        });
        html! {
            <select {id} {onchange} disabled={running}>
                { for options.into_iter().map(|(value, label, selected)| html! {
                    <option {value} {selected}>{ label }</option>
                }) }
            </select>
        }
    };
    let number = |id: &'static str, value: String, step: &'static str, set: fn(&mut Form, f64)| {
        let form = form.clone();
        let on_commit = Callback::from(move |text: String| {
            if let Ok(v) = text.parse::<f64>()
                && v > 0.0
            {
                let mut next = (*form).clone();
                set(&mut next, v);
                form.set(next);
            }
        });
        html! { <NumberInput {id} {value} {step} {on_commit} disabled={running} /> }
    };
    let f = (*form).clone();
    let sides: Vec<u32> = [64, 128, 224, 320]
        .into_iter()
        .filter(|s| *s <= props.stored_side.max(64))
        .collect();

    // Picked in the dialog or dropped on the button: the same reading and recognition.
    let pick_weights = {
        let weights = weights.clone();
        Callback::from(move |file: Option<web_sys::File>| {
            let Some(file) = file else {
                weights.set(None);
                return;
            };
            let weights = weights.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let recognised = match JsFuture::from(file.array_buffer()).await {
                    Ok(buffer) => Ok(Uint8Array::new(&buffer).to_vec()),
                    Err(_) => Err("the browser could not read the file".to_owned()),
                };
                let (bytes, recognised) = match recognised {
                    // Only the zip directory and the pickle (or the safetensors header) are
                    // read here; the tensors are converted in the worker.
                    Ok(bytes) => {
                        let recognised = Pretrained::read(&bytes).map(|w| w.describe());
                        (bytes, recognised)
                    }
                    Err(why) => (Vec::new(), Err(why)),
                };
                weights.set(Some(PickedWeights {
                    name: file.name(),
                    bytes: Rc::new(bytes),
                    recognised,
                }));
            });
        })
    };
    let on_weights = {
        let pick_weights = pick_weights.clone();
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            pick_weights.emit(input.files().and_then(|list| list.get(0)));
        })
    };
    let on_weights_drop = Callback::from(move |e: DragEvent| {
        e.prevent_default();
        // Not the Data panel's drop: these are weights, not X-rays.
        e.stop_propagation();
        if running {
            return;
        }
        let file = e
            .data_transfer()
            .and_then(|data| data.files())
            .and_then(|list| list.get(0));
        if file.is_some() {
            pick_weights.emit(file);
        }
    });
    let on_weights_dragover = Callback::from(|e: DragEvent| e.prevent_default());
    // A refused file is shown with its reason and not sent.
    let usable = weights
        .as_ref()
        .filter(|w| w.recognised.is_ok())
        .map(|w| w.bytes.clone());
    let make_request = {
        let usable = usable.clone();
        let f = f.clone();
        let augmentation = props.augmentation.clone();
        move || {
            let augmentation = augmentation.clone();
            // Normalisation follows the spec's samplewise flags (the article's "none" trains on
            // [0, 1] pixels, "basic" on samplewise-normalised ones).
            let normalization = crate::train::augmenter::SpecAugmenter {
                spec: augmentation.clone(),
            }
            .normalization()
            .unwrap_or(Normalization::Samplewise);
            let config = TrainConfig {
                input: InputSpec {
                    side: f.side,
                    channels: 1,
                    normalization,
                },
                batch_size: f.batch,
                epochs: f.epochs,
                learning_rate: f.learning_rate,
                freeze_backbone: f.freeze && usable.is_some(),
                ..TrainConfig::default()
            };
            TrainRequest {
                config,
                model: if usable.is_some() {
                    ModelChoice::DenseNet121
                } else {
                    f.model
                },
                outputs: f.outputs,
                augmentation,
                weights: usable.as_ref().map(|bytes| bytes.to_vec()),
            }
        }
    };
    let on_start = {
        let on_start = props.on_start.clone();
        let make_request = make_request.clone();
        Callback::from(move |_| on_start.emit(make_request()))
    };
    let on_compare = {
        let on_compare = props.on_compare.clone();
        Callback::from(move |_| on_compare.emit(make_request()))
    };

    html! {
        <section id="train" class="panel">
            <h2>{ "Train" }</h2>
            if let Some(offer) = props.checkpoint.clone().filter(|_| !running) {
                <CheckpointBanner {offer} idle={props.ready}
                    on_resume={props.on_resume_checkpoint.clone()}
                    on_discard={props.on_discard_checkpoint.clone()} />
            }
            <div class="settings">
                <label>{ "Model " }
                    { select("train-model", vec![
                        ("small", "small DenseNet (fast)", f.model == ModelChoice::Small),
                        ("densenet121", "DenseNet121", f.model == ModelChoice::DenseNet121),
                    ], |f, v| f.model = if v == "densenet121" { ModelChoice::DenseNet121 } else { ModelChoice::Small }) }
                </label>
                <label>{ "Predict " }
                    { select("train-outputs", vec![
                        ("findings", "the chosen findings", f.outputs == OutputsChoice::Findings),
                        ("abnormal", "abnormal vs normal", f.outputs == OutputsChoice::Abnormal),
                    ], |f, v| f.outputs = if v == "abnormal" { OutputsChoice::Abnormal } else { OutputsChoice::Findings }) }
                </label>
                <label>{ "Input " }
                    <select id="train-side" disabled={running} onchange={{
                        let form = form.clone();
                        Callback::from(move |e: Event| {
                            let select: HtmlSelectElement = e.target_unchecked_into();
                            if let Ok(side) = select.value().parse() {
                                form.set(Form { side, ..(*form).clone() });
                            }
                        })
                    }}>
                        { for sides.iter().map(|s| html! {
                            <option value={s.to_string()} selected={*s == f.side}>{ format!("{s}×{s}") }</option>
                        }) }
                    </select>
                </label>
                <label>{ "Batch " }{ number("train-batch", f.batch.to_string(), "1", |f, v| f.batch = v as usize) }</label>
                <label>{ "Epochs " }{ number("train-epochs", f.epochs.to_string(), "1", |f, v| f.epochs = v as usize) }</label>
                <label>{ "Learning rate " }{ number("train-lr", f.learning_rate.to_string(), "0.0001", |f, v| f.learning_rate = v) }</label>
                <label class="button" title="torchvision or torchxrayvision DenseNet weights, or a CXR Lab model file: pick or drop one here"
                    ondrop={on_weights_drop} ondragover={on_weights_dragover}>{ "Initial weights (.pth, .pt, .safetensors)" }
                    <input id="train-weights" type="file" accept=".pth,.pt,.safetensors" onchange={on_weights} disabled={running} />
                </label>
                if let Some(PickedWeights { name, recognised: Err(why), .. }) = &*weights {
                    <span id="train-weights-error" class="error">{ format!("{name}: {why}") }</span>
                }
                if let Some(PickedWeights { name, recognised: Ok(what), .. }) = &*weights {
                    <span id="train-weights-name">{ format!("{name}: {what}") }</span>
                    <label><input id="train-freeze" type="checkbox" checked={f.freeze} disabled={running}
                        onchange={{
                            let form = form.clone();
                            Callback::from(move |e: Event| {
                                let input: HtmlInputElement = e.target_unchecked_into();
                                form.set(Form { freeze: input.checked(), ..(*form).clone() });
                            })
                        }} />{ " train only the classifier" }</label>
                }
            </div>
            <div class="actions">
                <button id="train-start" onclick={on_start} disabled={!props.ready || running}>{ "Start training" }</button>
                <button id="compare-start" class="secondary" onclick={on_compare} disabled={!props.ready || running}
                    title="none, basic and complex (and the panel's spec if custom), one after another, from the same weights, split, seed and epochs">
                    { "Compare augmentation levels" }
                </button>
                if running {
                    if props.training.as_ref().is_some_and(|t| t.paused) {
                        <button id="train-resume" class="secondary" onclick={props.on_pause.reform(|_| false)}>{ "Resume" }</button>
                    } else {
                        <button id="train-pause" class="secondary" onclick={props.on_pause.reform(|_| true)}>{ "Pause" }</button>
                    }
                    <button id="train-cancel" class="secondary" onclick={props.on_cancel.reform(|_| ())}>{ "Cancel (keep the best epoch)" }</button>
                }
            </div>
            if !props.ready && !running {
                <p class="hint">{ "Load a data set first (the demo is enough)." }</p>
            }
            if !running {
                { planned_cap(props.backend.as_ref(), &f, weights.is_some()) }
            }
            if let Some(view) = &props.training {
                { progress(view, props.backend.as_ref()) }
                if view.end.is_none() {
                    { saved_line(props.checkpoint_saved) }
                }
                { curves(view) }
                { end(view, props) }
            }
        </section>
    }
}

/// Before Start: the batch the GPU's per-buffer limits allow, when the form asks for more.
fn planned_cap(backend: Option<&BackendInfo>, f: &Form, with_weights: bool) -> Html {
    let Some(limits) = backend.and_then(|b| b.limits) else {
        return Html::default();
    };
    let model = request_architecture(f.model, with_weights);
    let cap = cap_batch(&model, f.side as usize, f.batch, &limits);
    if !cap.capped() {
        return Html::default();
    }
    html! {
        <p id="train-batch-cap" class="hint" data-batch={cap.batch.to_string()}>{ cap.message() }</p>
    }
}

/// The lowered batch of a running run, as the worker reported it.
fn batch_capped(view: &TrainingView) -> Html {
    match &view.batch_cap {
        Some(cap) => html! {
            <p id="train-batch-capped" class="hint" data-batch={cap.batch.to_string()}>{ cap.message() }</p>
        },
        None => Html::default(),
    }
}

fn progress(view: &TrainingView, backend: Option<&BackendInfo>) -> Html {
    let Some(started) = &view.started else {
        return html! {
            <>
                { batch_capped(view) }
                <p id="train-status">{ "Preparing the model (the first WebGPU step compiles its shaders)…" }</p>
            </>
        };
    };
    let path = backend.map(BackendInfo::path).unwrap_or_default();
    let (step, epoch, total, global) = match &view.last {
        Some((s, _)) => (s.step, s.epoch, s.total_steps, s.global_step),
        // Before the first step: a resumed run starts after its validated epochs.
        None => (
            0,
            view.epochs.len() + 1,
            started.steps_per_epoch * started.epochs,
            started.steps_per_epoch * view.epochs.len(),
        ),
    };
    let rate = view.images_per_second().unwrap_or(0.0);
    // Images in the latest step: the batch (the last step of an epoch may be smaller).
    let batch = view.last.as_ref().map_or(0, |(s, _)| s.images);
    let eta = view
        .eta_seconds()
        .map_or_else(|| "–".to_owned(), |s| format!("{:.0} s", s.ceil()));
    html! {
        <div id="train-progress" class="load">
            { batch_capped(view) }
            <p>{ format!(
                "{} outputs, {} training / {} validation images, {} parameters",
                started.outputs.len(), started.train_images, started.validation_images,
                started.parameters
            ) }</p>
            <progress max={total.max(1).to_string()} value={global.to_string()}></progress>
            <p id="train-status" data-step={global.to_string()} data-total={total.to_string()}
                data-rate={format!("{rate:.2}")} data-path={path.clone()}
                data-batch={batch.to_string()}>
                { format!(
                    "epoch {epoch} of {}, step {step} of {} · {rate:.1} images/s on {path} · ETA {eta}{}",
                    started.epochs, started.steps_per_epoch,
                    if view.paused { " · paused" } else { "" }
                ) }
            </p>
        </div>
    }
}

fn curves(view: &TrainingView) -> Html {
    let loss = Series {
        name: "training loss".to_owned(),
        points: view
            .losses
            .iter()
            .map(|(x, y)| (*x as f64, f64::from(*y)))
            .collect(),
    };
    let steps = view
        .started
        .as_ref()
        .map_or(1, |s| s.steps_per_epoch.max(1));
    let validation_loss = Series {
        name: "validation loss".to_owned(),
        points: view
            .epochs
            .iter()
            .map(|e| ((e.epoch * steps) as f64, f64::from(e.validation_loss)))
            .collect(),
    };
    let auc = Series {
        name: "validation mean AUC".to_owned(),
        points: view
            .epochs
            .iter()
            .filter_map(|e| e.validation_auc.map(|a| (e.epoch as f64, a)))
            .collect(),
    };
    html! {
        <div class="curves">
            <LineChart id="loss-chart" label="training and validation loss" x_label="step"
                series={vec![loss, validation_loss]} />
            <LineChart id="auc-chart" label="validation mean AUC per epoch" x_label="epoch"
                series={vec![auc]} y_range={Some((0.0, 1.0))} />
        </div>
    }
}

fn end(view: &TrainingView, props: &TrainPanelProps) -> Html {
    let Some(end) = &view.end else {
        return Html::default();
    };
    let (text, kept) = match end {
        TrainingEnd::Finished {
            best_epoch,
            early_stopped,
        } => (
            format!(
                "Training {}; the weights of epoch {} are kept.",
                if *early_stopped {
                    "stopped early (no better validation AUC)"
                } else {
                    "finished"
                },
                best_epoch.map_or_else(|| "–".to_owned(), |e| e.to_string())
            ),
            best_epoch.is_some(),
        ),
        TrainingEnd::Cancelled { best_epoch } => (
            match best_epoch {
                Some(e) => format!("Cancelled; the weights of epoch {e} are kept."),
                None => "Cancelled before the first epoch ended; nothing is kept.".to_owned(),
            },
            best_epoch.is_some(),
        ),
        TrainingEnd::Failed(why) => (format!("Training failed: {why}"), false),
    };
    html! {
        <div id="train-end">
            <p id="train-result" class={if kept { "ok" } else { "error" }}>{ text }</p>
            if kept {
                <button id="evaluate" onclick={props.on_evaluate.reform(|_| ())} disabled={props.evaluating}>
                    { if props.evaluating { "Evaluating…" } else { "Evaluate on the test split" } }
                </button>
                <button id="save-model" class="secondary" onclick={props.on_save.reform(|_| ())}>{ "Download the model" }</button>
            }
        </div>
    }
}
