//! Pooling against direct loops for random shapes, windows, strides,
//! paddings and dilations; gradients against finite differences on inputs
//! with distinct values (so no window has a tie within the finite-difference
//! step); and the tie rule (the gradient split evenly among tied maxima).

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tapegrad_autodiff::{check_fn, gradcheck, ConvParams, GradcheckOptions, Tape};
use tapegrad_nn::conv::{
    adaptive_avg_pool2d, avg_pool2d, max_pool2d, AdaptiveAvgPool2d, AvgPool2d, MaxPool2d,
};
use tapegrad_nn::Module;
use tapegrad_tensor::Tensor;

mod common;
use common::assert_close;

/// One random pooling problem.
#[derive(Clone, Debug)]
struct Case {
    shape: [usize; 4],
    p: ConvParams,
    seed: u64,
}

impl Case {
    fn out(input: usize, k: usize, s: usize, p: usize, d: usize) -> usize {
        (0..)
            .take_while(|o| o * s + d * (k - 1) < input + 2 * p)
            .count()
    }

    fn out_hw(&self) -> (usize, usize) {
        let (p, s) = (&self.p, &self.shape);
        (
            Self::out(s[2], p.kernel.0, p.stride.0, p.padding.0, p.dilation.0),
            Self::out(s[3], p.kernel.1, p.stride.1, p.padding.1, p.dilation.1),
        )
    }

    /// Distinct values: a shuffled `0, 0.1, 0.2, ..` centred on 0, so any two
    /// differ by at least 0.1, far above the finite-difference step.
    fn distinct(&self) -> Tensor<f64> {
        let n: usize = self.shape.iter().product();
        let mut v: Vec<f64> = (0..n).map(|i| 0.1 * i as f64 - 0.05 * n as f64).collect();
        v.shuffle(&mut StdRng::seed_from_u64(self.seed));
        Tensor::from_vec(v, &self.shape)
    }

    /// The taps of output `(i, j)`: `Some(value)` inside the image, `None` in the padding.
    fn window(&self, x: &Tensor<f64>, n: usize, c: usize, i: usize, j: usize) -> Vec<Option<f64>> {
        let p = &self.p;
        let mut taps = Vec::new();
        for ki in 0..p.kernel.0 {
            for kj in 0..p.kernel.1 {
                let y = (i * p.stride.0 + ki * p.dilation.0) as isize - p.padding.0 as isize;
                let xx = (j * p.stride.1 + kj * p.dilation.1) as isize - p.padding.1 as isize;
                let inside = y >= 0
                    && xx >= 0
                    && (y as usize) < self.shape[2]
                    && (xx as usize) < self.shape[3];
                taps.push(inside.then(|| x.get(&[n, c, y as usize, xx as usize])));
            }
        }
        taps
    }

    /// `reduce(window)` for every output position, by loops.
    fn direct(&self, x: &Tensor<f64>, reduce: impl Fn(&[Option<f64>]) -> f64) -> Tensor<f64> {
        let (oh, ow) = self.out_hw();
        let [n, c, _, _] = self.shape;
        let mut out = Vec::with_capacity(n * c * oh * ow);
        for ni in 0..n {
            for ci in 0..c {
                for i in 0..oh {
                    for j in 0..ow {
                        out.push(reduce(&self.window(x, ni, ci, i, j)));
                    }
                }
            }
        }
        Tensor::from_vec(out, &[n, c, oh, ow])
    }
}

/// Random pools: padding at most half the kernel, window inside the padded input.
fn case(max_hw: usize) -> impl Strategy<Value = Case> {
    let pair = |lo: usize, hi: usize| (lo..=hi, lo..=hi);
    (
        1..=2usize,
        1..=3usize,
        pair(1, max_hw),
        pair(1, 3),
        pair(1, 3),
        pair(0, 1),
        pair(1, 2),
        any::<u64>(),
    )
        .prop_map(|(n, c, hw, k, s, pad, d, seed)| Case {
            shape: [n, c, hw.0, hw.1],
            p: ConvParams {
                kernel: k,
                stride: s,
                padding: (pad.0.min(k.0 / 2), pad.1.min(k.1 / 2)),
                dilation: d,
            },
            seed,
        })
        .prop_filter("window fits the padded input", |c| {
            let p = &c.p;
            p.dilation.0 * (p.kernel.0 - 1) < c.shape[2] + 2 * p.padding.0
                && p.dilation.1 * (p.kernel.1 - 1) < c.shape[3] + 2 * p.padding.1
        })
        .prop_filter("every window has a tap inside the image", |c| {
            let x = Tensor::zeros(&c.shape);
            let (oh, ow) = c.out_hw();
            (0..oh).all(|i| (0..ow).all(|j| c.window(&x, 0, 0, i, j).iter().any(Option::is_some)))
        })
}

fn max_of(taps: &[Option<f64>]) -> f64 {
    taps.iter()
        .flatten()
        .copied()
        .fold(f64::NEG_INFINITY, f64::max)
}

fn mean_with_pad(taps: &[Option<f64>]) -> f64 {
    taps.iter().map(|t| t.unwrap_or(0.0)).sum::<f64>() / taps.len() as f64
}

fn mean_inside(taps: &[Option<f64>]) -> f64 {
    let inside: Vec<f64> = taps.iter().flatten().copied().collect();
    inside.iter().sum::<f64>() / inside.len() as f64
}

/// Same shape and [`assert_close`] to 1e-12.
#[track_caller]
fn assert_same_shape_close(got: &Tensor<f64>, want: &Tensor<f64>, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes");
    assert_close(&got.to_vec(), &want.to_vec(), 1e-12, what);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn max_pool_matches_loops(case in case(7), negative in any::<bool>()) {
        // All-negative inputs check that zero padding never wins the max.
        let x = if negative { case.distinct().add_scalar(-1e3) } else { case.distinct() };
        let tape = Tape::<f64>::new();
        let y = max_pool2d(tape.constant(x.clone()), case.p).value();
        assert_same_shape_close(&y, &case.direct(&x, max_of), "max_pool2d");
    }

    #[test]
    fn avg_pool_matches_loops(case in case(7), include_pad in any::<bool>()) {
        let x = case.distinct();
        let tape = Tape::<f64>::new();
        let y = avg_pool2d(tape.constant(x.clone()), case.p, include_pad).value();
        let want = case.direct(&x, if include_pad { mean_with_pad } else { mean_inside });
        assert_same_shape_close(&y, &want, "avg_pool2d");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn max_pool_gradcheck(case in case(5)) {
        let p = case.p;
        let r = gradcheck(check_fn(move |_, v| max_pool2d(v[0], p)), &[case.distinct()], &GradcheckOptions::default());
        prop_assert!(r.is_ok(), "{:?}: {}", case, r.unwrap_err());
    }

    #[test]
    fn avg_pool_gradcheck(case in case(5), include_pad in any::<bool>()) {
        let p = case.p;
        let r = gradcheck(check_fn(move |_, v| avg_pool2d(v[0], p, include_pad)), &[case.distinct()], &GradcheckOptions::default());
        prop_assert!(r.is_ok(), "{:?}: {}", case, r.unwrap_err());
    }

    #[test]
    fn adaptive_avg_pool_matches_loops_and_gradcheck(
        h in 1..=7usize, w in 1..=7usize, oh in 1..=4usize, ow in 1..=4usize, seed in any::<u64>()
    ) {
        let x = Tensor::<f64>::rand_normal(&[2, 2, h, w], 0.0, 1.0, &mut StdRng::seed_from_u64(seed));
        let tape = Tape::new();
        let y = adaptive_avg_pool2d(tape.constant(x.clone()), (oh, ow)).value();
        // PyTorch's bins: rows floor(i h / oh) .. ceil((i + 1) h / oh), columns alike.
        let bin = |i: usize, size: usize, out: usize| (i * size / out, ((i + 1) * size).div_ceil(out));
        let mut want = Vec::new();
        for n in 0..2 {
            for c in 0..2 {
                for i in 0..oh {
                    for j in 0..ow {
                        let ((r0, r1), (c0, c1)) = (bin(i, h, oh), bin(j, w, ow));
                        let mut s = 0.0;
                        for r in r0..r1 {
                            for cc in c0..c1 {
                                s += x.get(&[n, c, r, cc]);
                            }
                        }
                        want.push(s / ((r1 - r0) * (c1 - c0)) as f64);
                    }
                }
            }
        }
        assert_same_shape_close(&y, &Tensor::from_vec(want, &[2, 2, oh, ow]), "adaptive_avg_pool2d");
        let r = gradcheck(check_fn(move |_, v| adaptive_avg_pool2d(v[0], (oh, ow))), &[x], &GradcheckOptions::default());
        prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    }
}

#[test]
fn max_pool_splits_the_gradient_evenly_among_ties() {
    // Window 1 (left 2x2): four equal values, each gets 1/4.
    // Window 2 (right 2x2): two tied maxima 5, each gets 1/2; the others 0.
    let x = Tensor::<f64>::from_vec(vec![1.0, 1.0, 5.0, 2.0, 1.0, 1.0, 3.0, 5.0], &[1, 1, 2, 4]);
    let tape = Tape::new();
    let xv = tape.var(x);
    let y = max_pool2d(xv, MaxPool2d::new(2).params());
    assert_eq!(y.value().to_vec(), vec![1.0, 5.0]);
    let g = y.sum_all().backward();
    assert_eq!(
        g[xv].to_vec(),
        vec![0.25, 0.25, 0.5, 0.0, 0.25, 0.25, 0.0, 0.5]
    );
}

#[test]
fn overlapping_windows_add_their_gradients() {
    // 1x3 image [0, 9, 1], windows of 2 with stride 1: both pick 9, so it gets 2.
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(vec![0.0, 9.0, 1.0], &[1, 1, 1, 3]));
    let p = ConvParams {
        kernel: (1, 2),
        stride: (1, 1),
        padding: (0, 0),
        dilation: (1, 1),
    };
    let g = max_pool2d(x, p).sum_all().backward();
    assert_eq!(g[x].to_vec(), vec![0.0, 2.0, 0.0]);
}

#[test]
fn modules_in_a_model() {
    let tape = Tape::<f32>::new();
    let x = tape.constant(Tensor::arange(0.0, 2.0 * 36.0, 1.0).reshape(&[1, 2, 6, 6]));
    let y = MaxPool2d::new(3).stride(1).padding(1).forward(x);
    assert_eq!(y.shape().as_slice(), &[1, 2, 6, 6]);
    let y = AvgPool2d::new(2).forward(y);
    assert_eq!(y.shape().as_slice(), &[1, 2, 3, 3]);
    let y = AdaptiveAvgPool2d::global().forward(y);
    assert_eq!(y.shape().as_slice(), &[1, 2, 1, 1]);
    let pool: &dyn Module<f32> = &AvgPool2d::new(2).count_include_pad(false);
    assert_eq!(
        pool.describe(),
        "AvgPool2d(kernel (2, 2), stride (2, 2), count_include_pad false)"
    );
    assert_eq!(pool.num_parameters(), 0);
}

#[test]
#[should_panic(expected = "max_pool2d: padding (2, 2) must be at most half the kernel (3, 3)")]
fn padding_over_half_the_kernel_is_rejected() {
    let tape = Tape::<f32>::new();
    let x = tape.constant(Tensor::zeros(&[1, 1, 5, 5]));
    MaxPool2d::new(3).padding(2).forward(x);
}

#[test]
#[should_panic(expected = "lies entirely in the padding")]
fn windows_only_in_the_padding_are_rejected() {
    // One pixel, taps at x = -1 and x = +1: both in the padding.
    let tape = Tape::<f64>::new();
    let x = tape.constant(Tensor::ones(&[1, 1, 1, 1]));
    let p = ConvParams {
        kernel: (1, 2),
        stride: (1, 1),
        padding: (0, 1),
        dilation: (1, 2),
    };
    avg_pool2d(x, p, false);
}
