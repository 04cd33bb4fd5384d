//! SVG line charts (via `plotters`): one line per configuration, optionally
//! on a log scale, for activation std or gradient norm against depth; each
//! line may carry a shaded band (say, min–max over seeds), and a cap on the
//! y axis keeps one runaway line from flattening the others.

use plotters::prelude::*;
use std::path::Path;

/// One named line of a [`LineChart`], with an optional shaded band.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// The line's `(x, y)` points, in drawing order.
    pub points: Vec<(f64, f64)>,
    /// `(x, low, high)`: a range shaded around the line in its colour (for
    /// instance min–max over seeds around the median); empty for none.
    pub band: Vec<(f64, f64, f64)>,
}

impl Series {
    /// A line with no band.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            band: Vec::new(),
        }
    }

    /// The same line with `band` shaded around it.
    pub fn with_band(mut self, band: Vec<(f64, f64, f64)>) -> Self {
        self.band = band;
        self
    }
}

/// A line chart of named series of `(x, y)` points.
///
/// ```
/// use tapegrad_nn::diagnostics::{LineChart, Series};
///
/// let chart = LineChart {
///     title: "loss".into(),
///     log_y: true,
///     // A diverging run would set the scale: cap the axis at 10.
///     y_max: Some(10.0),
///     series: vec![
///         Series::new("healthy", vec![(1.0, 2.3), (2.0, 0.5), (3.0, 0.1)])
///             .with_band(vec![(1.0, 2.2, 2.4), (2.0, 0.4, 0.7), (3.0, 0.05, 0.2)]),
///         Series::new("diverging", vec![(1.0, 2.3), (2.0, 1e6), (3.0, 1e20)]),
///     ],
///     ..LineChart::default()
/// };
/// let path = std::env::temp_dir().join("tapegrad-doc-chart.svg");
/// chart.write_svg(&path, (640, 400)).unwrap();
/// let svg = std::fs::read_to_string(&path).unwrap();
/// assert!(svg.contains("diverging (above 10 from x = 2, up to 1e20)"));
/// # std::fs::remove_file(&path).unwrap();
/// ```
#[derive(Clone, Debug, Default)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Log scale on the y axis (non-positive and non-finite points are dropped).
    pub log_y: bool,
    /// Top of the y axis, if set: larger values (bands included) are drawn
    /// at the cap, those points marked with a triangle, and the legend says
    /// from which x on the line is above the cap and how far it goes. `None`
    /// fits the axis to every point.
    pub y_max: Option<f64>,
    /// The lines, drawn in palette order.
    pub series: Vec<Series>,
}

/// A chart could not be written (the path, or an empty chart).
#[derive(Debug)]
pub struct ChartError(pub String);

impl std::fmt::Display for ChartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "chart: {}", self.0)
    }
}

impl std::error::Error for ChartError {}

const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// A series as drawn: finite points (positive on a log axis), capped.
#[derive(Debug)]
struct Drawn {
    /// Legend entry, saying why a line is missing or where it is capped.
    name: String,
    points: Vec<(f64, f64)>,
    /// `(x, low, high)` quadrilateral corners of the band, capped.
    band: Vec<(f64, f64, f64)>,
    /// Points that were above the cap (drawn at it, with a marker).
    capped: Vec<(f64, f64)>,
}

impl LineChart {
    /// The points that can be drawn (finite, and positive on a log scale),
    /// with values above [`LineChart::y_max`] lowered to it.
    fn drawable(&self) -> Vec<Drawn> {
        let ok = |x: f64, y: f64| x.is_finite() && y.is_finite() && (!self.log_y || y > 0.0);
        let cap = |y: f64| self.y_max.map_or(y, |m| y.min(m));
        self.series
            .iter()
            .map(|s| {
                let kept: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .copied()
                    .filter(|&(x, y)| ok(x, y))
                    .collect();
                let over: Vec<(f64, f64)> = self
                    .y_max
                    .map(|m| kept.iter().copied().filter(|p| p.1 > m).collect())
                    .unwrap_or_default();
                let band = s
                    .band
                    .iter()
                    .filter(|&&(x, lo, hi)| ok(x, lo) && ok(x, hi))
                    .map(|&(x, lo, hi)| (x, cap(lo), cap(hi)))
                    .collect();
                // Say why a line is missing, or where it left the axis,
                // instead of dropping or flattening it silently.
                let name = if kept.is_empty() && !s.points.is_empty() {
                    let why = if self.log_y {
                        "no positive finite values"
                    } else {
                        "not finite"
                    };
                    format!("{} (not drawn: {why})", s.name)
                } else if let (Some(first), Some(m)) = (over.first(), self.y_max) {
                    let top = over.iter().map(|p| p.1).fold(f64::MIN, f64::max);
                    format!(
                        "{} (above {} from x = {}, up to {})",
                        s.name,
                        short(m),
                        short(first.0),
                        short(top)
                    )
                } else {
                    s.name.clone()
                };
                Drawn {
                    name,
                    points: kept.into_iter().map(|(x, y)| (x, cap(y))).collect(),
                    band,
                    capped: over.into_iter().map(|(x, y)| (x, cap(y))).collect(),
                }
            })
            .collect()
    }

    /// Writes the chart as an SVG file of `size` pixels: the plot on the
    /// left, the legend in its own column on the right (so it never covers
    /// a line). Whole-number x values are labelled as integers; a log y axis
    /// is labelled at powers of ten over its whole range.
    ///
    /// # Errors
    /// If no point can be drawn or the file cannot be written.
    pub fn write_svg(&self, path: &Path, size: (u32, u32)) -> Result<(), ChartError> {
        let series = self.drawable();
        let all: Vec<(f64, f64)> = series
            .iter()
            .flat_map(|d| {
                let band = d.band.iter().flat_map(|&(x, lo, hi)| [(x, lo), (x, hi)]);
                d.points.iter().copied().chain(band)
            })
            .collect();
        if all.is_empty() {
            return Err(ChartError(format!(
                "{}: no finite points to draw",
                path.display()
            )));
        }
        let (x0, x1) = all
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
        let (y0, y1) = all
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
        let err = |e: &dyn std::fmt::Display| ChartError(format!("{}: {e}", path.display()));
        let root = SVGBackend::new(path, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        // The title spans the whole width; below it, plot and legend columns.
        let body = root
            .titled(&self.title, ("sans-serif", 18))
            .map_err(|e| err(&e))?;
        let legend_width = legend_width(&series).min(size.0 * 2 / 5);
        let (plot_area, legend_area) = body.split_horizontally(size.0 - legend_width);
        let mut builder = ChartBuilder::on(&plot_area);
        builder
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64);
        // Fitted to the data at any scale (a histogram of gradients spans
        // 1e-3); one point gets a unit-wide axis around it.
        let x_range = if x1 > x0 { x0..x1 } else { x0 - 0.5..x0 + 0.5 };
        let whole_x = all.iter().all(|p| p.0.fract() == 0.0);
        let x_labels = if whole_x {
            ((x1 - x0) as usize + 1).clamp(2, 11)
        } else {
            10
        };
        let x_format = move |v: &f64| {
            if whole_x || v.fract() == 0.0 {
                format!("{v:.0}")
            } else {
                short(*v)
            }
        };
        if self.log_y {
            // A capped axis ends at the cap, so the markers sit on its edge.
            let hi = match self.y_max {
                Some(m) if y1 >= m => m,
                _ => (y1 * 2.0).max(y0 * 4.0),
            };
            let lo = (y0 / 2.0).min(hi / 4.0);
            let decades = decade_ticks(lo, hi, 12);
            let mut chart = builder
                .build_cartesian_2d(x_range, (lo..hi).log_scale().with_key_points(decades))
                .map_err(|e| err(&e))?;
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .x_labels(x_labels)
                .x_label_formatter(&x_format)
                .y_label_formatter(&|v| format!("{v:.0e}"))
                .draw()
                .map_err(|e| err(&e))?;
            draw_lines(&mut chart, &series).map_err(|e| err(&e))?;
        } else {
            let pad = ((y1 - y0) * 0.05).max(1e-9);
            let top = match self.y_max {
                Some(m) if y1 >= m => m,
                _ => y1 + pad,
            };
            let mut chart = builder
                .build_cartesian_2d(x_range, (y0 - pad)..top)
                .map_err(|e| err(&e))?;
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .x_labels(x_labels)
                .x_label_formatter(&x_format)
                .y_label_formatter(&|v| short(*v))
                .draw()
                .map_err(|e| err(&e))?;
            draw_lines(&mut chart, &series).map_err(|e| err(&e))?;
        }
        draw_legend(&legend_area, &series).map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))
    }
}

/// A number for a label: 3 decimals at most (float noise such as
/// 0.30000000000000004 dropped), in exponent form beyond [1e-3, 1e4)
/// (`10`, `2.5`, `1e20`, `-2e-4`).
fn short(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e4).contains(&a) {
        let s = format!("{v:.1e}");
        s.replace(".0e", "e")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Pixels the legend column needs: a swatch and the longest name at about
/// 7 px per character of 13 px sans-serif.
fn legend_width(series: &[Drawn]) -> u32 {
    let longest = series
        .iter()
        .map(|d| d.name.chars().count())
        .max()
        .unwrap_or(0);
    40 + 7 * longest as u32
}

/// Powers of ten from below `lo` to above `hi`, every `k`-th decade so that
/// at most `max` labels are drawn.
fn decade_ticks(lo: f64, hi: f64, max: usize) -> Vec<f64> {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let span = (b - a).max(1) as usize;
    let step = span.div_ceil(max.max(1)).max(1);
    (a..=b)
        .step_by(step)
        .map(|k| 10f64.powi(k))
        .filter(|&v| v >= lo && v <= hi)
        .collect()
}

/// The legend: one row per series, a line swatch in its colour and its name.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    series: &[Drawn],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let top = 24;
    for (i, Drawn { name, .. }) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let y = top + 20 * i as i32;
        area.draw(&PathElement::new(
            vec![(6, y), (26, y)],
            color.stroke_width(2),
        ))?;
        area.draw(&Text::new(
            name.as_str(),
            (32, y - 7),
            ("sans-serif", 13).into_font(),
        ))?;
    }
    Ok(())
}

/// Draws each series: its band shaded (20% of its colour), then the line
/// with point markers, and a triangle on each point lowered to the cap (the
/// legend is drawn beside the plot by [`draw_legend`]).
fn draw_lines<
    'a,
    DB: DrawingBackend + 'a,
    CT: plotters::coord::CoordTranslate<From = (f64, f64)>,
>(
    chart: &mut ChartContext<'a, DB, CT>,
    series: &[Drawn],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for (i, d) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        if d.band.len() >= 2 {
            let upper = d.band.iter().map(|&(x, _, hi)| (x, hi));
            let lower = d.band.iter().rev().map(|&(x, lo, _)| (x, lo));
            let outline: Vec<(f64, f64)> = upper.chain(lower).collect();
            chart.draw_series(std::iter::once(Polygon::new(
                outline,
                color.mix(0.2).filled(),
            )))?;
        }
    }
    for (i, d) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart.draw_series(LineSeries::new(
            d.points.iter().copied(),
            color.stroke_width(2),
        ))?;
        chart.draw_series(d.points.iter().map(|&p| Circle::new(p, 2, color.filled())))?;
        chart.draw_series(
            d.capped
                .iter()
                .map(|&p| TriangleMarker::new(p, 5, color.filled())),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How the SVG backend writes a text element's content.
    fn text(content: &str) -> String {
        format!(">\n{content}\n</text>")
    }

    fn svg_of(chart: &LineChart) -> String {
        let path = std::env::temp_dir().join(format!(
            "tapegrad-chart-{}-{}.svg",
            std::process::id(),
            chart.title
        ));
        chart.write_svg(&path, (640, 400)).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        if std::env::var_os("KEEP_SVG").is_none() {
            std::fs::remove_file(&path).unwrap();
        }
        svg
    }

    #[test]
    fn log_axis_is_labelled_over_every_decade_and_layers_as_integers() {
        // A gradient that vanishes to 1e-14 over 10 layers.
        let pts: Vec<(f64, f64)> = (1..=10)
            .map(|l: i32| (l as f64, 10f64.powi(-l - 4)))
            .collect();
        let chart = LineChart {
            title: "log".into(),
            log_y: true,
            series: vec![Series::new("vanishing", pts)],
            ..LineChart::default()
        };
        let svg = svg_of(&chart);
        for label in ["1e-14", "1e-10", "1e-5"] {
            assert!(svg.contains(&text(label)), "no tick {label}");
        }
        assert!(
            svg.contains(&text("5")) && !svg.contains(&text("5.0")),
            "layers ticked as decimals"
        );
    }

    #[test]
    fn decade_ticks_cover_the_range_in_at_most_max_labels() {
        assert_eq!(decade_ticks(0.5e-3, 2.0, 12), vec![1e-3, 1e-2, 1e-1, 1.0]);
        let wide = decade_ticks(1e-30, 1e3, 12);
        assert!(wide.len() <= 12 && wide.len() >= 6, "{wide:?}");
    }

    #[test]
    fn the_legend_sits_beside_the_plot_not_on_it() {
        let chart = LineChart {
            title: "legend".into(),
            series: vec![
                Series::new("a rather long series name", vec![(0.0, 1.0), (1.0, 2.0)]),
                Series::new("b", vec![(0.0, 2.0), (1.0, 1.0)]),
            ],
            ..LineChart::default()
        };
        let svg = svg_of(&chart);
        // The legend's text is drawn right of the plot area's column.
        let plot_width = 640 - legend_width(&chart.drawable());
        let at = svg
            .find(&text("a rather long series name"))
            .expect("legend entry");
        let tag_start = svg[..at].rfind("<text").unwrap();
        let x: f64 = svg[tag_start..at]
            .split("x=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|v| v.parse().ok())
            .expect("x attribute");
        assert!(
            x >= plot_width as f64,
            "legend at x = {x}, plot ends at {plot_width}"
        );
    }

    #[test]
    fn a_band_is_shaded_and_a_capped_line_is_marked_and_named() {
        let chart =
            LineChart {
                title: "band".into(),
                log_y: true,
                y_max: Some(10.0),
                series: vec![
                    Series::new("median", vec![(1.0, 1.0), (2.0, 0.5), (3.0, 0.2)])
                        .with_band(vec![(1.0, 0.8, 1.2), (2.0, 0.3, 0.9), (3.0, 0.1, 40.0)]),
                    Series::new("runaway", vec![(1.0, 2.0), (2.0, 1e6), (3.0, 4e19)]),
                ],
                ..LineChart::default()
            };
        let drawn = chart.drawable();
        // The band's top at x = 3 (40) is lowered to the cap, like the line.
        assert_eq!(drawn[0].band[2], (3.0, 0.1, 10.0));
        assert_eq!(drawn[1].points, vec![(1.0, 2.0), (2.0, 10.0), (3.0, 10.0)]);
        assert_eq!(drawn[1].capped, vec![(2.0, 10.0), (3.0, 10.0)]);
        assert_eq!(drawn[1].name, "runaway (above 10 from x = 2, up to 4e19)");
        let svg = svg_of(&chart);
        assert!(svg.contains("<polygon"), "no band drawn");
        assert!(
            svg.contains("<polygon opacity=\"0.2\""),
            "band not translucent"
        );
        // The axis ends at the cap: no tick above 1e1.
        assert!(svg.contains(&text("1e1")) && !svg.contains(&text("1e2")));
        assert!(svg.contains(&text("runaway (above 10 from x = 2, up to 4e19)")));
    }

    #[test]
    fn a_narrow_x_range_is_fitted_and_labelled_without_float_noise() {
        // A histogram of gradients over [-3e-4, 3e-4], and one over [-1, 1]
        // whose bin centres carry float noise.
        let narrow: Vec<(f64, f64)> = (-3..=3).map(|i| (i as f64 * 1e-4, 1.0)).collect();
        let chart = LineChart {
            title: "narrow".into(),
            series: vec![Series::new("g", narrow)],
            ..LineChart::default()
        };
        let svg = svg_of(&chart);
        assert!(
            svg.contains(&text("2e-4")),
            "no tick inside the data's range"
        );
        assert!(!svg.contains(&text("0.5")), "axis padded to a unit width");
        let noisy: Vec<(f64, f64)> = (0..=10).map(|i| (-1.0 + i as f64 * 0.2, 1.0)).collect();
        let svg = svg_of(&LineChart {
            title: "noisy".into(),
            series: vec![Series::new("h", noisy)],
            ..LineChart::default()
        });
        assert!(!svg.contains("0000000"), "float noise in a label");
    }

    #[test]
    fn short_numbers_read_well() {
        assert_eq!(short(10.0), "10");
        assert_eq!(short(2.5), "2.5");
        assert_eq!(short(4e19), "4e19");
        assert_eq!(short(1.5e-5), "1.5e-5");
        assert_eq!(short(0.0), "0");
    }
}
