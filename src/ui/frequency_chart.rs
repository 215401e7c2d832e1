//! The class-frequency chart: for each finding (and "No finding"), the share of images on each
//! side of the split that show it, one colour per side, and a table of the counts under it.
//!
//! Inline SVG drawn here from counts: no chart library, and no `style=` attribute (the page's
//! CSP is `style-src 'self'`), so geometry goes in SVG attributes and colours in classes that
//! `www/style.css` fills.

use yew::{Html, Properties, function_component, html};

use crate::data::{Finding, FindingSet, Frequencies, Split, SplitFrequencies};

/// Props of [`FrequencyChart`].
#[derive(Properties, PartialEq)]
pub struct FrequencyChartProps {
    /// Counts per side.
    pub frequencies: SplitFrequencies,
    /// The findings trained on; the others are not drawn.
    pub findings: FindingSet,
}

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 320.0;
const LEFT: f64 = 48.0;
const TOP: f64 = 28.0;
const BOTTOM: f64 = 96.0;

/// One bar group: a finding, or `None` for "No finding".
struct Class {
    label: &'static str,
    finding: Option<Finding>,
}

fn classes(findings: FindingSet) -> Vec<Class> {
    let mut out: Vec<Class> = findings
        .findings()
        .into_iter()
        .map(|f| Class {
            label: f.label(),
            finding: Some(f),
        })
        .collect();
    out.push(Class {
        label: "No finding",
        finding: None,
    });
    out
}

fn count(class: &Class, f: &Frequencies) -> usize {
    match class.finding {
        Some(finding) => f.positives(finding),
        None => f.no_finding,
    }
}

fn percent(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        100.0 * n as f64 / of as f64
    }
}

/// The chart and its table.
#[function_component(FrequencyChart)]
pub fn frequency_chart(props: &FrequencyChartProps) -> Html {
    let f = &props.frequencies;
    let classes = classes(props.findings);
    let max = classes
        .iter()
        .flat_map(|c| Split::ALL.map(|s| percent(count(c, f.side(s)), f.side(s).images)))
        .fold(0.0_f64, f64::max);
    // Round the axis up to a multiple of 10 %.
    let top = ((max / 10.0).ceil() * 10.0).clamp(10.0, 100.0);
    let plot_h = HEIGHT - TOP - BOTTOM;
    let plot_w = WIDTH - LEFT - 8.0;
    let group = plot_w / classes.len() as f64;
    let bar = group * 0.8 / 3.0;
    let y = |p: f64| TOP + plot_h * (1.0 - p / top);
    let ticks: Vec<f64> = (0..=4).map(|i| top * f64::from(i) / 4.0).collect();
    html! {
        <figure id="class-chart">
            <svg class="chart" viewBox={format!("0 0 {WIDTH} {HEIGHT}")} role="img"
                aria-label="Share of images showing each finding, per side of the split">
                { for ticks.iter().map(|t| html! {
                    <g class="tick">
                        <line x1={LEFT.to_string()} x2={(WIDTH - 8.0).to_string()}
                            y1={y(*t).to_string()} y2={y(*t).to_string()} class="grid" />
                        <text x={(LEFT - 6.0).to_string()} y={(y(*t) + 4.0).to_string()}
                            text-anchor="end" class="axis">{ format!("{t:.0}%") }</text>
                    </g>
                }) }
                { for classes.iter().enumerate().map(|(i, class)| {
                    let x0 = LEFT + group * i as f64 + group * 0.1;
                    let label_x = x0 + bar * 1.5;
                    let label_y = HEIGHT - BOTTOM + 12.0;
                    html! {
                        <g class="class" data-class={class.label}>
                            { for Split::ALL.iter().enumerate().map(|(j, side)| {
                                let frequencies = f.side(*side);
                                let n = count(class, frequencies);
                                let p = percent(n, frequencies.images);
                                let h = (plot_h * p / top).max(0.0);
                                html! {
                                    <rect class={format!("bar {side}")} data-side={side.to_string()}
                                        data-count={n.to_string()}
                                        x={(x0 + bar * j as f64).to_string()} y={(TOP + plot_h - h).to_string()}
                                        width={bar.to_string()} height={h.to_string()}>
                                        <title>{ format!("{}, {side}: {n} of {} images ({p:.1}%)", class.label, frequencies.images) }</title>
                                    </rect>
                                }
                            }) }
                            <text class="axis" x={label_x.to_string()} y={label_y.to_string()} text-anchor="end"
                                transform={format!("rotate(-40 {label_x} {label_y})")}>{ class.label }</text>
                        </g>
                    }
                }) }
                { for Split::ALL.iter().enumerate().map(|(j, side)| {
                    let x = LEFT + 8.0 + 200.0 * j as f64;
                    html! {
                        <g class="legend">
                            <rect class={format!("bar {side}")} x={x.to_string()} y="6" width="12" height="12" />
                            <text x={(x + 17.0).to_string()} y="16">{ format!("{side} ({} images)", f.side(*side).images) }</text>
                        </g>
                    }
                }) }
            </svg>
            <figcaption>{ "Share of each side's images that show each finding. The same finding should have about the same share on every side; a rare finding with few test positives gives an unreliable AUC." }</figcaption>
            <table id="class-table">
                <thead>
                    <tr>
                        <th>{ "finding" }</th>
                        { for Split::ALL.iter().map(|s| html! { <th>{ s.to_string() }</th> }) }
                        <th>{ "all" }</th>
                    </tr>
                </thead>
                <tbody>
                    { for classes.iter().map(|class| html! {
                        <tr class="class-row" data-class={class.label}>
                            <th scope="row">{ class.label }</th>
                            { for Split::ALL.iter().map(|s| {
                                let side = f.side(*s);
                                let n = count(class, side);
                                html! {
                                    <td data-side={s.to_string()} data-count={n.to_string()}>
                                        { format!("{n} ({:.1}%)", percent(n, side.images)) }
                                    </td>
                                }
                            }) }
                            <td data-side="all" data-count={count(class, &f.all).to_string()}>
                                { format!("{} ({:.1}%)", count(class, &f.all), percent(count(class, &f.all), f.all.images)) }
                            </td>
                        </tr>
                    }) }
                    <tr class="total">
                        <th scope="row">{ "images" }</th>
                        { for Split::ALL.iter().map(|s| html! {
                            <td data-side={s.to_string()} data-count={f.side(*s).images.to_string()}>{ f.side(*s).images }</td>
                        }) }
                        <td data-side="all" data-count={f.all.images.to_string()}>{ f.all.images }</td>
                    </tr>
                </tbody>
            </table>
        </figure>
    }
}
