//! The label choices: what CheXpert's uncertain labels count as, and which findings to train
//! on. Thin: it shows [`LabelOptions`] and emits the changed value; the worker applies it to
//! the loaded set without reading the images again.

use web_sys::{Event, HtmlInputElement, HtmlSelectElement};
use yew::{Callback, Html, Properties, TargetCast as _, function_component, html};

use crate::data::{Finding, LabelOptions, UncertainPolicy};

/// The uncertain policies, their form value and their label (the CheXpert paper's names).
const POLICIES: [(UncertainPolicy, &str, &str); 3] = [
    (
        UncertainPolicy::Ignore,
        "ignore",
        "unknown, left out of the loss (U-Ignore)",
    ),
    (UncertainPolicy::Negative, "negative", "absent (U-Zeros)"),
    (UncertainPolicy::Positive, "positive", "present (U-Ones)"),
];

/// Props of [`LabelOptionsView`].
#[derive(Properties, PartialEq)]
pub struct LabelOptionsProps {
    /// The current choices.
    pub options: LabelOptions,
    /// The choices changed.
    pub on_change: Callback<LabelOptions>,
}

/// The controls.
#[function_component(LabelOptionsView)]
pub fn label_options_view(props: &LabelOptionsProps) -> Html {
    let options = props.options;
    let on_uncertain = {
        let on_change = props.on_change.clone();
        Callback::from(move |e: Event| {
            let select: HtmlSelectElement = e.target_unchecked_into();
            if let Some((policy, _, _)) = POLICIES.iter().find(|(_, v, _)| *v == select.value()) {
                on_change.emit(LabelOptions {
                    uncertain: *policy,
                    ..options
                });
            }
        })
    };
    let checkbox = |finding: Finding| {
        let on_change = props.on_change.clone();
        let onchange = Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            on_change.emit(LabelOptions {
                findings: options.findings.with(finding, input.checked()),
                ..options
            });
        });
        html! {
            <label class="finding">
                <input type="checkbox" data-finding={finding.name()}
                    checked={options.findings.contains(finding)} {onchange} />
                { finding.label() }
            </label>
        }
    };
    html! {
        <div id="label-options" class="settings">
            <label>{ "CheXpert uncertain labels (−1.0) count as " }
                <select id="uncertain-select" onchange={on_uncertain}>
                    { for POLICIES.iter().map(|(policy, value, label)| html! {
                        <option value={*value} selected={*policy == options.uncertain}>{ *label }</option>
                    }) }
                </select>
            </label>
            <fieldset id="findings">
                <legend>{ format!("Findings to train on ({} of {})", options.findings.len(), Finding::COUNT) }</legend>
                { for Finding::ALL.into_iter().map(checkbox) }
                if options.findings.is_empty() {
                    <p id="no-findings" class="error">{ "Choose at least one finding: there is nothing to train on." }</p>
                }
            </fieldset>
        </div>
    }
}
