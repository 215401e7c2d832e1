//! The root component: spawns the compute worker, routes its answers into the state, and
//! starts loads (the loader runs as a task of the page, see `web::loader`).

use std::rc::Rc;

use gloo_worker::Spawnable as _;
use yew::{Callback, Html, function_component, html, use_memo, use_reducer};

use crate::data::DataView;
use crate::protocol::{Request, Response, TrainRequest};
use crate::ui::augment_panel::AugmentPanel;
use crate::ui::backend_badge::BackendBadge;
use crate::ui::classify_panel::ClassifyPanel;
use crate::ui::comparison_panel::ComparisonPanel;
use crate::ui::data_panel::{DataPanel, DataSettings, Pick};
use crate::ui::evaluation_panel::EvaluationPanel;
use crate::ui::smoke_panel::SmokePanel;
use crate::ui::state::{Action, State};
use crate::ui::train_panel::TrainPanel;
use crate::web::download::download;
use crate::web::files;
use crate::web::loader::{LoadControl, load};
use crate::web::simd::worker_loader;
use crate::web::worker::ComputeWorker;

/// The whole page.
#[function_component(App)]
pub fn app() -> Html {
    // The article's "basic" level until the user picks another.
    let state = use_reducer(|| State {
        augment_spec: crate::augment::AugmentSpec::basic(),
        ..State::default()
    });
    let control = use_memo((), |()| LoadControl::default());
    let worker = {
        let dispatcher = state.dispatcher();
        let control = Rc::clone(&control);
        use_memo((), move |()| {
            let bridge = ComputeWorker::spawner()
                .callback(move |response| {
                    if let Response::LoadProgress(progress) = &response {
                        control.acknowledge(progress.done);
                    }
                    // A model file goes straight to the user's disk; the state keeps no copy.
                    if let Response::ModelFile { name, bytes } = &response {
                        let saved = download(name, "application/octet-stream", bytes);
                        if let Err(why) = saved {
                            dispatcher.dispatch(Action::Worker(Response::Failed(why)));
                        }
                        return;
                    }
                    dispatcher.dispatch(Action::Worker(response));
                })
                .with_loader(true)
                .as_module(false)
                // The loader trunk writes for the worker (`data-loader-shim`): a same-origin
                // script, so the Content-Security-Policy needs no `blob:` worker source.
                .spawn(worker_loader());
            bridge.send(Request::Backend);
            bridge
        })
    };
    let on_step = {
        let worker = Rc::clone(&worker);
        let dispatcher = state.dispatcher();
        Callback::from(move |()| {
            dispatcher.dispatch(Action::StepRequested);
            worker.send(Request::SmokeStep);
        })
    };
    let on_pick = {
        let worker = Rc::clone(&worker);
        let control = Rc::clone(&control);
        let dispatcher = state.dispatcher();
        let settings = state.data_settings;
        Callback::from(move |pick: Pick| {
            dispatcher.dispatch(Action::LoadStarted);
            let worker = Rc::clone(&worker);
            let control = Rc::clone(&control);
            let dispatcher = dispatcher.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let picked = match pick {
                    Pick::Files(picked) => picked,
                    Pick::Entries(entries) => files::walk(entries).await,
                    Pick::Demo => match files::demo_files().await {
                        Ok(picked) => picked,
                        Err(e) => {
                            dispatcher.dispatch(Action::LoadFailed(format!(
                                "The demo data could not be loaded: {e}"
                            )));
                            return;
                        }
                    },
                };
                let failures = dispatcher.clone();
                load(
                    picked,
                    settings.side,
                    settings.view(),
                    worker,
                    control,
                    move |issue| {
                        failures.dispatch(Action::ReadFailed(issue));
                    },
                )
                .await;
            });
        })
    };
    let on_cancel = {
        let worker = Rc::clone(&worker);
        let control = Rc::clone(&control);
        let view = state.data_settings.view();
        Callback::from(move |()| {
            control.cancel();
            worker.send(Request::CancelLoading { view });
        })
    };
    let on_settings = {
        let dispatcher = state.dispatcher();
        let worker = Rc::clone(&worker);
        let before = state.data_settings;
        let loaded = state.summary.is_some() && !state.loading;
        Callback::from(move |settings: DataSettings| {
            dispatcher.dispatch(Action::DataSettings(settings));
            // Label choices apply at once (no decoding involved); a split waits for "Split
            // again", so that typing 70 → 75 does not re-split at every keystroke.
            if loaded && settings.labels != before.labels {
                worker.send(Request::SetView(DataView {
                    split: before.split,
                    labels: settings.labels,
                }));
            }
        })
    };
    let on_resplit = {
        let worker = Rc::clone(&worker);
        let view = state.data_settings.view();
        Callback::from(move |()| worker.send(Request::SetView(view)))
    };
    let on_train = {
        let worker = Rc::clone(&worker);
        let dispatcher = state.dispatcher();
        Callback::from(move |request: TrainRequest| {
            dispatcher.dispatch(Action::TrainingRequested);
            worker.send(Request::StartTraining(Box::new(request)));
        })
    };
    let on_compare = {
        let worker = Rc::clone(&worker);
        let dispatcher = state.dispatcher();
        let custom = state.augment_spec.clone();
        Callback::from(move |base: TrainRequest| {
            use crate::augment::AugmentSpec;
            let mut levels: Vec<(String, AugmentSpec)> = ["none", "basic", "complex"]
                .into_iter()
                .filter_map(|p| Some((p.to_owned(), AugmentSpec::preset(p)?)))
                .collect();
            if !levels.iter().any(|(_, spec)| *spec == custom) {
                levels.push(("custom".to_owned(), custom.clone()));
            }
            let base = Box::new(base);
            dispatcher.dispatch(Action::ComparisonRequested(base.clone(), levels.clone()));
            worker.send(Request::Compare { base, levels });
        })
    };
    let on_compare_resume = {
        let worker = Rc::clone(&worker);
        let dispatcher = state.dispatcher();
        let comparison = state.comparison.clone();
        Callback::from(move |()| {
            let Some(c) = &comparison else { return };
            let Some(base) = c.base.clone() else { return };
            let done: Vec<&String> = c.results.iter().map(|(n, _)| n).collect();
            let levels: Vec<_> = c
                .specs
                .iter()
                .filter(|(n, _)| !done.contains(&n))
                .cloned()
                .collect();
            dispatcher.dispatch(Action::ComparisonResumed);
            worker.send(Request::Compare { base, levels });
        })
    };
    let on_pause = {
        let worker = Rc::clone(&worker);
        Callback::from(move |pause: bool| {
            worker.send(if pause {
                Request::PauseTraining
            } else {
                Request::ResumeTraining
            });
        })
    };
    let on_train_cancel = {
        let worker = Rc::clone(&worker);
        Callback::from(move |()| worker.send(Request::CancelTraining))
    };
    let on_resume_checkpoint = {
        let worker = Rc::clone(&worker);
        let dispatcher = state.dispatcher();
        Callback::from(move |()| {
            dispatcher.dispatch(Action::CheckpointResumed);
            worker.send(Request::ResumeCheckpoint);
        })
    };
    let on_discard_checkpoint = {
        let worker = Rc::clone(&worker);
        Callback::from(move |()| worker.send(Request::DiscardCheckpoint))
    };
    let on_evaluate = {
        let worker = Rc::clone(&worker);
        let dispatcher = state.dispatcher();
        Callback::from(move |()| {
            dispatcher.dispatch(Action::EvaluationRequested);
            worker.send(Request::Evaluate);
        })
    };
    let on_save = {
        let worker = Rc::clone(&worker);
        Callback::from(move |()| worker.send(Request::SaveModel))
    };
    let on_error = {
        let dispatcher = state.dispatcher();
        Callback::from(move |why: String| {
            dispatcher.dispatch(Action::Worker(Response::Failed(why)))
        })
    };
    let on_load_model = {
        let worker = Rc::clone(&worker);
        Callback::from(move |bytes: Vec<u8>| worker.send(Request::LoadModel(bytes)))
    };
    let on_classify = {
        let worker = Rc::clone(&worker);
        let dispatcher = state.dispatcher();
        Callback::from(
            move |(files, cam): (
                crate::ui::classify_panel::ImageFiles,
                crate::train::classify::CamChoice,
            )| {
                dispatcher.dispatch(Action::ClassifyRequested);
                worker.send(Request::Classify {
                    files: files.to_vec(),
                    cam,
                });
            },
        )
    };
    let on_augment = {
        let worker = Rc::clone(&worker);
        let dispatcher = state.dispatcher();
        let seed = state.preview_seed;
        let has_data = state.summary.is_some();
        Callback::from(move |spec: crate::augment::AugmentSpec| {
            dispatcher.dispatch(Action::AugmentSpec(Box::new(spec.clone())));
            if has_data {
                worker.send(Request::Preview {
                    spec: Box::new(spec),
                    image: seed as usize,
                    seed,
                });
            }
        })
    };
    let on_shuffle = {
        let worker = Rc::clone(&worker);
        let dispatcher = state.dispatcher();
        let spec = state.augment_spec.clone();
        let seed = state.preview_seed + 1;
        Callback::from(move |()| {
            dispatcher.dispatch(Action::PreviewShuffled);
            worker.send(Request::Preview {
                spec: Box::new(spec.clone()),
                image: seed as usize,
                seed,
            });
        })
    };
    let data_ready = !state.loading
        && state
            .summary
            .as_ref()
            .is_some_and(|s| s.split_view().is_some());
    let stored_side = state.summary.as_ref().map_or(224, |s| s.side);
    html! {
        <main>
            <header>
                <h1>{ "CXR Lab" }</h1>
                <p class="tagline">{ "Chest X-ray classification that runs on your own GPU. Nothing you load leaves this page." }</p>
                <BackendBadge backend={state.backend.clone()} />
            </header>
            <DataPanel ready={state.backend.is_some()} loading={state.loading}
                progress={state.progress.clone()} summary={state.summary.clone()}
                read_failures={state.read_failures.clone()} settings={state.data_settings}
                {on_pick} {on_cancel} {on_settings} {on_resplit} />
            <AugmentPanel spec={state.augment_spec.clone()} preview={state.preview.clone()}
                ready={data_ready} on_change={on_augment} {on_shuffle} />
            <TrainPanel ready={data_ready && state.backend.is_some()} {stored_side}
                augmentation={state.augment_spec.clone()}
                training={state.training.clone()} evaluating={state.evaluating}
                checkpoint={state.checkpoint.clone()} checkpoint_saved={state.checkpoint_saved}
                {on_resume_checkpoint} {on_discard_checkpoint} backend={state.backend.clone()}
                on_start={on_train} {on_compare} {on_pause} on_cancel={on_train_cancel} {on_evaluate} {on_save} />
            if let Some(c) = &state.comparison {
                <ComparisonPanel levels={c.levels.clone()} current={c.current} running={c.running}
                    results={c.results.clone()} on_error={on_error.clone()}
                    on_resume={on_compare_resume} />
            }
            if let Some(report) = &state.evaluation {
                <EvaluationPanel report={report.clone()} on_error={on_error.clone()} />
            }
            <ClassifyPanel model={state.model.clone()} results={state.classified.clone()}
                running={state.classifying} {on_load_model} {on_classify} {on_error} />
            <SmokePanel steps={state.steps.clone()} running={state.step_running}
                ready={state.backend.is_some()} {on_step} />
            if let Some(error) = &state.error {
                <p id="error" class="error" role="alert">{ error }</p>
            }
        </main>
    }
}
