//! The evaluation of the kept model: every output's ROC curve on one plot with its AUC in the
//! legend (the article's figure), the AUC table with bootstrap intervals, the mean AUC and the
//! number of outputs above chance, and CSV / SVG downloads of both.

use yew::{Callback, Html, Properties, function_component, html};

use crate::metrics::evaluation::NOT_AVAILABLE;
use crate::metrics::{Evaluation, FindingEvaluation};
use crate::protocol::EvaluationReport;
use crate::web::download::on_click_download;

/// Props of [`EvaluationPanel`].
#[derive(Properties, PartialEq)]
pub struct EvaluationPanelProps {
    /// The report.
    pub report: EvaluationReport,
    /// A download failed; for the user.
    pub on_error: Callback<String>,
}

const SIZE: f64 = 360.0;
const PAD: f64 = 36.0;

/// The panel.
#[function_component(EvaluationPanel)]
pub fn evaluation_panel(props: &EvaluationPanelProps) -> Html {
    let e = &props.report.evaluation;
    let csv = auc_csv(e);
    let svg = roc_svg(e);
    let on_csv = on_click_download("auc.csv", "text/csv", csv, props.on_error.clone());
    let on_svg = on_click_download("roc.svg", "image/svg+xml", svg, props.on_error.clone());
    let on_multiples = on_click_download(
        "roc-per-output.svg",
        "image/svg+xml",
        small_multiples_svg(e),
        props.on_error.clone(),
    );
    let summary = match e.mean_auc {
        Some(mean) => format!(
            "Mean AUC {mean:.3} over {} outputs; {} of {} above chance (AUC > 0.5). {} test images.",
            e.with_auc, e.above_chance, e.with_auc, e.images
        ),
        None => format!(
            "No output has both positive and negative test images ({} images).",
            e.images
        ),
    };
    html! {
        <section id="evaluation" class="panel">
            <h2>{ format!("Evaluation on the {} split", props.report.split) }</h2>
            <p id="evaluation-summary" data-mean-auc={e.mean_auc.map(|m| format!("{m:.4}")).unwrap_or_default()}
                data-above-chance={e.above_chance.to_string()}>{ summary }</p>
            <div class="evaluation">
                <figure id="roc-plot">
                    // The same SVG text is offered as the download.
                    { Html::from_html_unchecked(svg_markup(e).into()) }
                    <figcaption>{ "ROC curves on the test split; the diagonal is chance." }</figcaption>
                </figure>
                { auc_table(e) }
            </div>
            <h3>{ "Per output" }</h3>
            <div id="roc-small-multiples">
                { for e.findings.iter().enumerate().map(|(i, f)| html! {
                    <figure class="roc-small" data-output={f.output.name()}>
                        { Html::from_html_unchecked(small_svg(f, COLOURS[i % COLOURS.len()]).into()) }
                        <figcaption>{ legend_text(f) }</figcaption>
                    </figure>
                }) }
            </div>
            <div class="actions">
                <button id="download-auc-csv" class="secondary" onclick={on_csv}>{ "Download the AUC table (CSV)" }</button>
                <button id="download-roc-svg" class="secondary" onclick={on_svg}>{ "Download the ROC plot (SVG)" }</button>
                <button id="download-roc-multiples" class="secondary" onclick={on_multiples}>{ "Download the per-output plots (SVG)" }</button>
            </div>
        </section>
    }
}

fn auc_table(e: &Evaluation) -> Html {
    html! {
        <table id="auc-table">
            <thead><tr>
                <th>{ "output" }</th><th>{ "AUC (95% bootstrap interval)" }</th>
                <th>{ "positives" }</th><th>{ "negatives" }</th>
            </tr></thead>
            <tbody>
                { for e.findings.iter().map(|f| html! {
                    <tr class="auc-row" data-output={f.output.name()}
                        data-auc={f.auc.map(|a| format!("{a:.4}")).unwrap_or_default()}>
                        <th scope="row">{ f.output.label() }</th>
                        <td class={if f.auc.is_none() { "na" } else { "" }}>{ f.auc_text() }</td>
                        <td>{ f.positives }</td>
                        <td>{ f.negatives }</td>
                    </tr>
                }) }
            </tbody>
        </table>
    }
}

/// The AUC table as CSV: output, auc, low, high, positives, negatives ("" where n/a).
#[must_use]
pub fn auc_csv(e: &Evaluation) -> String {
    let mut out = String::from("output,auc,ci_low,ci_high,positives,negatives\n");
    let number = |x: Option<f64>| x.map(|v| format!("{v:.6}")).unwrap_or_default();
    for f in &e.findings {
        out.push_str(&format!(
            "{},{},{},{},{},{}\n",
            f.output.name(),
            number(f.auc),
            number(f.interval.map(|i| i.low)),
            number(f.interval.map(|i| i.high)),
            f.positives,
            f.negatives
        ));
    }
    out.push_str(&format!("mean,{},,,,\n", number(e.mean_auc)));
    out
}

/// The ROC plot as a stand-alone SVG file (with its own colours, for the download).
fn roc_svg(e: &Evaluation) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}",
        svg_markup(e).replacen(
            "<svg ",
            "<svg xmlns=\"http://www.w3.org/2000/svg\" font-family=\"sans-serif\" font-size=\"10\" ",
            1
        )
    )
}

/// A colour per output, also written into the SVG so a downloaded file keeps it.
const COLOURS: [&str; 15] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173",
];

/// The plot's markup: axes, the chance diagonal, one polyline per output and a legend with AUCs.
/// Colours are SVG presentation attributes, which the page's `style-src 'self'` allows.
fn svg_markup(e: &Evaluation) -> String {
    let x = |fpr: f64| PAD + fpr * (SIZE - 2.0 * PAD);
    let y = |tpr: f64| SIZE - PAD - tpr * (SIZE - 2.0 * PAD);
    let legend_x = SIZE + 10.0;
    let width = SIZE + 260.0;
    let mut s = format!(
        "<svg viewBox=\"0 0 {width} {SIZE}\" width=\"{width}\" height=\"{SIZE}\" role=\"img\" \
         aria-label=\"ROC curves\">"
    );
    s.push_str(&format!(
        "<rect x=\"{PAD}\" y=\"{PAD}\" width=\"{w}\" height=\"{w}\" fill=\"none\" stroke=\"#888\"/>\
         <line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#bbb\" stroke-dasharray=\"4 4\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">false positive rate</text>\
         <text x=\"12\" y=\"{}\" transform=\"rotate(-90 12 {})\" text-anchor=\"middle\">true positive rate</text>",
        x(0.0),
        y(0.0),
        x(1.0),
        y(1.0),
        SIZE / 2.0,
        SIZE - 8.0,
        SIZE / 2.0,
        SIZE / 2.0,
        w = SIZE - 2.0 * PAD
    ));
    for (i, f) in e.findings.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        s.push_str(&roc_polyline(f, colour, &x, &y));
        s.push_str(&format!(
            "<rect x=\"{legend_x}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            14.0 + 18.0 * i as f64,
            legend_x + 14.0,
            23.0 + 18.0 * i as f64,
            legend_text(f)
        ));
    }
    s.push_str("</svg>");
    s
}

/// The small multiples as one stand-alone SVG file: a grid of five per row, each titled with
/// its output and AUC.
fn small_multiples_svg(e: &Evaluation) -> String {
    const CELL: f64 = 140.0;
    const PER_ROW: usize = 5;
    let rows = e.findings.len().div_ceil(PER_ROW).max(1);
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" \
         font-family=\"sans-serif\" font-size=\"9\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">",
        w = CELL * PER_ROW as f64,
        h = (CELL + 16.0) * rows as f64
    );
    for (i, f) in e.findings.iter().enumerate() {
        let (x, y) = (
            CELL * (i % PER_ROW) as f64,
            (CELL + 16.0) * (i / PER_ROW) as f64,
        );
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{}\">{}</text>",
            x + 6.0,
            y + 11.0,
            legend_text(f)
        ));
        s.push_str(&small_svg(f, COLOURS[i % COLOURS.len()]).replacen(
            "<svg ",
            &format!(
                "<svg x=\"{x}\" y=\"{}\" width=\"{CELL}\" height=\"{CELL}\" ",
                y + 14.0
            ),
            1,
        ));
    }
    s.push_str("</svg>");
    s
}

/// One output's ROC curve in a small square, for the small multiples.
fn small_svg(f: &FindingEvaluation, colour: &str) -> String {
    const S: f64 = 120.0;
    const P: f64 = 6.0;
    let x = |fpr: f64| P + fpr * (S - 2.0 * P);
    let y = |tpr: f64| S - P - tpr * (S - 2.0 * P);
    let mut s = format!(
        "<svg viewBox=\"0 0 {S} {S}\" role=\"img\" aria-label=\"ROC curve of {}\">\
         <rect x=\"{P}\" y=\"{P}\" width=\"{w}\" height=\"{w}\" fill=\"none\" stroke=\"#888\"/>\
         <line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#bbb\" stroke-dasharray=\"3 3\"/>",
        f.output.label(),
        x(0.0),
        y(0.0),
        x(1.0),
        y(1.0),
        w = S - 2.0 * P
    );
    s.push_str(&roc_polyline(f, colour, &x, &y));
    s.push_str("</svg>");
    s
}

/// One output's ROC curve as an SVG polyline through `x(fpr)`, `y(tpr)`; empty without a curve.
fn roc_polyline(
    f: &FindingEvaluation,
    colour: &str,
    x: &dyn Fn(f64) -> f64,
    y: &dyn Fn(f64) -> f64,
) -> String {
    let Some(roc) = &f.roc else {
        return String::new();
    };
    let points: Vec<String> = roc
        .points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.fpr), y(p.tpr)))
        .collect();
    format!(
        "<polyline class=\"roc\" data-output=\"{}\" points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\"/>",
        f.output.name(),
        points.join(" ")
    )
}

fn legend_text(f: &FindingEvaluation) -> String {
    match f.auc {
        Some(auc) => format!("{} (AUC {auc:.3})", f.output.label()),
        None => format!("{} ({})", f.output.label(), NOT_AVAILABLE),
    }
}
