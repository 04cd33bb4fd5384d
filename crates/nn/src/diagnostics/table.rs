//! Terminal tables of a [`FlowReport`].

use super::report::FlowReport;
use std::fmt;

/// Formats a number compactly for tables (`1.23e-5`, `0.0412`, `-`).
pub fn fmt_num(x: Option<f64>) -> String {
    match x {
        None => "-".to_string(),
        Some(v) if !v.is_finite() => format!("{v}"),
        Some(0.0) => "0".to_string(),
        Some(v) if v.abs() >= 1e4 || v.abs() < 1e-3 => format!("{v:.2e}"),
        Some(v) => format!("{v:.4}"),
    }
}

/// Renders rows as columns, the first left-aligned and the rest right-aligned.
pub fn render_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(c, s)| {
                if c == 0 {
                    format!("{s:<w$}", w = widths[c])
                } else {
                    format!("{s:>w$}", w = widths[c])
                }
            })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let mut out = line(header.to_vec()) + "\n";
    out += &"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1));
    out += "\n";
    for r in rows {
        out += &line(r.iter().map(String::as_str).collect());
        out += "\n";
    }
    out
}

impl fmt::Display for FlowReport {
    /// Two tables (layers, then parameters) and the verdict.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |x: Option<f64>| x.map_or("-".to_string(), |v| format!("{:.1}%", 100.0 * v));
        let rows: Vec<Vec<String>> = self
            .layers
            .iter()
            .map(|l| {
                vec![
                    l.name.clone(),
                    l.op.to_string(),
                    fmt_num(Some(l.act_mean)),
                    fmt_num(Some(l.act_std)),
                    pct(l.saturated),
                    pct(l.dead),
                    fmt_num(l.grad_norm),
                    fmt_num(l.grad_rms),
                ]
            })
            .collect();
        let header = [
            "layer output",
            "op",
            "act mean",
            "act std",
            "saturated",
            "dead",
            "grad norm",
            "grad rms",
        ];
        write!(f, "{}", render_table(&header, &rows))?;
        let rows: Vec<Vec<String>> = self
            .params
            .iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    fmt_num(Some(p.weight_norm)),
                    fmt_num(Some(p.grad_norm)),
                    fmt_num(Some(p.grad_std)),
                    fmt_num(p.update_ratio),
                ]
            })
            .collect();
        writeln!(f)?;
        write!(
            f,
            "{}",
            render_table(
                &["parameter", "‖w‖", "‖grad‖", "grad std", "‖Δw‖/‖w‖"],
                &rows
            )
        )?;
        let layers = match &self.verdict {
            super::Verdict::Healthy { .. } => String::new(),
            super::Verdict::Vanishing { layers, .. } | super::Verdict::Exploding { layers, .. } => {
                format!(" at: {}", layers.join(", "))
            }
        };
        writeln!(
            f,
            "verdict: {} (first/last gradient rms ratio {}){layers}",
            self.verdict.word(),
            fmt_num(Some(self.verdict.ratio()))
        )
    }
}
