//! A number measured over several seeds: its median and its range.

use std::fmt;

/// The median and the range of a quantity over seeds.
///
/// ```
/// use tapegrad_nn::study::Spread;
///
/// let s = Spread::of(&[0.3, 0.1, 0.5, f64::NAN]).unwrap();
/// assert_eq!((s.median, s.min, s.max, s.count, s.missing), (0.3, 0.1, 0.5, 3, 1));
/// assert_eq!(s.to_string(), "0.300 [0.100–0.500]");
/// assert!(Spread::of(&[]).is_none());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The middle value (the mean of the two middle ones for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// How many values were not NaN (the ones summarised).
    pub count: usize,
    /// How many were NaN (no value: an empty layer, no loss recorded).
    pub missing: usize,
}

impl Spread {
    /// The spread of the values that are not NaN (infinities count, at the
    /// ends); `None` if there is none.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            0.5 * (v[n / 2 - 1] + v[n / 2])
        };
        Some(Spread {
            median,
            min: v[0],
            max: v[n - 1],
            count: n,
            missing: values.len() - n,
        })
    }
}

/// `median [min–max]`, each in 3 significant digits ([`sig3`]); just the
/// median when every value is the same.
impl fmt::Display for Spread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let median = sig3(self.median);
        if self.min == self.max {
            return f.write_str(&median);
        }
        write!(f, "{median} [{}–{}]", sig3(self.min), sig3(self.max))
    }
}

/// `v` in 3 significant digits for a table: `0.306`, `60.9`, `3557`, whole
/// numbers as integers (`88`), and in exponent form below 1e-3 or from 1e4
/// on (`5.13e-9`, `1.31e22`).
pub fn sig3(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return v.to_string();
    }
    let a = v.abs();
    if !(1e-3..1e4).contains(&a) {
        return format!("{v:.2e}");
    }
    if v.fract() == 0.0 {
        return format!("{v:.0}"); // a count: 88 steps, not 88.0
    }
    let decimals = (2 - a.log10().floor() as i32).clamp(0, 5) as usize;
    format!("{v:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_counts_average_the_middle_pair_and_equal_values_print_once() {
        let s = Spread::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 4.0));
        assert_eq!(Spread::of(&[2.5, 2.5]).unwrap().to_string(), "2.50");
        assert!(Spread::of(&[f64::NAN]).is_none());
        let inf = Spread::of(&[1.0, f64::INFINITY, 2.0]).unwrap();
        assert_eq!((inf.median, inf.max), (2.0, f64::INFINITY));
    }

    #[test]
    fn sig3_keeps_three_significant_digits() {
        let cases = [
            (0.3063, "0.306"),
            (60.9035, "60.9"),
            (3556.67, "3557"),
            (1.31e22, "1.31e22"),
            (5.13e-9, "5.13e-9"),
            (-0.0412, "-0.0412"),
            (0.0, "0"),
            (88.0, "88"),
            (2.0, "2"),
        ];
        for (v, want) in cases {
            assert_eq!(sig3(v), want, "{v}");
        }
    }
}
