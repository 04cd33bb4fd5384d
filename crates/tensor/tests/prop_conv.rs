//! `im2col`/`col2im` against direct loops: convolution computed as
//! `weight x im2col(x)` equals a direct 7-deep convolution loop for random
//! batch, channels, size, kernel, stride, padding and dilation; `col2im` is a
//! scatter loop and the adjoint of `im2col`; `conv_output_size` counts positions.

mod common;

use common::*;
use proptest::prelude::*;
use tapegrad_tensor::{conv_output_size, Float, Tensor};

/// The values of `t` as `f64`, in logical order.
fn f64s<E: Float>(t: &Tensor<E>) -> Vec<f64> {
    t.to_vec().into_iter().map(E::to_f64).collect()
}

/// Convolutions with stride and dilation 1 half the time (the direct
/// kernels), up to 6 output channels (a partial block of 4), images up to
/// 20 wide (several tiles of positions), padding up to 3 (past the kernel:
/// the transposed op's fallback).
fn conv_ops() -> impl Strategy<Value = Conv> {
    (
        (1..=3usize, 1..=3usize, 1..=6usize),
        (1..=8usize, 1..=20usize),
        pair(1, 3),
        prop_oneof![Just((1, 1)), pair(1, 2)],
        pair(0, 3),
        prop_oneof![Just((1, 1)), pair(1, 2)],
    )
        .prop_map(|((n, c, o), hw, k, s, p, d)| Conv {
            n,
            c,
            o,
            hw,
            k,
            s,
            p,
            d,
        })
        .prop_filter("kernel must fit the padded input", |g| {
            g.d.0 * (g.k.0 - 1) < g.hw.0 + 2 * g.p.0 && g.d.1 * (g.k.1 - 1) < g.hw.1 + 2 * g.p.1
        })
}

/// Sizes of one random 2-D convolution.
#[derive(Debug, Clone)]
struct Conv {
    n: usize,
    c: usize,
    o: usize,
    hw: (usize, usize),
    k: (usize, usize),
    s: (usize, usize),
    p: (usize, usize),
    d: (usize, usize),
}

impl Conv {
    /// Output size along one axis, counted directly: positions `o` whose
    /// dilated window, starting at `o * stride - padding`, ends inside the padded input.
    fn out(input: usize, k: usize, s: usize, p: usize, d: usize) -> usize {
        (0..)
            .take_while(|o| o * s + d * (k - 1) < input + 2 * p)
            .count()
    }

    fn oh(&self) -> usize {
        Self::out(self.hw.0, self.k.0, self.s.0, self.p.0, self.d.0)
    }

    fn ow(&self) -> usize {
        Self::out(self.hw.1, self.k.1, self.s.1, self.p.1, self.d.1)
    }

    /// Input value at a possibly padded coordinate (0 in the padding).
    fn at(&self, x: &[f64], n: usize, c: usize, y: isize, xx: isize) -> f64 {
        let (h, w) = (self.hw.0 as isize, self.hw.1 as isize);
        if y < 0 || y >= h || xx < 0 || xx >= w {
            return 0.0;
        }
        x[ravel(
            &[n, c, y as usize, xx as usize],
            &[self.n, self.c, self.hw.0, self.hw.1],
        )]
    }

    /// Direct convolution `[N, C, H, W] * [O, C, kh, kw] -> [N, O, oh, ow]`.
    fn direct(&self, x: &[f64], w: &[f64]) -> Vec<f64> {
        let (oh, ow) = (self.oh(), self.ow());
        let mut out = Vec::new();
        for n in 0..self.n {
            for o in 0..self.o {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let mut acc = 0.0;
                        for c in 0..self.c {
                            for i in 0..self.k.0 {
                                for j in 0..self.k.1 {
                                    let y =
                                        (oy * self.s.0 + i * self.d.0) as isize - self.p.0 as isize;
                                    let xx =
                                        (ox * self.s.1 + j * self.d.1) as isize - self.p.1 as isize;
                                    let wi =
                                        ravel(&[o, c, i, j], &[self.o, self.c, self.k.0, self.k.1]);
                                    acc += w[wi] * self.at(x, n, c, y, xx);
                                }
                            }
                        }
                        out.push(acc);
                    }
                }
            }
        }
        out
    }

    /// `col2im` by scattering every column entry onto its pixel.
    fn fold(&self, cols: &[f64]) -> Vec<f64> {
        let (oh, ow) = (self.oh(), self.ow());
        let (h, w) = self.hw;
        let mut img = vec![0.0; self.n * self.c * h * w];
        let rows = self.c * self.k.0 * self.k.1;
        for (lin, v) in cols.iter().enumerate() {
            let [n, r, l] = unravel(lin, &[self.n, rows, oh * ow])[..] else {
                unreachable!()
            };
            let (c, i, j) = (
                r / (self.k.0 * self.k.1),
                r / self.k.1 % self.k.0,
                r % self.k.1,
            );
            let y = ((l / ow) * self.s.0 + i * self.d.0) as isize - self.p.0 as isize;
            let x = ((l % ow) * self.s.1 + j * self.d.1) as isize - self.p.1 as isize;
            if y >= 0 && (y as usize) < h && x >= 0 && (x as usize) < w {
                img[ravel(&[n, c, y as usize, x as usize], &[self.n, self.c, h, w])] += v;
            }
        }
        img
    }

    /// Calls `f(n, o, c, i, j, oy, ox, input index)` for every product
    /// term of the convolution that reads the image (not the padding).
    fn for_each_term(&self, mut f: impl FnMut([usize; 7], usize)) {
        let (oh, ow) = (self.oh(), self.ow());
        for n in 0..self.n {
            for o in 0..self.o {
                for oy in 0..oh {
                    for ox in 0..ow {
                        for c in 0..self.c {
                            for i in 0..self.k.0 {
                                for j in 0..self.k.1 {
                                    let y =
                                        (oy * self.s.0 + i * self.d.0) as isize - self.p.0 as isize;
                                    let x =
                                        (ox * self.s.1 + j * self.d.1) as isize - self.p.1 as isize;
                                    let (h, w) = (self.hw.0 as isize, self.hw.1 as isize);
                                    if y >= 0 && y < h && x >= 0 && x < w {
                                        let at = ravel(
                                            &[n, c, y as usize, x as usize],
                                            &[self.n, self.c, self.hw.0, self.hw.1],
                                        );
                                        f([n, o, c, i, j, oy, ox], at);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `conv_transpose2d` by scattering `w g` onto the pixels each term reads.
    fn scatter_input_grad(&self, g: &[f64], w: &[f64]) -> Vec<f64> {
        let mut dx = vec![0.0; self.n * self.c * self.hw.0 * self.hw.1];
        let (oh, ow) = (self.oh(), self.ow());
        self.for_each_term(|[n, o, c, i, j, oy, ox], at| {
            let wi = ravel(&[o, c, i, j], &[self.o, self.c, self.k.0, self.k.1]);
            dx[at] += w[wi] * g[ravel(&[n, o, oy, ox], &[self.n, self.o, oh, ow])];
        });
        dx
    }

    /// `conv2d_weight_grad` by summing `g x` over every term.
    fn sum_weight_grad(&self, x: &[f64], g: &[f64]) -> Vec<f64> {
        let mut dw = vec![0.0; self.o * self.c * self.k.0 * self.k.1];
        let (oh, ow) = (self.oh(), self.ow());
        self.for_each_term(|[n, o, c, i, j, oy, ox], at| {
            let wi = ravel(&[o, c, i, j], &[self.o, self.c, self.k.0, self.k.1]);
            dw[wi] += x[at] * g[ravel(&[n, o, oy, ox], &[self.n, self.o, oh, ow])];
        });
        dw
    }

    /// The three convolution ops on `E` (inputs laid out as `kind`s say),
    /// against the loops, to `tol`.
    fn check_ops<E: Float>(&self, seed: u64, kinds: [Kind; 3], tol: f64) {
        let (oh, ow) = (self.oh(), self.ow());
        let xs = [self.n, self.c, self.hw.0, self.hw.1];
        let ws = [self.o, self.c, self.k.0, self.k.1];
        let gs = [self.n, self.o, oh, ow];
        let x = rounded::<E>(&values(numel(&xs), seed));
        let w = rounded::<E>(&values(numel(&ws), seed + 1));
        let g = rounded::<E>(&values(numel(&gs), seed + 2));
        let (xt, wt, gt) = (
            view::<E>(&x, &xs, kinds[0]),
            view::<E>(&w, &ws, kinds[1]),
            view::<E>(&g, &gs, kinds[2]),
        );
        let y = xt.conv2d(&wt, None, self.s, self.p, self.d);
        assert_eq!(y.shape(), &gs[..]);
        let want = self.direct(&x, &w);
        assert_close(&f64s(&y), &want, tol, "conv2d");
        // With a bias (strided: every other element of a longer vector).
        let b = rounded::<E>(&values(self.o, seed + 3));
        let spread: Vec<f64> = b.iter().flat_map(|&v| [v, f64::NAN]).collect();
        let bt = view::<E>(&spread, &[2 * self.o], Kind::Contiguous)
            .reshape(&[self.o, 2])
            .narrow(1, 0, 1)
            .reshape(&[self.o]);
        let yb = xt.conv2d(&wt, Some(&bt), self.s, self.p, self.d);
        let plane = oh * ow;
        let want_b: Vec<f64> = want
            .iter()
            .enumerate()
            .map(|(k, v)| v + b[k / plane % self.o])
            .collect();
        assert_close(&f64s(&yb), &want_b, tol, "conv2d with bias");
        let dx = gt.conv_transpose2d(&wt, self.hw, self.s, self.p, self.d);
        assert_eq!(dx.shape(), &xs[..]);
        assert_close(
            &f64s(&dx),
            &self.scatter_input_grad(&g, &w),
            tol,
            "conv_transpose2d",
        );
        let dw = xt.conv2d_weight_grad(&gt, self.k, self.s, self.p, self.d);
        assert_eq!(dw.shape(), &ws[..]);
        assert_close(
            &f64s(&dw),
            &self.sum_weight_grad(&x, &g),
            tol,
            "conv2d_weight_grad",
        );
    }

    fn im2col(&self, x: &Tensor<f64>) -> Tensor<f64> {
        x.im2col(self.k, self.s, self.p, self.d)
    }

    fn col2im(&self, cols: &Tensor<f64>) -> Tensor<f64> {
        cols.col2im(self.hw, self.k, self.s, self.p, self.d)
    }
}

fn pair(lo: usize, hi: usize) -> impl Strategy<Value = (usize, usize)> {
    (lo..=hi, lo..=hi)
}

fn conv() -> impl Strategy<Value = Conv> {
    (
        (1..=3usize, 1..=3usize, 1..=3usize),
        pair(1, 7),
        pair(1, 3),
        pair(1, 3),
        pair(0, 2),
        pair(1, 2),
    )
        .prop_map(|((n, c, o), hw, k, s, p, d)| Conv {
            n,
            c,
            o,
            hw,
            k,
            s,
            p,
            d,
        })
        .prop_filter("kernel must fit the padded input", |g| {
            g.d.0 * (g.k.0 - 1) < g.hw.0 + 2 * g.p.0 && g.d.1 * (g.k.1 - 1) < g.hw.1 + 2 * g.p.1
        })
}

/// `[N, C, H, W]` holding `x`, either contiguous or a permuted view of an
/// NHWC buffer (channels-last), as a layer might receive it.
fn input(g: &Conv, x: &[f64], channels_last: bool) -> Tensor<f64> {
    let nchw = [g.n, g.c, g.hw.0, g.hw.1];
    if !channels_last {
        return Tensor::from_vec(x.to_vec(), &nchw);
    }
    let nhwc = [g.n, g.hw.0, g.hw.1, g.c];
    let data = (0..x.len())
        .map(|lin| {
            let [n, y, xx, c] = unravel(lin, &nhwc)[..] else {
                unreachable!()
            };
            x[ravel(&[n, c, y, xx], &nchw)]
        })
        .collect();
    Tensor::from_vec(data, &nhwc).permute(&[0, 3, 1, 2])
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn conv_as_im2col_matmul_equals_direct_loop(g in conv(), channels_last in any::<bool>(), seed in any::<u64>()) {
        let x = values(g.n * g.c * g.hw.0 * g.hw.1, seed);
        let w = values(g.o * g.c * g.k.0 * g.k.1, seed + 1);
        let cols = g.im2col(&input(&g, &x, channels_last));
        let (oh, ow) = (g.oh(), g.ow());
        prop_assert_eq!(cols.shape(), &[g.n, g.c * g.k.0 * g.k.1, oh * ow][..]);
        prop_assert_eq!(conv_output_size(g.hw.0, g.k.0, g.s.0, g.p.0, g.d.0), oh);
        prop_assert_eq!(conv_output_size(g.hw.1, g.k.1, g.s.1, g.p.1, g.d.1), ow);
        let wt = Tensor::from_vec(w.clone(), &[g.o, g.c * g.k.0 * g.k.1]);
        let out = wt.matmul(&cols).reshape(&[g.n, g.o, oh, ow]);
        assert_close(&out.to_vec(), &g.direct(&x, &w), 1e-13, "conv");
    }

    #[test]
    fn col2im_is_a_scatter_and_the_adjoint_of_im2col(g in conv(), seed in any::<u64>()) {
        let x = values(g.n * g.c * g.hw.0 * g.hw.1, seed);
        let cols_shape = [g.n, g.c * g.k.0 * g.k.1, g.oh() * g.ow()];
        let y = values(numel(&cols_shape), seed + 1);
        let yt = Tensor::from_vec(y.clone(), &cols_shape);
        let folded = g.col2im(&yt);
        prop_assert_eq!(folded.shape(), &[g.n, g.c, g.hw.0, g.hw.1][..]);
        assert_close(&folded.to_vec(), &g.fold(&y), 1e-13, "col2im");
        // <im2col(x), y> = <x, col2im(y)>.
        let lhs = dot(&g.im2col(&input(&g, &x, false)).to_vec(), &y);
        let rhs = dot(&x, &folded.to_vec());
        assert_close(&[lhs], &[rhs], 1e-12, "adjoint");
        // col2im of a transposed view reads it in logical order.
        let yt_view = Tensor::from_vec(yt.transpose(1, 2).to_vec(), &[g.n, cols_shape[2], cols_shape[1]]).transpose(1, 2);
        assert_close(&g.col2im(&yt_view).to_vec(), &folded.to_vec(), 0.0, "col2im of a view");
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn conv2d_and_its_two_adjoints_equal_the_loops_f64(
        g in conv_ops(), kinds in [kind(), kind(), kind()], seed in any::<u64>()
    ) {
        g.check_ops::<f64>(seed, kinds, 1e-12);
    }

    #[test]
    fn conv2d_and_its_two_adjoints_equal_the_loops_f32(
        g in conv_ops(), kinds in [kind(), kind(), kind()], seed in any::<u64>()
    ) {
        // Sums of up to 3 * 3 * 3 products of values below 2 (and, for the
        // weight's gradient, 3 * 8 * 20 of them), rounded once per term.
        g.check_ops::<f32>(seed, kinds, 2e-5);
    }
}

proptest! {
    #![proptest_config(config())]

    /// Regression: a broadcast operand (strides 0, as the gradient of
    /// `y.sum_all()` reaches the convolution) takes the fill paths of the
    /// padded copies; each op must give exactly what it gives on the
    /// broadcast's contiguous copy.
    #[test]
    fn conv_ops_on_broadcast_operands_equal_them_on_copies(
        g in conv_ops(), seed in any::<u64>(), whole in any::<bool>()
    ) {
        let (oh, ow) = (g.oh(), g.ow());
        // A scalar broadcast to the whole shape, or one row per (image, channel).
        let spread = |shape: [usize; 4], seed: u64| {
            let small = if whole { [1, 1, 1, 1] } else { [shape[0], shape[1], 1, 1] };
            let v = values(numel(&small), seed);
            Tensor::from_vec(v, &small).broadcast_to(&shape)
        };
        let x = spread([g.n, g.c, g.hw.0, g.hw.1], seed);
        let gy = spread([g.n, g.o, oh, ow], seed + 2);
        let w = Tensor::from_vec(values(g.o * g.c * g.k.0 * g.k.1, seed + 1), &[g.o, g.c, g.k.0, g.k.1]);
        let (xc, gc) = (x.contiguous(), gy.contiguous());
        let same = |a: &Tensor<f64>, b: &Tensor<f64>, op: &str| assert_close(&a.to_vec(), &b.to_vec(), 0.0, op);
        same(&x.conv2d(&w, None, g.s, g.p, g.d), &xc.conv2d(&w, None, g.s, g.p, g.d), "conv2d");
        same(
            &gy.conv_transpose2d(&w, g.hw, g.s, g.p, g.d),
            &gc.conv_transpose2d(&w, g.hw, g.s, g.p, g.d),
            "conv_transpose2d",
        );
        same(
            &x.conv2d_weight_grad(&gy, g.k, g.s, g.p, g.d),
            &xc.conv2d_weight_grad(&gc, g.k, g.s, g.p, g.d),
            "conv2d_weight_grad",
        );
    }
}

/// The direct kernels on the layer of `benches/conv.rs` (cut to 3 images):
/// 16 channels, 28 x 28, 32 filters of 3 x 3, padding 1, in f32, against
/// the loops: every tile, every block of output channels.
#[test]
fn direct_kernels_on_the_bench_layer_equal_the_loops() {
    let g = Conv {
        n: 3,
        c: 16,
        o: 32,
        hw: (28, 28),
        k: (3, 3),
        s: (1, 1),
        p: (1, 1),
        d: (1, 1),
    };
    g.check_ops::<f32>(5, [Kind::Contiguous; 3], 1e-4);
    g.check_ops::<f64>(6, [Kind::Contiguous, Kind::Narrowed, Kind::Permuted], 1e-12);
}

#[test]
fn large_convolution_on_the_parallel_path_matches_direct_loop() {
    // 2 x 8 x 32 x 32 input, 3x3 kernel, stride 1, padding 1: im2col is
    // [2, 72, 1024] (147k elements), col2im folds 2 x 8 planes in parallel.
    let g = Conv {
        n: 2,
        c: 8,
        o: 4,
        hw: (32, 32),
        k: (3, 3),
        s: (1, 1),
        p: (1, 1),
        d: (1, 1),
    };
    let x = values(2 * 8 * 32 * 32, 9);
    let w = values(4 * 8 * 9, 10);
    let cols = g.im2col(&input(&g, &x, true));
    let out = Tensor::from_vec(w.clone(), &[4, 72]).matmul(&cols);
    assert_close(&out.to_vec(), &g.direct(&x, &w), 1e-13, "conv");
    assert_close(
        &g.col2im(&cols).to_vec(),
        &g.fold(&cols.to_vec()),
        1e-13,
        "col2im",
    );
}

#[test]
fn conv_output_size_counts_positions() {
    for input in 1..9 {
        for k in 1..4 {
            for s in 1..4 {
                for p in 0..3 {
                    for d in 1..3 {
                        if d * (k - 1) < input + 2 * p {
                            assert_eq!(
                                conv_output_size(input, k, s, p, d),
                                Conv::out(input, k, s, p, d)
                            );
                        }
                    }
                }
            }
        }
    }
}
