//! The "Data" panel: where the user drops or picks X-rays and labels (or takes the demo set),
//! watches them load, sets the working resolution and the split, and sees the split, the class
//! frequencies and the issues. Thin: it only turns DOM events into [`Pick`]s and settings for
//! the app, and shows what the worker summarised.

use wasm_bindgen::JsValue;
use web_sys::{DragEvent, Event, HtmlInputElement, HtmlSelectElement};
use yew::{
    Callback, Html, Properties, TargetCast as _, classes, function_component, html, use_state,
};

use crate::data::{DataView, DatasetSummary, IssueLine, LabelOptions, SplitConfig};
use crate::protocol::LoadProgress;
use crate::ui::frequency_chart::FrequencyChart;
use crate::ui::issues_list::IssuesList;
use crate::ui::label_options::LabelOptionsView;
use crate::ui::number_input::NumberInput;
use crate::ui::split_table::SplitTable;
use crate::web::files::{self, PickedFile};

/// Working resolutions offered (pixels per side); 224 is DenseNet121's ImageNet size.
pub const SIDES: [u32; 3] = [128, 224, 320];

/// What the user chose to load.
pub enum Pick {
    /// Entries of a drop, to be walked (see [`files::walk`]).
    Entries(Vec<JsValue>),
    /// Files from a picker.
    Files(Vec<PickedFile>),
    /// The built-in demo set.
    Demo,
}

/// The settings of a load and of the split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DataSettings {
    /// Working resolution: images are stored `side`×`side`.
    pub side: u32,
    /// Split fractions and seed.
    pub split: SplitConfig,
    /// Uncertain labels and the findings trained on.
    pub labels: LabelOptions,
}

impl DataSettings {
    /// The split and label choices, as the worker takes them.
    #[must_use]
    pub fn view(&self) -> DataView {
        DataView {
            split: self.split,
            labels: self.labels,
        }
    }
}

impl Default for DataSettings {
    fn default() -> Self {
        DataSettings {
            side: crate::data::DEFAULT_SIDE,
            split: SplitConfig::default(),
            labels: LabelOptions::default(),
        }
    }
}

/// Props of [`DataPanel`].
#[derive(Properties, PartialEq)]
pub struct DataPanelProps {
    /// The worker is up.
    pub ready: bool,
    /// Files are being read.
    pub loading: bool,
    /// The latest progress report (kept after loading, for the rate).
    pub progress: Option<LoadProgress>,
    /// The loaded set, once loading finished or was cancelled.
    pub summary: Option<DatasetSummary>,
    /// Files the browser could not read (they never reached the worker).
    pub read_failures: Vec<IssueLine>,
    /// Current settings.
    pub settings: DataSettings,
    /// The user picked something to load.
    pub on_pick: Callback<Pick>,
    /// Stop loading, keeping what was read.
    pub on_cancel: Callback<()>,
    /// A setting changed.
    pub on_settings: Callback<DataSettings>,
    /// Split the loaded set again with the current settings.
    pub on_resplit: Callback<()>,
}

/// The panel.
#[function_component(DataPanel)]
pub fn data_panel(props: &DataPanelProps) -> Html {
    let dragging = use_state(|| false);
    let busy = props.loading || !props.ready;

    let ondragover = {
        let dragging = dragging.clone();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            dragging.set(true);
        })
    };
    let ondragleave = {
        let dragging = dragging.clone();
        Callback::from(move |_: DragEvent| dragging.set(false))
    };
    let ondrop = {
        let dragging = dragging.clone();
        let on_pick = props.on_pick.clone();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            dragging.set(false);
            if busy {
                return;
            }
            // The entries must be taken now: the DataTransfer is emptied after the event.
            if let Some(data) = e.data_transfer() {
                on_pick.emit(Pick::Entries(files::drop_entries(&data)));
            }
        })
    };
    let on_input = {
        let on_pick = props.on_pick.clone();
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let picked = files::from_input(&input);
            input.set_value("");
            if !picked.is_empty() {
                on_pick.emit(Pick::Files(picked));
            }
        })
    };
    let on_demo = props.on_pick.reform(|_| Pick::Demo);
    let on_cancel = props.on_cancel.reform(|_| ());
    let on_resplit = props.on_resplit.reform(|_| ());

    let settings = props.settings;
    let on_side = {
        let on_settings = props.on_settings.clone();
        Callback::from(move |e: Event| {
            let select: HtmlSelectElement = e.target_unchecked_into();
            if let Ok(side) = select.value().parse() {
                on_settings.emit(DataSettings { side, ..settings });
            }
        })
    };
    let split_input = |id: &'static str, value: f64, set: fn(&mut SplitConfig, f64)| {
        let on_settings = props.on_settings.clone();
        let on_commit = Callback::from(move |text: String| {
            if let Ok(v) = text.parse::<f64>() {
                let mut next = settings;
                set(&mut next.split, v / 100.0);
                on_settings.emit(next);
            }
        });
        html! {
            <NumberInput {id} max="100" step="1" value={format!("{:.0}", value * 100.0)} {on_commit} />
        }
    };
    let on_seed = {
        let on_settings = props.on_settings.clone();
        Callback::from(move |text: String| {
            if let Ok(seed) = text.parse::<u64>() {
                let mut next = settings;
                next.split.seed = seed;
                on_settings.emit(next);
            }
        })
    };

    let on_labels = {
        let on_settings = props.on_settings.clone();
        Callback::from(move |labels: LabelOptions| {
            on_settings.emit(DataSettings { labels, ..settings });
        })
    };

    let mut issues = props.read_failures.clone();
    if let Some(summary) = &props.summary {
        issues.extend(summary.issues.iter().cloned());
    }
    let stale_split = props
        .summary
        .as_ref()
        .is_some_and(|s| s.split_config != settings.split);

    html! {
        <section id="data" class="panel">
            <h2>{ "Data" }</h2>
            <div id="drop-zone" class={classes!("drop-zone", (*dragging).then_some("dragging"))}
                {ondragover} {ondragleave} {ondrop}>
                <p>{ "Drop chest X-rays (PNG, JPEG, DICOM) and their label CSV here — files or whole folders. They are read in this tab only." }</p>
                <div class="pickers">
                    <label class="button">{ "Choose files" }
                        <input id="file-input" type="file" multiple=true onchange={on_input.clone()} disabled={busy} />
                    </label>
                    <label class="button">{ "Choose a folder" }
                        <input id="folder-input" type="file" webkitdirectory=true multiple=true onchange={on_input} disabled={busy} />
                    </label>
                    <button id="demo-button" onclick={on_demo} disabled={busy}>{ "Try the demo data" }</button>
                </div>
                <p class="hint">{ "Demo: 800 images of the NIH ChestX-ray14 set with their labels." }</p>
            </div>
            <div class="settings">
                <label>{ "Working resolution " }
                    <select id="side-select" onchange={on_side} disabled={busy}>
                        { for SIDES.iter().map(|s| html! {
                            <option value={s.to_string()} selected={*s == settings.side}>{ format!("{s}×{s}") }</option>
                        }) }
                    </select>
                </label>
                <label>{ "train % " }{ split_input("split-train", settings.split.train, |c, v| c.train = v) }</label>
                <label>{ "validation % " }{ split_input("split-validation", settings.split.validation, |c, v| c.validation = v) }</label>
                <label>{ "test % " }{ split_input("split-test", settings.split.test, |c, v| c.test = v) }</label>
                <label>{ "seed " }
                    <NumberInput id="split-seed" step="1" value={settings.split.seed.to_string()} on_commit={on_seed} />
                </label>
                if stale_split {
                    <button id="resplit" onclick={on_resplit} disabled={busy}>{ "Split again" }</button>
                }
            </div>
            <LabelOptionsView options={settings.labels} on_change={on_labels} />
            { progress_view(props.loading, props.progress.as_ref(), on_cancel) }
            if let Some(summary) = &props.summary {
                { summary_view(summary) }
            }
            if props.summary.is_some() || !issues.is_empty() {
                <IssuesList {issues} />
            }
        </section>
    }
}

/// The progress bar, count, rate and Cancel while loading; the final count and rate after.
fn progress_view(
    loading: bool,
    progress: Option<&LoadProgress>,
    on_cancel: Callback<yew::MouseEvent>,
) -> Html {
    let Some(p) = progress else {
        return if loading {
            html! { <p id="load-status">{ "Listing the files…" }</p> }
        } else {
            Html::default()
        };
    };
    let rate = p.images_per_second();
    let seconds = p.elapsed_ms / 1000.0;
    html! {
        <div id="load" class={classes!("load", loading.then_some("running"))}>
            if loading {
                <progress id="load-progress" max={p.total.max(1).to_string()} value={p.done.to_string()}></progress>
            }
            <p id="load-status">
                <span id="load-count" data-done={p.done.to_string()} data-total={p.total.to_string()}>
                    { format!("{} of {} files read, {} images decoded", p.done, p.total, p.images) }
                </span>
                { " · " }
                <span id="load-rate" data-rate={format!("{rate:.1}")}>{ format!("{rate:.0} images/s") }</span>
                { format!(" · {seconds:.1} s") }
            </p>
            if loading {
                <button id="load-cancel" class="secondary" onclick={on_cancel}>{ "Cancel (keep what was read)" }</button>
            }
        </div>
    }
}

/// Counts, the split and the class frequencies of a loaded set.
fn summary_view(summary: &DatasetSummary) -> Html {
    let labels = match (&summary.label_file, summary.label_format) {
        (Some(file), Some(format)) => format!("labels from {file} ({format})"),
        _ => "no labels".to_owned(),
    };
    html! {
        <div id="dataset">
            if summary.cancelled {
                <p id="load-cancelled" class="warn">{ "Loading was cancelled: what was read until then is kept." }</p>
            }
            <p id="data-summary" data-images={summary.images.to_string()} data-labelled={summary.labelled.to_string()}>
                { format!(
                    "{} images loaded ({} labelled) at {}×{}, {labels}; {:.1} MB in the worker.",
                    summary.images, summary.labelled, summary.side, summary.side,
                    summary.memory_bytes as f64 / 1e6
                ) }
            </p>
            { match &summary.split {
                Ok(view) => html! {
                    <>
                        <h3>{ "Split by patient" }</h3>
                        <SplitTable view={view.clone()} />
                        <h3>{ "Class frequencies" }</h3>
                        <FrequencyChart frequencies={view.frequencies.clone()}
                            findings={summary.label_options.findings} />
                    </>
                },
                Err(why) => html! { <p id="split-error" class="error">{ format!("No split: {why}") }</p> },
            } }
        </div>
    }
}
