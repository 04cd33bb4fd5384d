//! Printing tensors: `Display` follows NumPy's `print(array)` (nested
//! brackets, aligned columns, `...` elision above 1000 elements, wrapping at
//! 75 characters) followed by a `tensor(shape=[..], dtype=..)` line; `Debug`
//! is one short line.
//!
//! `{:.3}` caps the digits after the point at 3 (NumPy's `precision`; the
//! default is 8), and `{:#}` prints the values without the shape line.
//!
//! ```
//! use tapegrad_tensor::Tensor;
//! let a = Tensor::<f32>::from_vec(vec![1.0, 2.5, -3.0, 4.0, 0.25, 6.0], &[2, 3]);
//! assert_eq!(
//!     a.to_string(),
//!     "[[ 1.    2.5  -3.  ]\n [ 4.    0.25  6.  ]]\ntensor(shape=[2, 3], dtype=float32)"
//! );
//! assert_eq!(format!("{a:?}"), "Tensor[2, 3] float32 [1.0, 2.5, -3.0, 4.0, 0.25, 6.0]");
//! ```

use crate::float::Float;
use crate::tensor::Tensor;
use std::fmt;

/// Tensors with more elements than this are printed with `...` elision.
const THRESHOLD: usize = 1000;
/// Entries shown at each edge of an elided axis.
const EDGE_ITEMS: usize = 3;
/// Lines are wrapped before this width.
const LINE_WIDTH: usize = 75;
/// Default maximum digits after the decimal point.
const PRECISION: usize = 8;
/// Values shown by `Debug` before it writes `..`.
const DEBUG_ITEMS: usize = 6;

/// How every element of one printout is written, chosen from all the
/// elements shown (NumPy's `FloatingFormat` with `floatmode="maxprec"`).
struct ElementFormat {
    /// `Some((digits, exponent width))` for scientific notation.
    sci: Option<(usize, usize)>,
    /// Maximum digits after the point in positional notation.
    precision: usize,
    /// Width of the part before the point (sign included).
    pad_left: usize,
    /// Width of the part after the point (exponent included).
    pad_right: usize,
}

/// Trims trailing zeros after a decimal point, keeping the point.
fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').to_string()
    } else {
        s
    }
}

/// The shortest positional form of `x` that reads back as `x`, rounded to at
/// most `precision` digits after the point, always with a point (`2.`).
fn positional<E: Float>(x: E, precision: usize) -> String {
    let s = x.to_string(); // Rust prints the shortest round-trip digits
    let frac = s.split_once('.').map_or(0, |(_, f)| f.len());
    let mut s = if frac > precision {
        trim_zeros(format!("{:.*}", precision, x.to_f64()))
    } else {
        s
    };
    if !s.contains('.') {
        s.push('.');
    }
    s
}

/// Digits after the point that scientific notation needs to show `x`
/// uniquely, at most `precision`.
fn sci_digits<E: Float>(x: E, precision: usize) -> usize {
    let s = x.abs().to_string();
    let digits: String = s.chars().filter(|c| *c != '.').collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    if significant.saturating_sub(1) <= precision {
        return significant.saturating_sub(1);
    }
    let s = format!("{:.*e}", precision, x.to_f64().abs());
    let mantissa = trim_zeros(s.split_once('e').expect("exponent").0.to_string());
    mantissa.split_once('.').map_or(0, |(_, f)| f.len())
}

/// `x` in scientific notation with `digits` after the point and the
/// exponent's magnitude zero-padded to `exp_width` (`1.500e-05`).
fn scientific<E: Float>(x: E, digits: usize, exp_width: usize) -> String {
    let s = format!("{:.*e}", digits, x.to_f64());
    let (mantissa, exp) = s.split_once('e').expect("exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let point = if digits == 0 { "." } else { "" };
    let sign = if exp < 0 { '-' } else { '+' };
    format!(
        "{mantissa}{point}e{sign}{:0>exp_width$}",
        exp.unsigned_abs()
    )
}

impl ElementFormat {
    /// Chooses notation and padding for `values` (the elements to be shown).
    fn new<E: Float>(values: &[E], precision: usize) -> ElementFormat {
        let finite: Vec<E> = values.iter().copied().filter(|x| x.is_finite()).collect();
        let mags = finite
            .iter()
            .map(|x| x.abs().to_f64())
            .filter(|&m| m != 0.0);
        let (lo, hi) = mags.fold((f64::INFINITY, 0.0f64), |(lo, hi), m| {
            (lo.min(m), hi.max(m))
        });
        let use_sci = hi >= 1e8 || lo < 1e-4 || hi / lo > 1e3;
        let mut f = ElementFormat {
            sci: None,
            precision,
            pad_left: 0,
            pad_right: 0,
        };
        if finite.is_empty() {
            // Nothing to align but nan/inf, handled below.
        } else if use_sci {
            let digits = finite.iter().map(|&x| sci_digits(x, precision)).max();
            let digits = digits.unwrap_or(0);
            let exp_width = finite
                .iter()
                .map(|x| {
                    scientific(*x, digits, 2)
                        .rsplit_once(['+', '-'])
                        .unwrap()
                        .1
                        .len()
                })
                .max()
                .unwrap_or(2);
            f.sci = Some((digits, exp_width));
            f.pad_left = finite
                .iter()
                .map(|x| if *x < E::ZERO { 2 } else { 1 })
                .max()
                .unwrap();
            f.pad_right = digits + 2 + exp_width;
        } else {
            for x in &finite {
                let s = positional(*x, precision);
                let (int, frac) = s.split_once('.').expect("point");
                f.pad_left = f.pad_left.max(int.len());
                f.pad_right = f.pad_right.max(frac.len());
            }
        }
        if finite.len() != values.len() {
            let neg_inf = values
                .iter()
                .any(|x| !x.is_finite() && !x.is_nan() && *x < E::ZERO);
            let room = f.pad_right + 1;
            f.pad_left = f.pad_left.max((3 + neg_inf as usize).saturating_sub(room));
        }
        f
    }

    /// Width of every formatted element.
    fn width(&self) -> usize {
        self.pad_left + 1 + self.pad_right
    }

    /// One element, padded to [`width`](Self::width).
    fn format<E: Float>(&self, x: E) -> String {
        if !x.is_finite() {
            let s = match (x.is_nan(), x < E::ZERO) {
                (true, _) => "nan",
                (false, true) => "-inf",
                (false, false) => "inf",
            };
            return format!("{s:>w$}", w = self.width());
        }
        match self.sci {
            Some((digits, exp_width)) => {
                format!("{:>w$}", scientific(x, digits, exp_width), w = self.width())
            }
            None => {
                let s = positional(x, self.precision);
                let (int, frac) = s.split_once('.').expect("point");
                let (l, r) = (self.pad_left, self.pad_right);
                format!("{int:>l$}.{frac:<r$}")
            }
        }
    }
}

/// The entries of an axis of `size` that are shown: all, or the edges with
/// `None` standing for the `...` between them.
fn shown(size: usize, summarize: bool) -> Vec<Option<usize>> {
    if summarize && size > 2 * EDGE_ITEMS {
        let head = (0..EDGE_ITEMS).map(Some);
        let tail = (size - EDGE_ITEMS..size).map(Some);
        head.chain([None]).chain(tail).collect()
    } else {
        (0..size).map(Some).collect()
    }
}

/// Appends `word` to `line`, first moving `line` into `out` and starting a new
/// one with `indent` if the word would pass `width` (NumPy's `_extendLine`).
fn extend_line(out: &mut String, line: &mut String, word: &str, width: usize, indent: &str) {
    if line.len() + word.len() > width && line.len() > indent.len() {
        out.push_str(line.trim_end());
        out.push('\n');
        *line = indent.to_string();
    }
    line.push_str(word);
}

/// Writes the shown part of a tensor with a chosen element format.
struct Printer<'a, E: Float> {
    t: &'a Tensor<E>,
    axes: Vec<Vec<Option<usize>>>,
    fmt: ElementFormat,
}

impl<'a, E: Float> Printer<'a, E> {
    fn new(t: &'a Tensor<E>, precision: usize) -> Self {
        let summarize = t.numel() > THRESHOLD;
        let axes: Vec<_> = t.shape().iter().map(|&n| shown(n, summarize)).collect();
        let mut values = Vec::new();
        let mut index = vec![0; t.ndim()];
        collect(t, &axes, &mut index, 0, &mut values);
        let fmt = ElementFormat::new(&values, precision);
        Printer { t, axes, fmt }
    }

    /// The nested-bracket text of the sub-array at `index[..depth]`
    /// (NumPy's `_formatArray` recursion).
    fn block(&self, index: &mut Vec<usize>, depth: usize, indent: &str, width: usize) -> String {
        if depth == self.t.ndim() {
            return self.fmt.format(self.t.get(index));
        }
        let inner_indent = format!("{indent} ");
        let items = &self.axes[depth];
        let innermost = depth + 1 == self.t.ndim();
        let sep = "\n".repeat(self.t.ndim() - depth - 1);
        let mut out = String::new();
        let mut line = indent.to_string();
        for (k, item) in items.iter().enumerate() {
            let word = match *item {
                Some(i) => {
                    index[depth] = i;
                    self.block(index, depth + 1, &inner_indent, width - 1)
                }
                None => "...".to_string(),
            };
            let last = k + 1 == items.len();
            if innermost {
                // Elements flow along a line, wrapping before the width.
                extend_line(&mut out, &mut line, &word, width - 1, indent);
                if !last {
                    line.push(' ');
                }
            } else {
                // Sub-arrays go on their own lines, with blank lines above 2-D.
                out.push_str(indent);
                out.push_str(&word);
                if !last {
                    out.push_str(&sep);
                }
            }
        }
        if innermost {
            out.push_str(&line);
        }
        format!("[{}]", &out[indent.len()..])
    }
}

/// Pushes the shown elements (those `axes` lists) in row-major order.
fn collect<E: Float>(
    t: &Tensor<E>,
    axes: &[Vec<Option<usize>>],
    index: &mut Vec<usize>,
    depth: usize,
    out: &mut Vec<E>,
) {
    if depth == axes.len() {
        out.push(t.get(index));
        return;
    }
    for i in axes[depth].iter().flatten() {
        index[depth] = *i;
        collect(t, axes, index, depth + 1, out);
    }
}

impl<E: Float> fmt::Display for Tensor<E> {
    /// NumPy-style values, then `tensor(shape=[..], dtype=..)` on its own
    /// line unless `{:#}` is used. `{:.N}` shows at most N digits after the point.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let precision = f.precision().unwrap_or(PRECISION);
        let body = if self.numel() == 0 {
            "[]".to_string()
        } else if self.ndim() == 0 {
            let s = ElementFormat::new(&[self.item()], precision).format(self.item());
            if s.ends_with('.') {
                s + "0"
            } else {
                s
            }
        } else {
            let p = Printer::new(self, precision);
            p.block(&mut vec![0; self.ndim()], 0, " ", LINE_WIDTH)
        };
        f.write_str(&body)?;
        if !f.alternate() {
            write!(f, "\ntensor(shape={:?}, dtype={})", self.shape(), E::DTYPE)?;
        }
        Ok(())
    }
}

impl<E: Float> fmt::Debug for Tensor<E> {
    /// `Tensor[2, 3] float32 [1.0, 2.0, ..]`: shape, dtype and the first few
    /// values in logical order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor{:?} {} [", self.shape(), E::DTYPE)?;
        let shape = self.shape();
        let mut index = vec![0; shape.len()];
        for k in 0..self.numel().min(DEBUG_ITEMS) {
            if k > 0 {
                f.write_str(", ")?;
                // Advance the row-major multi-index by one.
                for d in (0..shape.len()).rev() {
                    index[d] += 1;
                    if index[d] < shape[d] {
                        break;
                    }
                    index[d] = 0;
                }
            }
            write!(f, "{:?}", self.get(&index))?;
        }
        if self.numel() > DEBUG_ITEMS {
            f.write_str(", ..")?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f64s(data: &[f64], shape: &[usize]) -> Tensor<f64> {
        Tensor::from_vec(data.to_vec(), shape)
    }

    /// Every expected string below is the output of `print(a)` for the same
    /// array `a` with NumPy 2.4 (default print options unless noted),
    /// copied from the interpreter, not typed by hand.
    #[test]
    fn display_matches_numpy_print() {
        let cases: Vec<(&str, Tensor<f64>, &str)> = vec![
            (
                // np.arange(2000.).reshape(2, 1000)
                "elided_sci_2x1000",
                Tensor::arange(0.0, 2000.0, 1.0).reshape(&[2, 1000]),
                "[[0.000e+00 1.000e+00 2.000e+00 ... 9.970e+02 9.980e+02 9.990e+02]\n [1.000e+03 1.001e+03 1.002e+03 ... 1.997e+03 1.998e+03 1.999e+03]]",
            ),
            (
                // np.arange(1001.).reshape(7, 1, 143)
                "elided_outer_axis",
                Tensor::arange(0.0, 1001.0, 1.0).reshape(&[7, 1, 143]),
                "[[[   0.    1.    2. ...  140.  141.  142.]]\n\n [[ 143.  144.  145. ...  283.  284.  285.]]\n\n [[ 286.  287.  288. ...  426.  427.  428.]]\n\n ...\n\n [[ 572.  573.  574. ...  712.  713.  714.]]\n\n [[ 715.  716.  717. ...  855.  856.  857.]]\n\n [[ 858.  859.  860. ...  998.  999. 1000.]]]",
            ),
            ("small_and_one", f64s(&[1e-5, 1.0], &[2]), "[1.e-05 1.e+00]"),
            (
                "non_finite",
                f64s(&[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.5], &[4]),
                "[ nan  inf -inf  1.5]",
            ),
            (
                // np.arange(30.) / 7
                "wrapped_row",
                Tensor::arange(0.0, 30.0, 1.0).div(&Tensor::scalar(7.0)),
                "[0.         0.14285714 0.28571429 0.42857143 0.57142857 0.71428571\n 0.85714286 1.         1.14285714 1.28571429 1.42857143 1.57142857\n 1.71428571 1.85714286 2.         2.14285714 2.28571429 2.42857143\n 2.57142857 2.71428571 2.85714286 3.         3.14285714 3.28571429\n 3.42857143 3.57142857 3.71428571 3.85714286 4.         4.14285714]",
            ),
            (
                // np.arange(24.).reshape(2, 3, 4)
                "three_d",
                Tensor::arange(0.0, 24.0, 1.0).reshape(&[2, 3, 4]),
                "[[[ 0.  1.  2.  3.]\n  [ 4.  5.  6.  7.]\n  [ 8.  9. 10. 11.]]\n\n [[12. 13. 14. 15.]\n  [16. 17. 18. 19.]\n  [20. 21. 22. 23.]]]",
            ),
            ("sci_negative", f64s(&[-1.5e10, 2.0], &[2]), "[-1.5e+10  2.0e+00]"),
            (
                // (np.arange(40.) / 3).reshape(2, 20)
                "wrapped_2d",
                Tensor::arange(0.0, 40.0, 1.0)
                    .div(&Tensor::scalar(3.0))
                    .reshape(&[2, 20]),
                "[[ 0.          0.33333333  0.66666667  1.          1.33333333  1.66666667\n   2.          2.33333333  2.66666667  3.          3.33333333  3.66666667\n   4.          4.33333333  4.66666667  5.          5.33333333  5.66666667\n   6.          6.33333333]\n [ 6.66666667  7.          7.33333333  7.66666667  8.          8.33333333\n   8.66666667  9.          9.33333333  9.66666667 10.         10.33333333\n  10.66666667 11.         11.33333333 11.66666667 12.         12.33333333\n  12.66666667 13.        ]]",
            ),
            ("all_non_finite", f64s(&[f64::NAN, f64::NEG_INFINITY], &[2]), "[ nan -inf]"),
            ("zeros_and_tiny", f64s(&[0.0, 1e-7, 3.0], &[3]), "[0.e+00 1.e-07 3.e+00]"),
            ("big_ints", f64s(&[1e7, 2.0, 3.0], &[3]), "[1.e+07 2.e+00 3.e+00]"),
            (
                // np.arange(6.).reshape(3, 2).T: a strided view prints in logical order.
                "transposed_view",
                Tensor::arange(0.0, 6.0, 1.0).reshape(&[3, 2]).t(),
                "[[0. 2. 4.]\n [1. 3. 5.]]",
            ),
        ];
        for (name, t, want) in cases {
            assert_eq!(format!("{t:#}"), want, "case {name}");
        }
    }

    #[test]
    fn display_of_f32_uses_f32_shortest_digits() {
        // NumPy: print(np.array([[1, 2.5, -3], [4, 0.25, 6]], dtype=np.float32))
        // and print(np.array([0.1, 1/3, -2], dtype=np.float32)).
        let a = Tensor::<f32>::from_vec(vec![1.0, 2.5, -3.0, 4.0, 0.25, 6.0], &[2, 3]);
        assert_eq!(
            a.to_string(),
            "[[ 1.    2.5  -3.  ]\n [ 4.    0.25  6.  ]]\ntensor(shape=[2, 3], dtype=float32)"
        );
        let b = Tensor::<f32>::from_vec(vec![0.1, 1.0 / 3.0, -2.0], &[3]);
        assert_eq!(format!("{b:#}"), "[ 0.1         0.33333334 -2.        ]");
    }

    #[test]
    fn precision_flag_caps_digits_like_numpy_printoptions() {
        // NumPy: with np.printoptions(precision=3): print(np.array([1/3, 2/3, 10.0]))
        let a = f64s(&[1.0 / 3.0, 2.0 / 3.0, 10.0], &[3]);
        assert_eq!(format!("{a:#.3}"), "[ 0.333  0.667 10.   ]");
    }

    #[test]
    fn scalars_empty_tensors_and_suffix() {
        // NumPy prints a 0-d float array as its scalar, "2.5" / "1.0".
        assert_eq!(format!("{:#}", Tensor::<f64>::scalar(2.5)), "2.5");
        assert_eq!(format!("{:#}", Tensor::<f64>::scalar(1.0)), "1.0");
        assert_eq!(
            Tensor::<f64>::zeros(&[2, 0]).to_string(),
            "[]\ntensor(shape=[2, 0], dtype=float64)"
        );
    }

    #[test]
    fn debug_is_one_short_line_in_logical_order() {
        let a = Tensor::<f32>::arange(0.0, 6.0, 1.0).reshape(&[3, 2]).t();
        // a^T of [[0, 1], [2, 3], [4, 5]] is [[0, 2, 4], [1, 3, 5]].
        assert_eq!(
            format!("{a:?}"),
            "Tensor[2, 3] float32 [0.0, 2.0, 4.0, 1.0, 3.0, 5.0]"
        );
        let long = Tensor::<f64>::arange(0.0, 100.0, 1.0).reshape(&[10, 10]);
        assert_eq!(
            format!("{long:?}"),
            "Tensor[10, 10] float64 [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, ..]"
        );
        assert_eq!(
            format!("{:?}", Tensor::<f64>::scalar(-1.5)),
            "Tensor[] float64 [-1.5]"
        );
        assert_eq!(
            format!("{:?}", Tensor::<f64>::zeros(&[0])),
            "Tensor[0] float64 []"
        );
    }

    #[test]
    fn huge_tensor_prints_only_its_edges() {
        // 10^6 elements: only 3x3 corners are read, and the output stays short.
        let big = Tensor::<f32>::zeros(&[1000, 1000]);
        let s = format!("{big:#}");
        assert_eq!(s.lines().count(), 7); // 3 rows, "...", 3 rows
        assert!(s.lines().all(|l| l.len() <= LINE_WIDTH));
    }
}
