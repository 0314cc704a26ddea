//! Charts as inline SVG drawn on the server: they show without JavaScript, print, and need no
//! charting library in the browser. Colours come from the stylesheet by class.

use std::fmt::Write;

use maud::{Markup, html};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
/// Most x-axis labels drawn; the others are skipped evenly.
const MAX_X_LABELS: usize = 8;

/// One line of a line chart; `None` leaves a gap.
#[derive(Debug)]
pub(crate) struct Series<'a> {
    pub(crate) name: &'a str,
    pub(crate) points: Vec<Option<f64>>,
}

/// Lines over evenly spaced x positions, with the y axis from 0 to `y_max`.
pub(crate) fn line_chart(
    label: &str,
    x_labels: &[String],
    series: &[Series<'_>],
    y_max: f64,
    y_format: fn(f64) -> String,
) -> Markup {
    let n = x_labels.len();
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let y_max = if y_max > 0.0 { y_max } else { 1.0 };
    let x = |index: usize| {
        if n <= 1 {
            LEFT + plot_width / 2.0
        } else {
            LEFT + plot_width * index as f64 / (n - 1) as f64
        }
    };
    let y = |value: f64| TOP + plot_height * (1.0 - (value / y_max).clamp(0.0, 1.0));
    let label_every = n.div_ceil(MAX_X_LABELS).max(1);
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(label) {
                @for tick in 0..=4 {
                    @let value = y_max * f64::from(tick) / 4.0;
                    line.grid x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y(value)) y2=(y(value)) {}
                    text.axis x=(LEFT - 6.0) y=(y(value) + 4.0) text-anchor="end" { (y_format(value)) }
                }
                @for (index, text) in x_labels.iter().enumerate() {
                    @if index % label_every == 0 || index + 1 == n {
                        text.axis x=(x(index)) y=(HEIGHT - 8.0) text-anchor="middle" { (text) }
                    }
                }
                @for (number, line) in series.iter().enumerate() {
                    path class=(format!("line series-{number}")) d=(path(&line.points, x, y)) {}
                    @for (index, point) in line.points.iter().enumerate() {
                        @if let Some(value) = point {
                            circle class=(format!("dot series-{number}")) cx=(x(index)) cy=(y(*value)) r="3" {
                                title { (line.name) " · " (x_labels.get(index).map_or("", String::as_str)) ": " (y_format(*value)) }
                            }
                        }
                    }
                }
            }
            figcaption {
                (label)
                @for (number, line) in series.iter().enumerate() {
                    " " span class=(format!("key series-{number}")) { (line.name) }
                }
            }
        }
    }
}

/// An SVG path through the given points, broken where a point is missing.
fn path(points: &[Option<f64>], x: impl Fn(usize) -> f64, y: impl Fn(f64) -> f64) -> String {
    let mut d = String::new();
    let mut drawing = false;
    for (index, point) in points.iter().enumerate() {
        match point {
            Some(value) => {
                let command = if drawing { 'L' } else { 'M' };
                let _ = write!(d, "{command}{:.1} {:.1} ", x(index), y(*value));
                drawing = true;
            }
            None => drawing = false,
        }
    }
    d
}

/// One bar of a bar chart; `text` is what is written beside it.
#[derive(Debug)]
pub(crate) struct Bar {
    pub(crate) label: String,
    pub(crate) value: f64,
    pub(crate) text: String,
}

const BAR_ROW: f64 = 24.0;
const BAR_LABEL_WIDTH: f64 = 190.0;
const BAR_TEXT_WIDTH: f64 = 110.0;
/// Longest label drawn in full; longer ones are cut and keep the whole in a tooltip.
const MAX_BAR_LABEL: usize = 28;

/// Horizontal bars, longest value the full width.
pub(crate) fn bar_chart(label: &str, bars: &[Bar]) -> Markup {
    let height = BAR_ROW * bars.len().max(1) as f64 + 8.0;
    let max = bars.iter().map(|bar| bar.value).fold(0.0_f64, f64::max);
    let span = WIDTH - BAR_LABEL_WIDTH - BAR_TEXT_WIDTH;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-label=(label) {
                @for (row, bar) in bars.iter().enumerate() {
                    @let top = 4.0 + BAR_ROW * row as f64;
                    @let width = if max > 0.0 { (bar.value / max * span).max(1.0) } else { 1.0 };
                    text.axis x=(BAR_LABEL_WIDTH - 8.0) y=(top + 15.0) text-anchor="end" {
                        (short(&bar.label))
                        title { (bar.label) }
                    }
                    rect.bar x=(BAR_LABEL_WIDTH) y=(top + 3.0) width=(format!("{width:.1}")) height=(BAR_ROW - 8.0) {
                        title { (bar.label) ": " (bar.text) }
                    }
                    text.value x=(BAR_LABEL_WIDTH + width + 6.0) y=(top + 15.0) { (bar.text) }
                }
            }
            figcaption { (label) }
        }
    }
}

fn short(label: &str) -> String {
    if label.chars().count() <= MAX_BAR_LABEL {
        label.to_owned()
    } else {
        let mut cut: String = label.chars().take(MAX_BAR_LABEL - 1).collect();
        cut.push('…');
        cut
    }
}
