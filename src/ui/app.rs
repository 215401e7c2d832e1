//! The root component: spawns the compute worker and routes its answers into the state.

use std::rc::Rc;

use gloo_worker::Spawnable as _;
use yew::{Callback, Html, function_component, html, use_memo, use_reducer};

use crate::protocol::Request;
use crate::ui::backend_badge::BackendBadge;
use crate::ui::smoke_panel::SmokePanel;
use crate::ui::state::{Action, State};
use crate::web::worker::ComputeWorker;

/// Path of the loader trunk writes for the worker (`data-loader-shim`): a same-origin script,
/// so the Content-Security-Policy needs no `blob:` worker source.
const WORKER_LOADER: &str = "./worker_loader.js";

/// The whole page.
#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(State::default);
    let worker = {
        let dispatcher = state.dispatcher();
        use_memo((), move |()| {
            let bridge = ComputeWorker::spawner()
                .callback(move |response| dispatcher.dispatch(Action::Worker(response)))
                .with_loader(true)
                .as_module(false)
                .spawn(WORKER_LOADER);
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
    html! {
        <main>
            <header>
                <h1>{ "CXR Lab" }</h1>
                <p class="tagline">{ "Chest X-ray classification that runs on your own GPU. Nothing you load leaves this page." }</p>
                <BackendBadge backend={state.backend.clone()} />
            </header>
            <SmokePanel steps={state.steps.clone()} running={state.step_running}
                ready={state.backend.is_some()} {on_step} />
            if let Some(error) = &state.error {
                <p id="error" class="error" role="alert">{ error }</p>
            }
        </main>
    }
}
