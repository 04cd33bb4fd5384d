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

    /// Writes the chart as an SVG file of `size` pixels.
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
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(&self.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64);
        let x_range = x0..x1.max(x0 + 1.0);
        if self.log_y {
            let (lo, hi) = (y0 / 2.0, (y1 * 2.0).max(y0 * 4.0));
            let mut chart = builder
                .build_cartesian_2d(x_range, (lo..hi).log_scale())
                .map_err(|e| err(&e))?;
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .y_labels(12)
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
                .draw()
                .map_err(|e| err(&e))?;
            draw_lines(&mut chart, &series).map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))
    }
}

/// Draws each series as a line with point markers and a legend entry.
fn draw_lines<
    'a,
    DB: DrawingBackend + 'a,
    CT: plotters::coord::CoordTranslate<From = (f64, f64)>,
>(
    chart: &mut ChartContext<'a, DB, CT>,
    series: &[(String, Vec<(f64, f64)>)],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 2, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
}
