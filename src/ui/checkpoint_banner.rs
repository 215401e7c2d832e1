//! The banner that offers to resume an interrupted training run from the checkpoint the worker
//! kept in the browser's storage (after a reload, a closed tab or a lost GPU), and the line that
//! says when the last checkpoint was written.

use yew::{Callback, Html, Properties, function_component, html};

use crate::protocol::{CheckpointOffer, ModelChoice};

/// Props of [`CheckpointBanner`].
#[derive(Properties, PartialEq)]
pub struct CheckpointBannerProps {
    /// The kept checkpoint.
    pub offer: CheckpointOffer,
    /// The worker is idle (no run, no load).
    pub idle: bool,
    /// Resume the run.
    pub on_resume: Callback<()>,
    /// Delete the checkpoint.
    pub on_discard: Callback<()>,
}

/// The banner.
#[function_component(CheckpointBanner)]
pub fn checkpoint_banner(props: &CheckpointBannerProps) -> Html {
    let s = &props.offer.summary;
    let model = match s.model {
        ModelChoice::Small => "small DenseNet",
        ModelChoice::DenseNet121 => "DenseNet121",
    };
    let saved = if s.saved_at_ms > 0.0 {
        let date = js_sys::Date::new(&s.saved_at_ms.into());
        format!(
            ", saved {}",
            String::from(date.to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))
        )
    } else {
        String::new()
    };
    let auc = s
        .best_auc
        .map_or_else(String::new, |a| format!(", best validation AUC {a:.3}"));
    html! {
        <div id="checkpoint-banner" class="load" role="status" data-epochs-done={s.epochs_done.to_string()}>
            <p>{ format!(
                "A training run was interrupted after epoch {} of {} ({model}, {}×{} input{auc}{saved}).",
                s.epochs_done, s.epochs, s.side, s.side
            ) }</p>
            if let Some(why) = &props.offer.blocker {
                <p id="checkpoint-blocker" class="hint">{ format!("Cannot resume yet: {why}.") }</p>
            }
            <button id="checkpoint-resume" onclick={props.on_resume.reform(|_| ())}
                disabled={!props.idle || props.offer.blocker.is_some()}>{ "Resume" }</button>
            <button id="checkpoint-discard" class="secondary" onclick={props.on_discard.reform(|_| ())}
                disabled={!props.idle}>{ "Discard" }</button>
        </div>
    }
}

/// "Checkpoint saved after epoch E (size, time)": a run can go on after a reload.
pub fn saved_line(saved: Option<(usize, usize, f64)>) -> Html {
    let Some((epochs, bytes, ms)) = saved else {
        return Html::default();
    };
    html! {
        <p id="checkpoint-saved" class="hint" data-bytes={bytes.to_string()} data-ms={format!("{ms:.0}")}>
            { format!(
                "Checkpoint saved in this browser after epoch {epochs} ({:.1} MB, {:.0} ms): \
                 after a reload, load the same data to resume from it. Finishing or cancelling \
                 the run deletes it.",
                bytes as f64 / 1e6, ms
            ) }
        </p>
    }
}
