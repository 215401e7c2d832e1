//! A number field whose typed text survives the page's renders until it is committed.
//!
//! yew keeps an input's DOM value equal to the `value` it was given at every render, and a
//! field's edit reaches its owner only on `change` (Enter, or leaving the field). So a render in
//! between, from a worker's progress message or a preview arriving, put the old number back
//! under the user's fingers, and the edit that followed committed the old number. This field
//! keeps what is being typed as its own state and renders that until `change` hands it over.

use web_sys::{Event, HtmlInputElement};
use yew::{
    AttrValue, Callback, Html, InputEvent, Properties, TargetCast as _, function_component, html,
    use_state,
};

/// Props of [`NumberInput`].
#[derive(Properties, PartialEq)]
pub struct NumberInputProps {
    pub id: AttrValue,
    /// The committed value, as the field shows it when nothing is being typed.
    pub value: AttrValue,
    #[prop_or(AttrValue::Static("any"))]
    pub step: AttrValue,
    #[prop_or(AttrValue::Static("0"))]
    pub min: AttrValue,
    #[prop_or_default]
    pub max: Option<AttrValue>,
    #[prop_or_default]
    pub disabled: bool,
    /// The text typed, trimmed, on `change`. The owner parses it; if it refuses it (leaves
    /// `value` as it was), the field shows `value` again.
    pub on_commit: Callback<String>,
}

/// The field.
#[function_component(NumberInput)]
pub fn number_input(props: &NumberInputProps) -> Html {
    let typing = use_state(|| None::<String>);
    let oninput = {
        let typing = typing.clone();
        Callback::from(move |e: InputEvent| {
            let input: HtmlInputElement = e.target_unchecked_into();
            typing.set(Some(input.value()));
        })
    };
    let onchange = {
        let typing = typing.clone();
        let on_commit = props.on_commit.clone();
        Callback::from(move |e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            typing.set(None);
            on_commit.emit(input.value().trim().to_owned());
        })
    };
    let value = match &*typing {
        Some(text) => AttrValue::from(text.clone()),
        None => props.value.clone(),
    };
    html! {
        <input id={props.id.clone()} type="number" min={props.min.clone()} max={props.max.clone()}
            step={props.step.clone()} {value} {oninput} {onchange} disabled={props.disabled} />
    }
}
