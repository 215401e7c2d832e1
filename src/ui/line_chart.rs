//! A small line chart in inline SVG: one or more series of (x, y) points on shared axes. Used
//! for the training loss and the validation AUC. Geometry in SVG attributes, colours by class
//! (`series-0`, `series-1`, … in `www/style.css`): the page's CSP allows no inline style.

use yew::{Html, Properties, function_component, html};

/// One line.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// Props of [`LineChart`].
#[derive(Properties, PartialEq)]
pub struct LineChartProps {
    /// The element id.
    pub id: String,
    /// Accessible description.
    pub label: String,
    /// The x axis' name.
    pub x_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// A fixed y range, e.g. (0, 1) for AUC; else the data's.
    #[prop_or_default]
    pub y_range: Option<(f64, f64)>,
}

const W: f64 = 420.0;
const H: f64 = 220.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 30.0;
const TOP: f64 = 10.0;
const RIGHT: f64 = 10.0;

/// The chart.
#[function_component(LineChart)]
pub fn line_chart(props: &LineChartProps) -> Html {
    let all: Vec<(f64, f64)> = props
        .series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    let (x0, x1) = bounds(all.iter().map(|p| p.0));
    let (y0, y1) = props
        .y_range
        .unwrap_or_else(|| bounds(all.iter().map(|p| p.1)));
    let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT);
    let sy = |y: f64| TOP + (1.0 - (y - y0) / (y1 - y0)) * (H - TOP - BOTTOM);
    let ticks: Vec<f64> = (0..=4)
        .map(|i| y0 + (y1 - y0) * f64::from(i) / 4.0)
        .collect();
    html! {
        <figure class="line-chart" id={props.id.clone()}>
            <svg viewBox={format!("0 0 {W} {H}")} role="img" aria-label={props.label.clone()}>
                { for ticks.iter().map(|t| html! {
                    <g class="tick">
                        <line class="grid" x1={LEFT.to_string()} x2={(W - RIGHT).to_string()}
                            y1={sy(*t).to_string()} y2={sy(*t).to_string()} />
                        <text class="axis" x={(LEFT - 4.0).to_string()} y={(sy(*t) + 4.0).to_string()}
                            text-anchor="end">{ format!("{t:.2}") }</text>
                    </g>
                }) }
                <text class="axis" x={((LEFT + W) / 2.0).to_string()} y={(H - 6.0).to_string()}
                    text-anchor="middle">{ format!("{} ({x0:.0}–{x1:.0})", props.x_label) }</text>
                { for props.series.iter().enumerate().map(|(i, s)| {
                    let path: Vec<String> = s.points.iter()
                        .filter(|(x, y)| x.is_finite() && y.is_finite())
                        .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
                        .collect();
                    html! {
                        <polyline class={format!("series series-{i}")} data-points={s.points.len().to_string()}
                            points={path.join(" ")} fill="none" />
                    }
                }) }
            </svg>
            <figcaption>
                { for props.series.iter().enumerate().map(|(i, s)| html! {
                    <span class={format!("legend series-{i}")}>{ &s.name }</span>
                }) }
            </figcaption>
        </figure>
    }
}

/// Min and max, widened when flat or empty so the scale never divides by zero.
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() || !hi.is_finite() {
        (0.0, 1.0)
    } else if hi - lo < 1e-9 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    }
}
