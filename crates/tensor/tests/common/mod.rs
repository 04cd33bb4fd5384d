//! Helpers shared by the integration tests: row-major index arithmetic written
//! independently of the crate, seeded values, and strided views whose logical
//! contents are known without asking the crate.
#![allow(dead_code)]

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tapegrad_tensor::{Float, Tensor};

/// Property tests run this many cases: enough to hit edge shapes, fast in CI.
pub const CASES: u32 = 64;

/// The proptest configuration every property test uses.
pub fn config() -> ProptestConfig {
    ProptestConfig::with_cases(CASES)
}

/// Product of the sizes.
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major multi-index of linear index `lin`.
pub fn unravel(mut lin: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = lin % shape[d];
        lin /= shape[d];
    }
    idx
}

/// Row-major linear index of a multi-index.
pub fn ravel(idx: &[usize], shape: &[usize]) -> usize {
    idx.iter().zip(shape).fold(0, |acc, (&i, &n)| acc * n + i)
}

/// `n` values uniform in `[-2, 2)` from `seed`.
pub fn values(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-2.0..2.0)).collect()
}

/// `n` whole numbers in `-3..=3` from `seed` (so ties and equal values occur).
pub fn quantized(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-3..=3) as f64).collect()
}

/// `values` rounded to `E` and back, so references see what the tensor holds.
pub fn rounded<E: Float>(vals: &[f64]) -> Vec<f64> {
    vals.iter().map(|&v| E::from_f64(v).to_f64()).collect()
}

/// How an operand is laid out in storage.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Row-major, offset 0.
    Contiguous,
    /// A permutation (reversed dimensions) of a row-major buffer.
    Permuted,
    /// A window of a larger buffer, one NaN-filled border on every side.
    Narrowed,
    /// Both: a window of a permuted buffer.
    PermutedNarrowed,
}

/// Any of the four layouts.
pub fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Contiguous),
        Just(Kind::Permuted),
        Just(Kind::Narrowed),
        Just(Kind::PermutedNarrowed),
    ]
}

/// A tensor of `shape` whose logical row-major contents are `vals`, laid out
/// as `kind` says. Storage outside the view holds NaN, so a kernel reading
/// past the view poisons its result.
pub fn view<E: Float>(vals: &[f64], shape: &[usize], kind: Kind) -> Tensor<E> {
    assert_eq!(vals.len(), numel(shape));
    let nd = shape.len();
    let (reverse, pad) = match kind {
        Kind::Contiguous => (false, 0),
        Kind::Permuted => (true, 0),
        Kind::Narrowed => (false, 1),
        Kind::PermutedNarrowed => (true, 1),
    };
    // Base dimension i holds logical dimension perm[i].
    let perm: Vec<usize> = if reverse {
        (0..nd).rev().collect()
    } else {
        (0..nd).collect()
    };
    let base_shape: Vec<usize> = perm.iter().map(|&p| shape[p] + 2 * pad).collect();
    let mut base = vec![E::from_f64(f64::NAN); numel(&base_shape)];
    for (lin, slot) in base.iter_mut().enumerate() {
        let b = unravel(lin, &base_shape);
        let mut logical = vec![0; nd];
        let mut inside = true;
        for i in 0..nd {
            inside &= b[i] >= pad && b[i] < pad + shape[perm[i]];
            logical[perm[i]] = b[i].wrapping_sub(pad);
        }
        if inside {
            *slot = E::from_f64(vals[ravel(&logical, shape)]);
        }
    }
    // View dimension j is base dimension inv[j], where perm[inv[j]] = j.
    let mut inv = vec![0; nd];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    let mut t =
        Tensor::from_vec(base, &base_shape).permute(&tapegrad_tensor::shape_rules::as_axes(&inv));
    if pad > 0 {
        for (d, &n) in shape.iter().enumerate() {
            t = t.narrow(d as isize, pad, n);
        }
    }
    assert_eq!(t.shape(), shape);
    t
}

/// A shape of `min_rank..=max_rank` dimensions, each of size `1..=max_dim`.
pub fn shape(
    min_rank: usize,
    max_rank: usize,
    max_dim: usize,
) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1..=max_dim, min_rank..=max_rank)
}

/// An operand shape that broadcasts to `out`: the first `drop` dimensions
/// removed and dimension `d` set to 1 where bit `d` of `ones` is set.
pub fn broadcastable(out: &[usize], drop: usize, ones: u32) -> Vec<usize> {
    let drop = drop.min(out.len());
    (drop..out.len())
        .map(|d| if ones >> d & 1 == 1 { 1 } else { out[d] })
        .collect()
}

/// The NumPy broadcast of two shapes, computed here by hand.
pub fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let get = |s: &[usize], d: usize| {
        if d < n - s.len() {
            1
        } else {
            s[d - (n - s.len())]
        }
    };
    (0..n)
        .map(|d| match (get(a, d), get(b, d)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

/// The index into an operand of `shape` that output index `out` reads under
/// broadcasting (right-aligned; size-1 dimensions repeat).
pub fn broadcast_index(out: &[usize], shape: &[usize]) -> Vec<usize> {
    let lead = out.len() - shape.len();
    (0..shape.len())
        .map(|d| if shape[d] == 1 { 0 } else { out[lead + d] })
        .collect()
}

/// Asserts `|got - want| <= tol * max(1, |want|)` elementwise (NaN equals NaN).
#[track_caller]
pub fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = (g.is_nan() && w.is_nan()) || g == w || (g - w).abs() <= tol * w.abs().max(1.0);
        assert!(ok, "{what}: element {i}: got {g}, want {w} (tol {tol})");
    }
}

/// Sum of elementwise products, in f64.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
