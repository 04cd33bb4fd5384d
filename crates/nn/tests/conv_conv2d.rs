//! `conv2d` / `Conv2d` against a direct 7-deep convolution loop for random
//! batch, channels, groups, image size, kernel, stride, padding and
//! dilation; gradients with respect to the input, weight and bias against
//! finite differences (and second order); the module path against the
//! functional one; PyTorch's initialisation bounds; shape errors.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tapegrad_autodiff::{check_fn, gradcheck, gradgradcheck, ConvParams, GradcheckOptions, Tape};
use tapegrad_nn::conv::{conv2d, Conv2d, Conv2dConfig};
use tapegrad_nn::Module;
use tapegrad_tensor::Tensor;

mod common;
use common::assert_close;

/// One random grouped convolution.
#[derive(Clone, Debug)]
struct Case {
    n: usize,
    groups: usize,
    /// Input channels per group.
    cg: usize,
    /// Output channels per group.
    og: usize,
    hw: (usize, usize),
    p: ConvParams,
    seed: u64,
}

impl Case {
    fn c(&self) -> usize {
        self.cg * self.groups
    }
    fn o(&self) -> usize {
        self.og * self.groups
    }
    /// Output size along one axis, counted: positions whose dilated window
    /// (first tap at `o stride - padding`) ends inside the padded input.
    fn out(input: usize, k: usize, s: usize, p: usize, d: usize) -> usize {
        (0..)
            .take_while(|o| o * s + d * (k - 1) < input + 2 * p)
            .count()
    }
    fn out_hw(&self) -> (usize, usize) {
        let p = &self.p;
        (
            Self::out(self.hw.0, p.kernel.0, p.stride.0, p.padding.0, p.dilation.0),
            Self::out(self.hw.1, p.kernel.1, p.stride.1, p.padding.1, p.dilation.1),
        )
    }
    /// Input `[N, C, H, W]`, weight `[O, C/g, kh, kw]`, bias `[O]`, all N(0, 1).
    fn tensors(&self) -> (Tensor<f64>, Tensor<f64>, Tensor<f64>) {
        let mut rng = StdRng::seed_from_u64(self.seed);
        let (k, (h, w)) = (self.p.kernel, self.hw);
        let x = Tensor::rand_normal(&[self.n, self.c(), h, w], 0.0, 1.0, &mut rng);
        let wt = Tensor::rand_normal(&[self.o(), self.cg, k.0, k.1], 0.0, 1.0, &mut rng);
        let b = Tensor::rand_normal(&[self.o()], 0.0, 1.0, &mut rng);
        (x, wt, b)
    }
}

/// Random geometries whose dilated kernel fits the padded input.
fn case(max_hw: usize) -> impl Strategy<Value = Case> {
    let pair = |lo: usize, hi: usize| (lo..=hi, lo..=hi);
    (
        (1..=2usize, 1..=3usize, 1..=2usize, 1..=2usize),
        (
            pair(1, max_hw),
            pair(1, 3),
            pair(1, 3),
            pair(0, 2),
            pair(1, 2),
        ),
        any::<u64>(),
    )
        .prop_map(|((n, groups, cg, og), (hw, k, s, p, d), seed)| Case {
            n,
            groups,
            cg,
            og,
            hw,
            p: ConvParams {
                kernel: k,
                stride: s,
                padding: p,
                dilation: d,
            },
            seed,
        })
        .prop_filter("dilated kernel fits the padded input", |c| {
            let p = &c.p;
            p.dilation.0 * (p.kernel.0 - 1) < c.hw.0 + 2 * p.padding.0
                && p.dilation.1 * (p.kernel.1 - 1) < c.hw.1 + 2 * p.padding.1
        })
}

/// The direct definition: 7 nested loops (n, o, i, j, c, p, q), zero padding.
fn direct_conv(
    case: &Case,
    x: &Tensor<f64>,
    w: &Tensor<f64>,
    b: Option<&Tensor<f64>>,
) -> Tensor<f64> {
    let (oh, ow) = case.out_hw();
    let (h, wd) = (case.hw.0 as isize, case.hw.1 as isize);
    let p = case.p;
    let mut out = vec![0.0; case.n * case.o() * oh * ow];
    let mut idx = 0;
    for n in 0..case.n {
        for o in 0..case.o() {
            let group = o / case.og;
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = b.map_or(0.0, |b| b.get(&[o]));
                    for c in 0..case.cg {
                        for ki in 0..p.kernel.0 {
                            for kj in 0..p.kernel.1 {
                                let y = (i * p.stride.0 + ki * p.dilation.0) as isize
                                    - p.padding.0 as isize;
                                let xx = (j * p.stride.1 + kj * p.dilation.1) as isize
                                    - p.padding.1 as isize;
                                if y < 0 || y >= h || xx < 0 || xx >= wd {
                                    continue;
                                }
                                let xv = x.get(&[n, group * case.cg + c, y as usize, xx as usize]);
                                acc += w.get(&[o, c, ki, kj]) * xv;
                            }
                        }
                    }
                    out[idx] = acc;
                    idx += 1;
                }
            }
        }
    }
    Tensor::from_vec(out, &[case.n, case.o(), oh, ow])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn forward_matches_direct_loops(case in case(7), with_bias in any::<bool>()) {
        let (x, w, b) = case.tensors();
        let tape = Tape::<f64>::new();
        let bias = with_bias.then(|| tape.constant(b.clone()));
        let y = conv2d(tape.constant(x.clone()), tape.constant(w.clone()), bias, case.p, case.groups);
        let want = direct_conv(&case, &x, &w, with_bias.then_some(&b));
        prop_assert_eq!(y.shape().to_vec(), want.shape().to_vec());
        assert_close(&y.value().to_vec(), &want.to_vec(), 1e-10, "conv2d");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn gradients_wrt_input_weight_and_bias(case in case(5)) {
        let (x, w, b) = case.tensors();
        let (p, groups) = (case.p, case.groups);
        let f = check_fn(move |_, v| conv2d(v[0], v[1], Some(v[2]), p, groups));
        let report = gradcheck(f, &[x, w, b], &GradcheckOptions::default());
        prop_assert!(report.is_ok(), "{:?}: {}", case, report.unwrap_err());
    }
}

#[test]
fn second_derivatives() {
    // conv2d is bilinear in (x, w): check d²/dx dw through the square of its output.
    let case = Case {
        n: 2,
        groups: 2,
        cg: 1,
        og: 2,
        hw: (4, 3),
        p: ConvParams {
            kernel: (2, 2),
            stride: (2, 1),
            padding: (1, 0),
            dilation: (1, 2),
        },
        seed: 7,
    };
    let (x, w, b) = case.tensors();
    let (p, groups) = (case.p, case.groups);
    let f = check_fn(move |_, v| conv2d(v[0], v[1], Some(v[2]), p, groups).square());
    gradgradcheck(f, &[x, w, b], &GradcheckOptions::default()).unwrap();
}

#[test]
fn strided_input_view_gives_the_same_result() {
    // An [N, C, H, W] view made by permuting a contiguous [N, H, W, C] tensor.
    let mut rng = StdRng::seed_from_u64(3);
    let nhwc = Tensor::<f64>::rand_normal(&[2, 5, 6, 3], 0.0, 1.0, &mut rng);
    let view = nhwc.permute(&[0, 3, 1, 2]);
    assert!(!view.is_contiguous());
    let w = Tensor::rand_normal(&[4, 3, 3, 3], 0.0, 1.0, &mut rng);
    let p = Conv2dConfig::new(3).padding(1).stride(2).params();
    let tape = Tape::<f64>::new();
    let a = conv2d(
        tape.constant(view.clone()),
        tape.constant(w.clone()),
        None,
        p,
        1,
    );
    let b = conv2d(
        tape.constant(view.contiguous()),
        tape.constant(w),
        None,
        p,
        1,
    );
    assert_eq!(a.value().to_vec(), b.value().to_vec());
}

#[test]
fn module_forward_is_the_functional_form_and_gradients_reach_the_params() {
    let mut rng = StdRng::seed_from_u64(0);
    let cfg = Conv2dConfig::new(3).padding(1).groups(2);
    let conv = Conv2d::<f64>::with_config(4, 6, cfg, &mut rng);
    let x = Tensor::rand_normal(&[2, 4, 5, 5], 0.0, 1.0, &mut rng);
    let tape = Tape::new();
    let y = conv.forward(tape.constant(x.clone()));
    let w = conv.weight().value().clone();
    let b = conv.bias().unwrap().value().clone();
    let direct = conv2d(
        tape.constant(x),
        tape.constant(w),
        Some(tape.constant(b)),
        cfg.params(),
        2,
    );
    assert_eq!(y.value().to_vec(), direct.value().to_vec());
    let grads = y.square().sum_all().backward();
    let names: Vec<String> = conv
        .named_grads(&grads)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["weight", "bias"]);
    assert_eq!(conv.weight().grad(&grads).unwrap().shape(), &[6, 2, 3, 3]);
    assert_eq!(conv.bias().unwrap().grad(&grads).unwrap().shape(), &[6]);
}

#[test]
fn default_init_is_pytorch_kaiming_uniform_a_sqrt5() {
    // fan_in = in/groups · kh · kw = 8/2 · 3 · 3 = 36: weight and bias U(±1/6),
    // whose standard deviation is (1/6)/√3.
    let mut rng = StdRng::seed_from_u64(1);
    let conv = Conv2d::<f64>::with_config(8, 64, Conv2dConfig::new(3).groups(2), &mut rng);
    let bound = 1.0 / 6.0;
    let w = conv.weight().value().to_vec();
    assert_eq!(conv.weight().shape(), &[64, 4, 3, 3]);
    assert!(w.iter().all(|v| v.abs() <= bound));
    let std = (w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64).sqrt();
    let want = bound / 3f64.sqrt();
    // 2304 draws: the sample std is within a few percent of its expectation.
    assert!((std / want - 1.0).abs() < 0.05, "std {std} vs {want}");
    let b = conv.bias().unwrap().value().to_vec();
    assert!(b.iter().all(|v| v.abs() <= bound));
    assert!(
        b.iter().any(|v| v.abs() > bound / 2.0),
        "bias spans the interval"
    );
}

#[test]
fn output_size_follows_the_formula() {
    let mut rng = StdRng::seed_from_u64(2);
    let cfg = Conv2dConfig::new(3).stride(2).padding(2).dilation(2);
    let conv = Conv2d::<f32>::with_config(1, 1, cfg, &mut rng);
    // floor((11 + 4 - 2·2 - 1) / 2) + 1 = 6, floor((8 + 4 - 5) / 2) + 1 = 4
    assert_eq!(conv.output_size((11, 8)), (6, 4));
    let tape = Tape::new();
    let y = conv.forward(tape.constant(Tensor::zeros(&[1, 1, 11, 8])));
    assert_eq!(y.shape().as_slice(), &[1, 1, 6, 4]);
    assert_eq!(
        Module::<f32>::describe(&conv),
        "Conv2d(1 -> 1, kernel (3, 3), stride (2, 2), padding (2, 2), dilation (2, 2))"
    );
}

#[test]
#[should_panic(expected = "conv2d: input [1, 3, 5, 5] and weight [4, 2, 3, 3] do not fit 1 groups")]
fn channel_mismatch_names_both_shapes() {
    let tape = Tape::<f32>::new();
    let x = tape.constant(Tensor::zeros(&[1, 3, 5, 5]));
    let w = tape.constant(Tensor::zeros(&[4, 2, 3, 3]));
    conv2d(x, w, None, Conv2dConfig::new(3).params(), 1);
}

#[test]
#[should_panic(expected = "Conv2d: 3 groups must divide in_channels 4 and out_channels 6")]
fn groups_must_divide_the_channels() {
    Conv2d::<f32>::with_config(
        4,
        6,
        Conv2dConfig::new(1).groups(3),
        &mut StdRng::seed_from_u64(0),
    );
}
