//! SVG line charts (via `plotters`): one line per configuration, optionally
//! on a log scale, for activation std or gradient norm against depth.

use plotters::prelude::*;
use std::path::Path;

/// A line chart of named series of `(x, y)` points.
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
    /// `(name, points)` per line.
    pub series: Vec<(String, Vec<(f64, f64)>)>,
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

impl LineChart {
    /// The points that can be drawn (finite, and positive on a log scale).
    fn drawable(&self) -> Vec<(String, Vec<(f64, f64)>)> {
        let ok = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite() && (!self.log_y || y > 0.0);
        self.series
            .iter()
            .map(|(n, pts)| {
                let kept: Vec<(f64, f64)> = pts.iter().copied().filter(ok).collect();
                // Say why a line is missing instead of dropping it silently.
                let name = if kept.is_empty() && !pts.is_empty() {
                    let why = if self.log_y {
                        "no positive finite values"
                    } else {
                        "not finite"
                    };
                    format!("{n} (not drawn: {why})")
                } else {
                    n.clone()
                };
                (name, kept)
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
        let all: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p.iter().copied()).collect();
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
        let x_range = x0..x1.max(x0 + 1.0);
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
                format!("{v}")
            }
        };
        if self.log_y {
            let (lo, hi) = (y0 / 2.0, (y1 * 2.0).max(y0 * 4.0));
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
            let mut chart = builder
                .build_cartesian_2d(x_range, (y0 - pad)..(y1 + pad))
                .map_err(|e| err(&e))?;
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .x_labels(x_labels)
                .x_label_formatter(&x_format)
                .draw()
                .map_err(|e| err(&e))?;
            draw_lines(&mut chart, &series).map_err(|e| err(&e))?;
        }
        draw_legend(&legend_area, &series).map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))
    }
}

/// Pixels the legend column needs: a swatch and the longest name at about
/// 7 px per character of 13 px sans-serif.
fn legend_width(series: &[(String, Vec<(f64, f64)>)]) -> u32 {
    let longest = series
        .iter()
        .map(|(n, _)| n.chars().count())
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
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let top = 24;
    for (i, (name, _)) in series.iter().enumerate() {
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

/// Draws each series as a line with point markers (the legend is drawn
/// beside the plot by [`draw_legend`]).
fn draw_lines<
    'a,
    DB: DrawingBackend + 'a,
    CT: plotters::coord::CoordTranslate<From = (f64, f64)>,
>(
    chart: &mut ChartContext<'a, DB, CT>,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for (i, (_, pts)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?;
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 2, color.filled())))?;
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
            series: vec![("vanishing".into(), pts)],
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
                (
                    "a rather long series name".into(),
                    vec![(0.0, 1.0), (1.0, 2.0)],
                ),
                ("b".into(), vec![(0.0, 2.0), (1.0, 1.0)]),
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
}
