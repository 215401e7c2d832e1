//! The "Classify" panel: load a model file (or use the one just trained), drop or pick images,
//! and see per-output probabilities as sorted bars with a Grad-CAM heatmap over each image; a
//! CSV of all probabilities downloads. Thin: files go to the worker, results come back.

use std::rc::Rc;

use js_sys::Uint8Array;
use wasm_bindgen_futures::JsFuture;
use web_sys::{DragEvent, Event, HtmlInputElement, HtmlSelectElement};
use yew::{Callback, Html, Properties, TargetCast as _, function_component, html, use_state};

use crate::protocol::ModelInfo;
use crate::train::classify::{CamChoice, Classification};
use crate::ui::data_url::png_data_url;
use crate::web::download::download;
use crate::web::files;

/// Images read in the page, `(name, bytes)`, shared with the worker request without copying.
pub type ImageFiles = Rc<Vec<(String, Vec<u8>)>>;

/// Props of [`ClassifyPanel`].
#[derive(Properties, PartialEq)]
pub struct ClassifyPanelProps {
    /// The model in use, if any.
    pub model: Option<ModelInfo>,
    /// Results of the last classification.
    pub results: Vec<Classification>,
    /// A classification is running.
    pub running: bool,
    /// Load a model file.
    pub on_load_model: Callback<Vec<u8>>,
    /// Classify these images with this heatmap choice.
    pub on_classify: Callback<(ImageFiles, CamChoice)>,
    /// A problem for the user.
    pub on_error: Callback<String>,
}

/// The panel.
#[function_component(ClassifyPanel)]
pub fn classify_panel(props: &ClassifyPanelProps) -> Html {
    let images = use_state(|| Rc::new(Vec::<(String, Vec<u8>)>::new()));
    let cam = use_state(|| CamChoice::Top);

    let on_model = {
        let on_load = props.on_load_model.clone();
        let on_error = props.on_error.clone();
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let Some(file) = input.files().and_then(|l| l.get(0)) else {
                return;
            };
            let on_load = on_load.clone();
            let on_error = on_error.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match JsFuture::from(file.array_buffer()).await {
                    Ok(buffer) => on_load.emit(Uint8Array::new(&buffer).to_vec()),
                    Err(_) => {
                        on_error.emit(format!("{}: the browser could not read it", file.name()))
                    }
                }
            });
        })
    };
    // Dropped files and folders go the same way as picked ones.
    let classify_picked = {
        let images = images.clone();
        let cam = cam.clone();
        let on_classify = props.on_classify.clone();
        let on_error = props.on_error.clone();
        move |picked: Vec<files::PickedFile>| {
            let images = images.clone();
            let on_classify = on_classify.clone();
            let on_error = on_error.clone();
            let choice = *cam;
            async move {
                let mut read = Vec::new();
                for file in picked {
                    match file.read().await {
                        Ok(bytes) => read.push((file.path.clone(), bytes)),
                        Err(why) => on_error.emit(why),
                    }
                }
                let read = Rc::new(read);
                images.set(Rc::clone(&read));
                on_classify.emit((read, choice));
            }
        }
    };
    let on_images = {
        let classify_picked = classify_picked.clone();
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let picked = files::from_input(&input);
            input.set_value("");
            wasm_bindgen_futures::spawn_local(classify_picked(picked));
        })
    };
    let ondrop = {
        let ready = props.model.is_some() && !props.running;
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            if !ready {
                return;
            }
            // The entries must be taken during the event (see `files::drop_entries`).
            let Some(data) = e.data_transfer() else {
                return;
            };
            let entries = files::drop_entries(&data);
            let classify_picked = classify_picked.clone();
            wasm_bindgen_futures::spawn_local(async move {
                classify_picked(files::walk(entries).await).await;
            });
        })
    };
    let ondragover = Callback::from(|e: DragEvent| e.prevent_default());
    let on_cam = {
        let cam = cam.clone();
        let images = images.clone();
        let on_classify = props.on_classify.clone();
        Callback::from(move |e: Event| {
            let select: HtmlSelectElement = e.target_unchecked_into();
            let choice = match select.value().parse::<usize>() {
                Ok(i) => CamChoice::Output(i),
                Err(_) => CamChoice::Top,
            };
            cam.set(choice);
            if !images.is_empty() {
                on_classify.emit((Rc::clone(&images), choice));
            }
        })
    };
    let on_csv = {
        let results = props.results.clone();
        let model = props.model.clone();
        let on_error = props.on_error.clone();
        Callback::from(move |_| {
            let Some(model) = &model else { return };
            let csv = probabilities_csv(model, &results);
            if let Err(why) = download("probabilities.csv", "text/csv", csv.as_bytes()) {
                on_error.emit(why);
            }
        })
    };

    html! {
        <section id="classify" class="panel" {ondrop} {ondragover}>
            <h2>{ "Classify" }</h2>
            <div class="settings">
                <label class="button">{ "Load a model file" }
                    <input id="model-input" type="file" accept=".safetensors,.pth,.pt" onchange={on_model} />
                </label>
                if let Some(model) = &props.model {
                    <span id="model-info" data-outputs={model.outputs.len().to_string()}>
                        { format!("Model: {} — {} outputs, {}×{} input", model.source, model.outputs.len(), model.side, model.side) }
                    </span>
                } else {
                    <span class="hint">{ "Train a model above, or load a CXR Lab model file (or torchxrayvision DenseNet weights, .pt); then drop or pick X-rays here." }</span>
                }
            </div>
            if let Some(model) = &props.model {
                <div class="settings">
                    <label class="button">{ "Choose images" }
                        <input id="classify-input" type="file" multiple=true onchange={on_images.clone()} disabled={props.running} />
                    </label>
                    <label class="button">{ "Choose a folder" }
                        <input id="classify-folder" type="file" webkitdirectory=true multiple=true onchange={on_images} disabled={props.running} />
                    </label>
                    <label>{ "Heatmap for " }
                        <select id="cam-select" onchange={on_cam} disabled={props.running}>
                            <option value="top" selected={*cam == CamChoice::Top}>{ "the most likely output" }</option>
                            { for model.outputs.iter().enumerate().map(|(i, o)| html! {
                                <option value={i.to_string()} selected={*cam == CamChoice::Output(i)}>{ o.label() }</option>
                            }) }
                        </select>
                    </label>
                    if !props.results.is_empty() {
                        <button id="download-probabilities" class="secondary" onclick={on_csv}>{ "Download probabilities (CSV)" }</button>
                    }
                </div>
                if props.running {
                    <p id="classify-status">{ "Classifying…" }</p>
                }
                <div id="classified">
                    { for props.results.iter().map(|r| result_view(model, r)) }
                </div>
            }
        </section>
    }
}

fn result_view(model: &ModelInfo, r: &Classification) -> Html {
    if let Some(error) = &r.error {
        return html! {
            <div class="classified error" data-name={r.name.clone()}><p>{ error }</p></div>
        };
    }
    let mut order: Vec<usize> = (0..r.probabilities.len()).collect();
    order.sort_by(|a, b| r.probabilities[*b].total_cmp(&r.probabilities[*a]));
    let cam_label = r
        .cam_output
        .and_then(|i| model.outputs.get(i))
        .map_or("", |o| o.label());
    html! {
        <div class="classified" data-name={r.name.clone()}>
            <figure>
                if let Some(png) = &r.overlay_png {
                    <img class="overlay" src={png_data_url(png)}
                        alt={format!("Grad-CAM for {cam_label} on {}", r.name)} />
                }
                <figcaption>{ format!("{} — heatmap: {cam_label}", r.name) }</figcaption>
            </figure>
            <table class="bars">
                <tbody>
                    { for order.iter().map(|i| {
                        let p = r.probabilities[*i];
                        let label = model.outputs.get(*i).map_or("?", |o| o.label());
                        html! {
                            <tr class="bar-row" data-output={label.to_owned()} data-p={format!("{p:.4}")}>
                                <th scope="row">{ label }</th>
                                <td><svg class="bar" viewBox="0 0 100 10" preserveAspectRatio="none">
                                    <rect x="0" y="0" width={format!("{:.1}", p * 100.0)} height="10" />
                                </svg></td>
                                <td>{ format!("{:.1}%", p * 100.0) }</td>
                            </tr>
                        }
                    }) }
                </tbody>
            </table>
        </div>
    }
}

/// `name,<output>…` with one row per image; empty cells for images that failed.
fn probabilities_csv(model: &ModelInfo, results: &[Classification]) -> String {
    let mut out = String::from("path");
    for o in &model.outputs {
        out.push(',');
        out.push_str(o.name());
    }
    out.push('\n');
    for r in results {
        let name = if r.name.contains([',', '"', '\n']) {
            format!("\"{}\"", r.name.replace('"', "\"\""))
        } else {
            r.name.clone()
        };
        out.push_str(&name);
        for i in 0..model.outputs.len() {
            out.push(',');
            if let Some(p) = r.probabilities.get(i) {
                out.push_str(&format!("{p:.6}"));
            }
        }
        out.push('\n');
    }
    out
}
