//! Says, at all times, which backend runs and on which adapter.

use yew::{Html, Properties, classes, function_component, html};

use crate::backend::{BackendInfo, BackendKind};

/// Props of [`BackendBadge`].
#[derive(Properties, PartialEq)]
pub struct BackendBadgeProps {
    /// `None` while the worker is still starting its device.
    pub backend: Option<BackendInfo>,
}

/// The status line at the top of the page.
#[function_component(BackendBadge)]
pub fn backend_badge(props: &BackendBadgeProps) -> Html {
    match &props.backend {
        None => html! {
            <div id="backend" class="badge starting">{ "Starting the compute worker…" }</div>
        },
        Some(info) => {
            let kind = match info.kind {
                BackendKind::WebGpu => "webgpu",
                BackendKind::Cpu => "cpu",
            };
            html! {
                <div id="backend" class={classes!("badge", kind)} data-backend={kind}>
                    <span id="backend-summary">{ info.summary() }</span>
                    if let Some(reason) = &info.fallback_reason {
                        <p id="fallback-reason" class="fallback">{ reason }</p>
                    }
                </div>
            }
        }
    }
}
