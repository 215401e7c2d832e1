//! The training-step button and the losses it produced.

use yew::{Callback, Html, Properties, function_component, html};

use crate::train::smoke_step::StepReport;

/// Props of [`SmokePanel`].
#[derive(Properties, PartialEq)]
pub struct SmokePanelProps {
    /// Steps done so far.
    pub steps: Vec<StepReport>,
    /// A step is running.
    pub running: bool,
    /// The backend is ready, so a step can be asked for.
    pub ready: bool,
    /// Asks the worker for one more step.
    pub on_step: Callback<()>,
}

/// Runs one Adam step of a small CNN (conv, batch norm, linear) in the worker.
#[function_component(SmokePanel)]
pub fn smoke_panel(props: &SmokePanelProps) -> Html {
    let onclick = props.on_step.reform(|_| ());
    let label = if props.running {
        "Training…"
    } else {
        "Run a training step"
    };
    html! {
        <section id="smoke" class="panel">
            <h2>{ "Check the compute path" }</h2>
            <p>{ "One forward pass, backward pass and Adam step of a small CNN (convolution, batch \
                  norm, linear) on a fixed batch, in the worker. The first step on WebGPU \
                  compiles its shaders and takes longest." }</p>
            <button id="smoke-step" {onclick} disabled={props.running || !props.ready}>{ label }</button>
            if props.running {
                <progress id="smoke-progress" aria-label="training step running"></progress>
            }
            if !props.steps.is_empty() {
                <table id="smoke-losses">
                    <thead><tr><th>{ "step" }</th><th>{ "loss before" }</th><th>{ "loss after" }</th></tr></thead>
                    <tbody>
                        { for props.steps.iter().map(|s| html! {
                            <tr class="step">
                                <td>{ s.step }</td>
                                <td class="loss-before">{ format!("{:.5}", s.loss_before) }</td>
                                <td class="loss-after">{ format!("{:.5}", s.loss_after) }</td>
                            </tr>
                        }) }
                    </tbody>
                </table>
            }
        </section>
    }
}
