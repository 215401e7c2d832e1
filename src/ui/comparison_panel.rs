//! The augmentation comparison: the article's headline table. A row per output, a column per
//! augmentation level with the test AUC and its bootstrap interval, the best of each row in bold,
//! then the mean AUC and the number of outputs above chance; CSV and JSON downloads.

use yew::{Callback, Html, Properties, function_component, html};

use crate::metrics::Evaluation;
use crate::metrics::evaluation::NOT_AVAILABLE;
use crate::web::download::on_click_download;

/// Props of [`ComparisonPanel`].
#[derive(Properties, PartialEq)]
pub struct ComparisonPanelProps {
    /// Level names, in order.
    pub levels: Vec<String>,
    /// The level being trained, while running.
    pub current: Option<usize>,
    /// Levels are training now.
    pub running: bool,
    /// Train the levels not done yet (after a Cancel).
    pub on_resume: Callback<()>,
    /// Finished levels' evaluations.
    pub results: Vec<(String, Evaluation)>,
    /// A download failed.
    pub on_error: Callback<String>,
}

/// The panel.
#[function_component(ComparisonPanel)]
pub fn comparison_panel(props: &ComparisonPanelProps) -> Html {
    let results = &props.results;
    let csv = comparison_csv(results);
    let json = serde_json::to_string_pretty(results).unwrap_or_default();
    let on_csv = on_click_download("comparison.csv", "text/csv", csv, props.on_error.clone());
    let on_json = on_click_download(
        "comparison.json",
        "application/json",
        json,
        props.on_error.clone(),
    );
    let status = match props.current {
        Some(i) => format!(
            "Training level {} of {}: {}",
            i + 1,
            props.levels.len(),
            props.levels.get(i).map_or("", String::as_str)
        ),
        None => format!("{} of {} levels done.", results.len(), props.levels.len()),
    };
    let outputs = results
        .first()
        .map(|(_, e)| e.findings.iter().map(|f| f.output).collect::<Vec<_>>())
        .unwrap_or_default();
    let best = |row: &[Option<f64>]| row.iter().flatten().copied().fold(f64::NAN, f64::max);
    html! {
        <section id="comparison" class="panel">
            <h2>{ "Augmentation levels compared (test AUC)" }</h2>
            <p id="comparison-status" data-done={results.len().to_string()}>{ status }</p>
            if !props.running && results.len() < props.levels.len() {
                <button id="compare-resume" onclick={props.on_resume.reform(|_| ())}>
                    { format!("Resume: train the {} level(s) not done", props.levels.len() - results.len()) }
                </button>
            }
            if !results.is_empty() {
                <table id="comparison-table">
                    <thead><tr>
                        <th>{ "output" }</th>
                        { for results.iter().map(|(name, _)| html! { <th>{ name }</th> }) }
                    </tr></thead>
                    <tbody>
                        { for outputs.iter().enumerate().map(|(j, output)| {
                            let row: Vec<Option<f64>> = results.iter().map(|(_, e)| e.findings[j].auc).collect();
                            let top = best(&row);
                            html! {
                                <tr class="comparison-row" data-output={output.name()}>
                                    <th scope="row">{ output.label() }</th>
                                    { for results.iter().map(|(_, e)| {
                                        let f = &e.findings[j];
                                        let is_best = f.auc.is_some_and(|a| a == top);
                                        html! {
                                            <td class={if is_best { "best" } else { "" }}>
                                                if is_best { <strong>{ f.auc_text() }</strong> } else { { f.auc_text() } }
                                            </td>
                                        }
                                    }) }
                                </tr>
                            }
                        }) }
                        <tr class="comparison-mean">
                            <th scope="row">{ "mean AUC" }</th>
                            { for results.iter().map(|(_, e)| html! {
                                <td data-mean={e.mean_auc.map(|m| format!("{m:.4}")).unwrap_or_default()}>
                                    { e.mean_auc.map_or_else(|| NOT_AVAILABLE.to_owned(), |m| format!("{m:.3}")) }
                                </td>
                            }) }
                        </tr>
                        <tr class="comparison-above-chance">
                            <th scope="row">{ "above chance (AUC > 0.5)" }</th>
                            { for results.iter().map(|(_, e)| html! {
                                <td>{ format!("{} of {}", e.above_chance, e.with_auc) }</td>
                            }) }
                        </tr>
                    </tbody>
                </table>
                <div class="actions">
                    <button id="download-comparison-csv" class="secondary" onclick={on_csv}>{ "Download (CSV)" }</button>
                    <button id="download-comparison-json" class="secondary" onclick={on_json}>{ "Download (JSON)" }</button>
                </div>
            }
        </section>
    }
}

/// One row per output and level: `output,level,auc,ci_low,ci_high`.
fn comparison_csv(results: &[(String, Evaluation)]) -> String {
    let mut out = String::from("output,level,auc,ci_low,ci_high\n");
    let number = |x: Option<f64>| x.map(|v| format!("{v:.6}")).unwrap_or_default();
    for (level, e) in results {
        for f in &e.findings {
            out.push_str(&format!(
                "{},{level},{},{},{}\n",
                f.output.name(),
                number(f.auc),
                number(f.interval.map(|i| i.low)),
                number(f.interval.map(|i| i.high))
            ));
        }
        out.push_str(&format!("mean,{level},{},,\n", number(e.mean_auc)));
    }
    out
}
