//! Patients and images on each side of the split, and whether any patient is on two sides
//! (counted by the worker from the split itself, see `data::summary`).

use yew::{Html, Properties, function_component, html};

use crate::data::{Split, SplitView};

/// Props of [`SplitTable`].
#[derive(Properties, PartialEq)]
pub struct SplitTableProps {
    /// The split to show.
    pub view: SplitView,
}

/// One row per side, plus the leakage line.
#[function_component(SplitTable)]
pub fn split_table(props: &SplitTableProps) -> Html {
    let sides = props.view.sides;
    let leaks = props.view.patients_on_two_sides;
    html! {
        <div id="split">
            <table id="split-table">
                <thead><tr><th>{ "side" }</th><th>{ "patients" }</th><th>{ "images" }</th></tr></thead>
                <tbody>
                    { for Split::ALL.iter().map(|side| {
                        let s = sides.side(*side);
                        html! {
                            <tr class={format!("side {side}")} data-side={side.to_string()}>
                                <th scope="row">{ side.to_string() }</th>
                                <td class="patients">{ s.patients }</td>
                                <td class="images">{ s.images }</td>
                            </tr>
                        }
                    }) }
                </tbody>
            </table>
            if leaks == 0 {
                <p id="split-leakage" class="ok" data-leaks="0">
                    { "No patient is on two sides: every patient's images are on one side only (checked)." }
                </p>
            } else {
                <p id="split-leakage" class="error" data-leaks={leaks.to_string()}>
                    { format!("{leaks} patient(s) have images on two sides: this split leaks; please report it.") }
                </p>
            }
        </div>
    }
}
