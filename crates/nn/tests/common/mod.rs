//! What the nn integration tests share: one closeness rule.

/// Asserts `got` and `want` have the same length and agree elementwise to
/// `|got - want| <= tol · (1 + |want|)`: absolute near zero, relative for
/// large values. The message names `what` and the first element that
/// disagrees.
#[track_caller]
pub fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "{what}: element {i}: {g} vs {w} (tolerance {tol})"
        );
    }
}
