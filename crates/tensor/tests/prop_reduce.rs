//! Reductions against loops: each of sum, mean, max, min, argmax, argmin,
//! logsumexp and var over each axis (negative axes too), with and without
//! `keepdim`, on strided views; several axes at once; `sum_to`; and long rows
//! on the parallel paths.

mod common;

use common::*;
use proptest::prelude::*;
use tapegrad_tensor::Tensor;

/// Folds every line of `axis` of a row-major `x` with `f`; returns the
/// values and the `keepdim` shape (size 1 at `axis`).
fn fold_axis(
    x: &[f64],
    shape: &[usize],
    axis: usize,
    f: impl Fn(&[f64]) -> f64,
) -> (Vec<f64>, Vec<usize>) {
    let mut out_shape = shape.to_vec();
    out_shape[axis] = 1;
    let data = (0..numel(&out_shape))
        .map(|lin| {
            let mut idx = unravel(lin, &out_shape);
            let line: Vec<f64> = (0..shape[axis])
                .map(|i| {
                    idx[axis] = i;
                    x[ravel(&idx, shape)]
                })
                .collect();
            f(&line)
        })
        .collect();
    (data, out_shape)
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Index of the first maximum (the reference for `argmax`).
fn first_argmax(xs: &[f64]) -> f64 {
    let best = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    xs.iter().position(|&v| v == best).unwrap() as f64
}

/// Integer indices as an f64 tensor, to compare with the loop references.
fn as_values(i: tapegrad_tensor::IndexTensor) -> Tensor<f64> {
    Tensor::from_vec(i.to_vec().iter().map(|&v| v as f64).collect(), i.shape())
}

fn first_argmin(xs: &[f64]) -> f64 {
    let best = xs.iter().cloned().fold(f64::INFINITY, f64::min);
    xs.iter().position(|&v| v == best).unwrap() as f64
}

fn logsumexp(xs: &[f64]) -> f64 {
    let m = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    m + xs.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
}

fn var(xs: &[f64], correction: usize) -> f64 {
    let mu = mean(xs);
    xs.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / (xs.len() as f64 - correction as f64)
}

/// A reduction over one axis (`axis`, `keepdim`) and its reference on one line.
type Reduction = fn(&Tensor<f64>, isize, bool) -> Tensor<f64>;
type Reference = fn(&[f64]) -> f64;

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_reduction_over_every_axis_matches_loop(
        s in shape(1, 4, 5), k in kind(), keepdim in any::<bool>(), negative in any::<bool>(),
        seed in any::<u64>(),
    ) {
        // Whole numbers make ties, which argmax/argmin must break to the first index.
        let x = quantized(numel(&s), seed);
        let t = view::<f64>(&x, &s, k);
        let ops: Vec<(&str, Reduction, Reference)> = vec![
            ("sum", |t, a, kd| if kd { t.sum_keepdim(&[a]) } else { t.sum(&[a]) }, |xs| xs.iter().sum()),
            ("mean", |t, a, kd| if kd { t.mean_keepdim(&[a]) } else { t.mean(&[a]) }, mean),
            ("max", |t, a, kd| if kd { t.max_keepdim(&[a]) } else { t.max(&[a]) }, |xs| xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max)),
            ("min", |t, a, kd| if kd { t.min_keepdim(&[a]) } else { t.min(&[a]) }, |xs| xs.iter().cloned().fold(f64::INFINITY, f64::min)),
            ("argmax", |t, a, kd| as_values(if kd { t.argmax_keepdim(a) } else { t.argmax(a) }), first_argmax),
            ("argmin", |t, a, kd| as_values(if kd { t.argmin_keepdim(a) } else { t.argmin(a) }), first_argmin),
            ("logsumexp", |t, a, kd| if kd { t.logsumexp_keepdim(&[a]) } else { t.logsumexp(&[a]) }, logsumexp),
            ("var", |t, a, kd| if kd { t.var_keepdim(&[a]) } else { t.var(&[a]) }, |xs| var(xs, 1)),
            ("var (biased)", |t, a, kd| if kd { t.var_with_correction_keepdim(&[a], 0) } else { t.var_with_correction(&[a], 0) }, |xs| var(xs, 0)),
        ];
        for axis in 0..s.len() {
            let a = if negative { axis as isize - s.len() as isize } else { axis as isize };
            for (name, op, f) in &ops {
                let (want, mut want_shape) = fold_axis(&x, &s, axis, f);
                if !keepdim {
                    want_shape.remove(axis);
                }
                let got = op(&t, a, keepdim);
                let what = format!("{name} over axis {a} of {s:?}, keepdim {keepdim}");
                prop_assert_eq!(got.shape(), want_shape.as_slice(), "{}", what);
                assert_close(&got.to_vec(), &want, 1e-13, &what);
            }
        }
    }

    #[test]
    fn sum_and_mean_over_several_axes_match_loop(
        s in shape(0, 4, 4), mask in any::<u8>(), k in kind(), keepdim in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let x = values(numel(&s), seed);
        let axes: Vec<usize> = (0..s.len()).filter(|d| mask >> d & 1 == 1).collect();
        // No axes means all of them.
        let reduced: Vec<usize> = if axes.is_empty() { (0..s.len()).collect() } else { axes.clone() };
        let mut want = x.clone();
        let mut cur = s.clone();
        for &d in &reduced {
            let (w, sh) = fold_axis(&want, &cur, d, |xs| xs.iter().sum());
            want = w;
            cur = sh;
        }
        let want_shape: Vec<usize> = if keepdim {
            cur
        } else {
            (0..s.len()).filter(|d| !reduced.contains(d)).map(|d| s[d]).collect()
        };
        let t = view::<f64>(&x, &s, k);
        let ax: Vec<isize> = axes.iter().map(|&d| d as isize).collect();
        let got = if keepdim { t.sum_keepdim(&ax) } else { t.sum(&ax) };
        prop_assert_eq!(got.shape(), want_shape.as_slice());
        assert_close(&got.to_vec(), &want, 1e-13, "sum");
        let count = reduced.iter().map(|&d| s[d]).product::<usize>() as f64;
        let want_mean: Vec<f64> = want.iter().map(|v| v / count).collect();
        assert_close(&(if keepdim { t.mean_keepdim(&ax) } else { t.mean(&ax) }).to_vec(), &want_mean, 1e-13, "mean");
    }

    #[test]
    fn sum_to_undoes_broadcast_to_by_summing(
        out in shape(0, 4, 4), drop in 0..=4usize, ones in any::<u32>(), seed in any::<u64>(),
    ) {
        let target = broadcastable(&out, drop, ones);
        let x = values(numel(&out), seed);
        // want[j] = sum of x[i] over every output index i that reads j.
        let mut want = vec![0.0; numel(&target)];
        for (lin, v) in x.iter().enumerate() {
            let j = ravel(&broadcast_index(&unravel(lin, &out), &target), &target);
            want[j] += v;
        }
        let got = Tensor::<f64>::from_vec(x, &out).sum_to(&target);
        prop_assert_eq!(got.shape(), target.as_slice());
        assert_close(&got.to_vec(), &want, 1e-13, "sum_to");
    }
}

#[test]
fn long_reductions_on_the_parallel_paths_match_loop() {
    // One long row (split into chunks, partial sums folded again).
    let n = 3 << 17;
    assert!(n >= tapegrad_tensor::tuning::PARALLEL_THRESHOLD);
    let x = values(n, 5);
    let t = Tensor::<f64>::from_vec(x.clone(), &[n]);
    assert_close(&[t.sum_all().item()], &[x.iter().sum()], 1e-12, "sum_all");
    let max = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(t.max(&[0]).item(), max);
    assert_close(
        &[t.logsumexp(&[0]).item()],
        &[logsumexp(&x)],
        1e-12,
        "logsumexp",
    );
    // Many rows in parallel, read through a transposed, sliced view.
    let s = [600, 500];
    const _: () = assert!(600 * 500 > tapegrad_tensor::tuning::PARALLEL_THRESHOLD);
    let x = values(600 * 500, 6);
    let v = view::<f64>(&x, &s, Kind::PermutedNarrowed);
    for axis in 0..2 {
        let (want, _) = fold_axis(&x, &s, axis, |xs| xs.iter().sum());
        assert_close(&v.sum(&[axis as isize]).to_vec(), &want, 1e-12, "rows");
        let (want, _) = fold_axis(&x, &s, axis, first_argmax);
        assert_eq!(
            as_values(v.argmax(axis as isize)).to_vec(),
            want,
            "argmax rows"
        );
    }
}

/// Sum, max and min over the leading axes of a contiguous tensor stream
/// whole rows into the output (`fold_leading`); wide enough here for its
/// parallel column blocks, and with a NaN that must win max and min.
#[test]
fn leading_axis_reductions_of_contiguous_tensors_match_loop() {
    for s in [vec![3, 40, 2100], vec![130, 2100], vec![5, 9]] {
        let n: usize = s.iter().product();
        let mut x = values(n, 7);
        x[n / 2] = f64::NAN;
        let t = Tensor::<f64>::from_vec(x.clone(), &s);
        let lead: Vec<isize> = (0..s.len() as isize - 1).collect();
        // Fold the leading axes one at a time with the reference loop.
        let (mut want_sum, mut want_max, mut want_min, mut shape) =
            (x.clone(), x.clone(), x.clone(), s.clone());
        while shape.len() > 1 {
            want_sum = fold_axis(&want_sum, &shape, 0, |xs| xs.iter().sum()).0;
            want_max = fold_axis(&want_max, &shape, 0, |xs| {
                xs.iter().cloned().fold(
                    f64::NEG_INFINITY,
                    |m, x| if x > m || x.is_nan() { x } else { m },
                )
            })
            .0;
            want_min = fold_axis(&want_min, &shape, 0, |xs| {
                xs.iter().cloned().fold(
                    f64::INFINITY,
                    |m, x| if x < m || x.is_nan() { x } else { m },
                )
            })
            .0;
            shape.remove(0);
        }
        assert_close(&t.sum(&lead).to_vec(), &want_sum, 1e-12, "sum");
        let bits = |v: Vec<f64>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(t.max(&lead).to_vec()), bits(want_max), "max");
        assert_eq!(bits(t.min(&lead).to_vec()), bits(want_min), "min");
        assert_eq!(t.sum_keepdim(&lead).shape().len(), s.len(), "keepdim");
    }
}

#[test]
fn sum_over_an_empty_axis_is_zero_and_argmax_over_it_panics() {
    let t = Tensor::<f32>::zeros(&[3, 0]);
    assert_eq!(t.sum(&[1]).to_vec(), vec![0.0; 3]);
    let r = std::panic::catch_unwind(|| t.argmax(1));
    assert!(r.is_err());
}

/// Regression: max/min over an empty axis used to return ∓inf; like PyTorch
/// they panic, while logsumexp of an empty row is -inf (ln of an empty sum).
#[test]
fn max_over_an_empty_axis_panics_as_documented() {
    let t = Tensor::<f32>::zeros(&[3, 0]);
    let r = std::panic::catch_unwind(|| t.max(&[1]));
    assert!(
        r.is_err(),
        "max over an empty axis returned {:?}",
        r.unwrap()
    );
}

#[test]
#[should_panic(expected = "min: cannot reduce over an empty axis of [3, 0]")]
fn min_over_an_empty_axis_panics() {
    Tensor::<f32>::zeros(&[3, 0]).min(&[1]);
}

#[test]
fn logsumexp_over_an_empty_axis_is_neg_inf() {
    let l = Tensor::<f64>::zeros(&[3, 0]).logsumexp_keepdim(&[1]);
    assert_eq!(l.shape(), &[3, 1]);
    assert!(l.to_vec().iter().all(|&v| v == f64::NEG_INFINITY));
}
