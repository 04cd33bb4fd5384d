//! Shared generators and assertions for the autodiff property tests.
//!
//! Values avoid every op's kinks by construction (never by loosening the
//! gradcheck tolerances): `away_from_zero` for relu/abs/leaky_relu,
//! `positive` for ln/sqrt/pow bases, `distinct` for max/min, and so on.
#![allow(dead_code)]

use proptest::prelude::*;
use rand::SeedableRng;
use tapegrad_autodiff::{
    check_jvp, check_jvp_vjp, gradcheck, gradgradcheck, GradcheckOptions, Tape, Var,
};
use tapegrad_tensor::Tensor;

/// Proptest configuration shared by the property tests: few, small cases.
pub fn config(cases: u32) -> ProptestConfig {
    // No regression files: a bug found gets a named test instead.
    ProptestConfig {
        cases,
        max_shrink_iters: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A shape of rank `0..=max_rank` with dims `1..=max_dim`.
pub fn shape(max_rank: usize, max_dim: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1..=max_dim, 0..=max_rank)
}

/// A shape of rank `min_rank..=max_rank` with dims `1..=max_dim`.
pub fn shape_rank(
    min_rank: usize,
    max_rank: usize,
    max_dim: usize,
) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1..=max_dim, min_rank..=max_rank)
}

/// Smooth-region values in `[-2, 2]`.
pub fn smooth() -> BoxedStrategy<f64> {
    (-2.0..2.0f64).boxed()
}

/// Values with `0.05 <= |x| <= 2` (no kink at 0 for relu, abs, leaky_relu).
pub fn away_from_zero() -> BoxedStrategy<f64> {
    away(0.05)
}

/// Values with `min <= |x| <= 2`, either sign.
pub fn away(min: f64) -> BoxedStrategy<f64> {
    (min..2.0f64, any::<bool>())
        .prop_map(|(m, neg)| if neg { -m } else { m })
        .boxed()
}

/// Values in `[0.2, 3]` (inside the domain of ln, sqrt, pow's base).
pub fn positive() -> BoxedStrategy<f64> {
    (0.2..3.0f64).boxed()
}

/// A tensor of `shape` with values from `values`.
pub fn tensor_of(
    shape: Vec<usize>,
    values: BoxedStrategy<f64>,
) -> impl Strategy<Value = Tensor<f64>> {
    let n: usize = shape.iter().product();
    prop::collection::vec(values, n).prop_map(move |v| Tensor::from_vec(v, &shape))
}

/// A tensor of random shape (rank up to 4, dims up to 4) with values from `values`.
pub fn any_tensor(values: BoxedStrategy<f64>) -> impl Strategy<Value = Tensor<f64>> {
    shape(4, 4).prop_flat_map(move |s| tensor_of(s, values.clone()))
}

/// `n` pairwise-distinct values at least 0.25 apart, shuffled, in about
/// `[-n/6, n/6]` (so max/min never tie, even after a finite-difference step).
pub fn distinct(n: usize) -> impl Strategy<Value = Vec<f64>> {
    let grid: Vec<f64> = (0..n).map(|i| 0.3 * i as f64 - 0.15 * n as f64).collect();
    (
        Just(grid).prop_shuffle(),
        prop::collection::vec(0.0..0.05f64, n),
    )
        .prop_map(|(g, noise)| g.iter().zip(noise).map(|(a, b)| a + b).collect())
}

/// A tensor of `shape` with pairwise-distinct values (see [`distinct`]).
pub fn distinct_tensor(shape: Vec<usize>) -> impl Strategy<Value = Tensor<f64>> {
    let n: usize = shape.iter().product();
    distinct(n).prop_map(move |v| Tensor::from_vec(v, &shape))
}

/// `n` shapes that broadcast together: a random full shape (rank up to 4,
/// dims up to 4), from which each shape drops some leading dims and sets
/// some dims to 1.
pub fn broadcast_group(n: usize) -> impl Strategy<Value = Vec<Vec<usize>>> {
    shape(4, 4).prop_flat_map(move |full| {
        let r = full.len();
        let one_side = (0..=r, prop::collection::vec(prop::bool::weighted(0.3), r));
        prop::collection::vec(one_side, n).prop_map(move |sides| {
            sides
                .into_iter()
                .map(|(drop, ones)| {
                    full.iter()
                        .zip(&ones)
                        .skip(drop)
                        .map(|(&d, &one)| if one { 1 } else { d })
                        .collect()
                })
                .collect()
        })
    })
}

/// Two shapes that broadcast together (see [`broadcast_group`]).
pub fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    broadcast_group(2).prop_map(|mut v| {
        let b = v.pop().expect("two shapes");
        (v.pop().expect("two shapes"), b)
    })
}

/// Two tensors of broadcast-compatible shapes with values from `a` and `b`.
pub fn broadcast_tensors(
    a: BoxedStrategy<f64>,
    b: BoxedStrategy<f64>,
) -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)> {
    broadcast_pair()
        .prop_flat_map(move |(sa, sb)| (tensor_of(sa, a.clone()), tensor_of(sb, b.clone())))
}

/// Two broadcast-compatible tensors whose values never tie after
/// broadcasting: `a` on the grid `0.4 k`, `b` on `0.4 k + 0.2`, each plus
/// noise below 0.05, so `|a - b| >= 0.15` everywhere.
pub fn separated_pair() -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)> {
    let on_grid = |offset: f64| {
        (-5i32..5, 0.0..0.05f64)
            .prop_map(move |(k, u)| 0.4 * k as f64 + offset + u)
            .boxed()
    };
    broadcast_tensors(on_grid(0.0), on_grid(0.2))
}

/// A reduction over random axes: the input (made by `input` from a random
/// shape), the axes (negative or not, repeats allowed, empty meaning all)
/// and `keepdim`.
pub fn reduce_case<S, F>(input: F) -> impl Strategy<Value = (Tensor<f64>, Vec<isize>, bool)>
where
    S: Strategy<Value = Tensor<f64>>,
    F: Fn(Vec<usize>) -> S + Clone,
{
    shape_rank(1, 4, 4).prop_flat_map(move |s| {
        let r = s.len();
        let axes = prop::collection::vec((0..r, any::<bool>()), 0..=r).prop_map(move |ax| {
            ax.into_iter()
                .map(|(a, neg)| {
                    if neg {
                        a as isize - r as isize
                    } else {
                        a as isize
                    }
                })
                .collect()
        });
        (input(s), axes, any::<bool>())
    })
}

/// Deduplicated, normalised axes (empty: all axes).
pub fn norm_axes(axes: &[isize], rank: usize) -> Vec<usize> {
    let mut a: Vec<usize> = if axes.is_empty() {
        (0..rank).collect()
    } else {
        axes.iter()
            .map(|&x| {
                if x < 0 {
                    (x + rank as isize) as usize
                } else {
                    x as usize
                }
            })
            .collect()
    };
    a.sort_unstable();
    a.dedup();
    a
}

/// First-order checks of `f` at `inputs`, failing the property with the
/// check's own message: reverse mode against finite differences
/// (`gradcheck`), forward mode against finite differences (`check_jvp`),
/// and forward against reverse (the dot-product test `check_jvp_vjp`).
pub fn check1<F>(f: F, inputs: &[Tensor<f64>]) -> Result<(), TestCaseError>
where
    F: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> Var<'t, f64>,
{
    let opts = GradcheckOptions::default();
    let fail = |what: &str, e: tapegrad_autodiff::GradcheckError| {
        TestCaseError::fail(format!("{what}: {e} (inputs {:?})", shapes(inputs)))
    };
    gradcheck(&f, inputs, &opts).map_err(|e| fail("gradcheck", e))?;
    check_jvp(&f, inputs, &opts).map_err(|e| fail("check_jvp", e))?;
    check_jvp_vjp(&f, inputs, &opts).map_err(|e| fail("check_jvp_vjp", e))?;
    Ok(())
}

/// Second-order checks: `gradgradcheck` (reverse over reverse), and the
/// gradient of a forward-mode tangent computed on vars (reverse over
/// forward), both against finite differences.
pub fn check2<F>(f: F, inputs: &[Tensor<f64>]) -> Result<(), TestCaseError>
where
    F: for<'t> Fn(&'t Tape<f64>, &[Var<'t, f64>]) -> Var<'t, f64>,
{
    let opts = GradcheckOptions::default();
    gradgradcheck(&f, inputs, &opts)
        .map_err(|e| TestCaseError::fail(format!("gradgrad: {e} (inputs {:?})", shapes(inputs))))?;
    // x ↦ J(x) v for fixed random v, with tangents recorded as vars.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x7a9);
    let vs: Vec<Tensor<f64>> = inputs
        .iter()
        .map(|x| Tensor::rand_normal(x.shape(), 0.0, 1.0, &mut rng))
        .collect();
    let tangent_of_f = tapegrad_autodiff::check_fn(|tape, xs| {
        for (x, v) in xs.iter().zip(&vs) {
            tape.seed_tangent_var(*x, tape.constant(v.clone()));
        }
        let y = f(tape, xs);
        tape.tangent_var(y).unwrap_or_else(|| y * 0.0)
    });
    gradcheck(tangent_of_f, inputs, &opts).map_err(|e| {
        TestCaseError::fail(format!(
            "reverse-over-forward: {e} (inputs {:?})",
            shapes(inputs)
        ))
    })?;
    Ok(())
}

fn shapes(inputs: &[Tensor<f64>]) -> Vec<Vec<usize>> {
    inputs.iter().map(|t| t.shape().to_vec()).collect()
}

/// Asserts `a ≈ b` elementwise within `atol + rtol |b|`.
#[track_caller]
pub fn assert_close(a: &[f64], b: &[f64], rtol: f64, atol: f64) {
    assert_eq!(a.len(), b.len(), "length mismatch: {a:?} vs {b:?}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= atol + rtol * y.abs(),
            "element {i}: {x} vs {y} (all: {a:?} vs {b:?})"
        );
    }
}
