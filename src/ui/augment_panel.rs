//! The "Augmentation" panel: the spec's controls under their Keras names and units (presets
//! none / basic / complex, or a pasted `ImageDataGenerator(...)` call), and a live preview grid
//! of one training image and a dozen augmented versions, redrawn on every change. Training uses
//! this spec. Thin: it edits an [`AugmentSpec`] and asks the worker for the preview.

use web_sys::{Event, HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::{
    Callback, Html, Properties, TargetCast as _, function_component, html, use_effect_with,
    use_state,
};

use crate::augment::{AugmentSpec, FillMode, ShiftRange, ZoomRange, parse_keras_call};
use crate::ui::data_url::png_data_url;
use crate::ui::number_input::NumberInput;

/// Props of [`AugmentPanel`].
#[derive(Properties, PartialEq)]
pub struct AugmentPanelProps {
    /// The spec.
    pub spec: AugmentSpec,
    /// The preview: the image's name and PNGs (original first).
    pub preview: Option<(String, Vec<Vec<u8>>)>,
    /// A data set is loaded (the preview needs an image).
    pub ready: bool,
    /// The spec changed (the app asks for a new preview).
    pub on_change: Callback<AugmentSpec>,
    /// Another image / other draws.
    pub on_shuffle: Callback<()>,
}

/// The panel.
#[function_component(AugmentPanel)]
pub fn augment_panel(props: &AugmentPanelProps) -> Html {
    let spec = props.spec.clone();
    let pasted = use_state(|| None::<Result<Vec<String>, String>>);
    {
        // A first preview as soon as a data set is there.
        let on_shuffle = props.on_shuffle.clone();
        use_effect_with(props.ready, move |ready| {
            if *ready {
                on_shuffle.emit(());
            }
        });
    }

    let number = |id: &'static str,
                  label: &'static str,
                  unit: &'static str,
                  tip: &'static str,
                  value: f64,
                  set: fn(&mut AugmentSpec, f64)| {
        let on_change = props.on_change.clone();
        let spec = spec.clone();
        let on_commit = Callback::from(move |text: String| {
            if let Ok(v) = text.parse::<f64>()
                && v.is_finite()
                && v >= 0.0
            {
                let mut next = spec.clone();
                set(&mut next, v);
                on_change.emit(next);
            }
        });
        html! {
            <label title={tip}>
                <code>{ label }</code>{ format!(" ({unit}) ") }
                <NumberInput {id} value={trim(value)} {on_commit} />
            </label>
        }
    };
    let flag = |id: &'static str,
                label: &'static str,
                tip: &'static str,
                value: bool,
                set: fn(&mut AugmentSpec, bool)| {
        let on_change = props.on_change.clone();
        let spec = spec.clone();
        let onchange = Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            let mut next = spec.clone();
            set(&mut next, input.checked());
            on_change.emit(next);
        });
        html! {
            <label title={tip}>
                <input {id} type="checkbox" checked={value} {onchange} />{ " " }<code>{ label }</code>
            </label>
        }
    };
    let on_preset = {
        let on_change = props.on_change.clone();
        Callback::from(move |e: Event| {
            let select: HtmlSelectElement = e.target_unchecked_into();
            if let Some(spec) = AugmentSpec::preset(&select.value()) {
                on_change.emit(spec);
            }
        })
    };
    let on_fill = {
        let on_change = props.on_change.clone();
        let spec = spec.clone();
        Callback::from(move |e: Event| {
            let select: HtmlSelectElement = e.target_unchecked_into();
            if let Some(fill_mode) = FillMode::from_name(&select.value()) {
                on_change.emit(AugmentSpec {
                    fill_mode,
                    ..spec.clone()
                });
            }
        })
    };
    let on_paste = {
        let on_change = props.on_change.clone();
        let pasted = pasted.clone();
        Callback::from(move |e: Event| {
            let area: HtmlTextAreaElement = e.target_unchecked_into();
            let text = area.value();
            if text.trim().is_empty() {
                pasted.set(None);
                return;
            }
            match parse_keras_call(&text) {
                Ok(call) => {
                    pasted.set(Some(Ok(call.warnings)));
                    on_change.emit(call.spec);
                }
                Err(e) => pasted.set(Some(Err(e.to_string()))),
            }
        })
    };
    let shift = |r: &ShiftRange| match r {
        ShiftRange::Float(v) => *v,
        ShiftRange::Int(n) => f64::from(*n),
        ShiftRange::Values(v) => v.iter().copied().fold(0.0, f64::max),
    };
    let zoom = match &spec.zoom_range {
        ZoomRange::Symmetric(z) => *z,
        ZoomRange::Bounds([lo, hi]) => (hi - lo) / 2.0,
    };
    let preset = ["none", "basic", "complex"]
        .into_iter()
        .find(|p| AugmentSpec::preset(p).as_ref() == Some(&spec));

    html! {
        <section id="augment" class="panel">
            <h2>{ "Augmentation" }</h2>
            <div class="settings">
                <label>{ "Preset " }
                    <select id="augment-preset" onchange={on_preset}>
                        <option value="custom" selected={preset.is_none()} disabled=true>{ "custom" }</option>
                        { for ["none", "basic", "complex"].into_iter().map(|p| html! {
                            <option value={p} selected={preset == Some(p)}>{ p }</option>
                        }) }
                    </select>
                </label>
                { number("aug-rotation", "rotation_range", "degrees", "θ uniform in [−r, r)", spec.rotation_range, |s, v| s.rotation_range = v) }
                { number("aug-width-shift", "width_shift_range", "fraction of width, or pixels if ≥ 1", "horizontal shift", shift(&spec.width_shift_range), |s, v| s.width_shift_range = ShiftRange::Float(v)) }
                { number("aug-height-shift", "height_shift_range", "fraction of height, or pixels if ≥ 1", "vertical shift", shift(&spec.height_shift_range), |s, v| s.height_shift_range = ShiftRange::Float(v)) }
                { number("aug-shear", "shear_range", "degrees", "shear angle uniform in [−s, s)", spec.shear_range, |s, v| s.shear_range = v) }
                { number("aug-zoom", "zoom_range", "z: factors in [1 − z, 1 + z]", "zx and zy drawn independently, as Keras", zoom, |s, v| s.zoom_range = ZoomRange::Symmetric(v)) }
                { number("aug-channel-shift", "channel_shift_range", "grey levels", "a value in [−c, c) added", spec.channel_shift_range, |s, v| s.channel_shift_range = v) }
                <label title="how points outside the image are filled"><code>{ "fill_mode" }</code>{ " " }
                    <select id="aug-fill" onchange={on_fill}>
                        { for ["nearest", "constant", "reflect", "wrap"].into_iter().map(|m| html! {
                            <option value={m} selected={FillMode::from_name(m) == Some(spec.fill_mode)}>{ m }</option>
                        }) }
                    </select>
                </label>
                { flag("aug-hflip", "horizontal_flip", "mirror left–right with probability ½", spec.horizontal_flip, |s, v| s.horizontal_flip = v) }
                { flag("aug-vflip", "vertical_flip", "mirror top–bottom with probability ½", spec.vertical_flip, |s, v| s.vertical_flip = v) }
                { flag("aug-samplewise-center", "samplewise_center", "subtract each image's mean", spec.samplewise_center, |s, v| s.samplewise_center = v) }
                { flag("aug-samplewise-std", "samplewise_std_normalization", "divide each image by its std", spec.samplewise_std_normalization, |s, v| s.samplewise_std_normalization = v) }
            </div>
            if spec.horizontal_flip {
                <p id="hflip-warning" class="warn" role="alert">
                    { "Horizontal flip mirrors the chest: the heart moves to the right (situs inversus, \
                       1 in 10,000 people). The model then learns anatomy that almost never occurs, and \
                       findings tied to a side (cardiomegaly, a left-sided effusion) get mixed up. \
                       Keep it off for chest X-rays unless you know why you need it." }
                </p>
            }
            <details>
                <summary>{ "Paste a Keras ImageDataGenerator(...) call" }</summary>
                <textarea id="keras-call" rows="3" cols="70"
                    placeholder="ImageDataGenerator(rotation_range=5, shear_range=0.02, zoom_range=0.02, samplewise_center=True, samplewise_std_normalization=True)"
                    onchange={on_paste} />
                { match &*pasted {
                    Some(Ok(warnings)) => html! {
                        <ul id="keras-call-result" class="ok">
                            <li>{ "Read: the controls above show it." }</li>
                            { for warnings.iter().map(|w| html! { <li class="warn">{ w }</li> }) }
                        </ul>
                    },
                    Some(Err(e)) => html! { <p id="keras-call-result" class="error">{ e }</p> },
                    None => Html::default(),
                } }
            </details>
            if props.ready {
                <div class="actions">
                    <button id="preview-shuffle" class="secondary" onclick={props.on_shuffle.reform(|_| ())}>{ "Another image" }</button>
                </div>
                if let Some((name, images)) = &props.preview {
                    <div id="preview" data-count={images.len().to_string()} data-name={name.clone()}>
                        { for images.iter().enumerate().map(|(i, png)| html! {
                            <figure class={if i == 0 { "original" } else { "augmented" }}>
                                <img src={png_data_url(png)}
                                    alt={if i == 0 { format!("{name}, original") } else { format!("{name}, augmented {i}") }} />
                                if i == 0 { <figcaption>{ "original" }</figcaption> }
                            </figure>
                        }) }
                    </div>
                }
            } else {
                <p class="hint">{ "Load a data set to see the preview." }</p>
            }
        </section>
    }
}

/// A number as typed: `5`, `0.02`.
fn trim(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}
