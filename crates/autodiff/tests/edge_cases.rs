//! The cases that broke other frameworks' gradients, each a named test:
//! reuse of an input, partially constant inputs, non-contiguous leaves,
//! size-1 broadcasting, bit-identical repeated backward passes on parallel
//! reductions, a million-op chain on a 2 MiB stack, the derivative
//! conventions at kinks, and ops with no gradient rule.

mod common;

use common::assert_close;
use tapegrad_autodiff::{gradcheck, Ctx, GradOps, GradcheckOptions, Grads, Op, Tape, Var};
use tapegrad_tensor::Tensor;

fn t(data: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(data.to_vec(), shape)
}

/// y = x·x + sin(x)·x uses x four times; dy/dx = 2x + cos(x)·x + sin(x).
#[test]
fn input_used_twice_accumulates() {
    let tape = Tape::<f64>::new();
    let xs = [0.3, -1.2, 2.0];
    let x = tape.var(t(&xs, &[3]));
    let y = (x * x + x.sin() * x).sum_all();
    let g = y.backward()[x].to_vec();
    let want: Vec<f64> = xs
        .iter()
        .map(|&x: &f64| 2.0 * x + x.cos() * x + x.sin())
        .collect();
    assert_close(&g, &want, 1e-14, 1e-14);
    // The same var as both operands of one binary op: d/dx (x / x) = 0, d/dx (x * x) = 2x.
    let same = (x * x).sum_all().backward()[x].to_vec();
    assert_close(&same, &[0.6, -2.4, 4.0], 1e-15, 0.0);
    let ratio = (x / x).sum_all().backward()[x].to_vec();
    assert_close(&ratio, &[0.0, 0.0, 0.0], 0.0, 1e-15);
}

/// `concat` of a var and a constant, and binary ops with a constant side:
/// only the var gets a gradient, and nothing panics.
#[test]
fn constant_inputs_get_no_gradient() {
    let tape = Tape::<f64>::new();
    let w = tape.var(t(&[1.0, 2.0], &[2]));
    let c = tape.constant(t(&[3.0, 4.0, 5.0], &[3]));
    let cat = Var::concat(&[c, w, c], 0);
    let loss = (cat * cat).sum_all() + (c * w.sum_all()).sum_all() + (c.sum_all() / w).sum_all();
    let grads = loss.backward();
    assert!(grads.wrt(c).is_none(), "a constant got a gradient");
    assert!(!c.requires_grad());
    // d/dw [Σ w² + Σc · Σw + Σc Σ 1/w] = 2w + Σc - Σc / w², with Σc = 12.
    assert_close(
        &grads[w].to_vec(),
        &[2.0 + 12.0 - 12.0, 4.0 + 12.0 - 3.0],
        1e-15,
        0.0,
    );
    // An op whose inputs are all constant records no gradient path at all.
    let only_const = (c * c).exp();
    assert!(!only_const.requires_grad());
    // tape.grad with respect to a var the output does not use gives zeros.
    let unused = tape.var(t(&[7.0], &[1]));
    let gs = tape.grad(loss, &[unused]);
    assert_eq!(gs[0].value().to_vec(), vec![0.0]);
}

/// Leaves that are views (transposed, narrowed, broadcast) give the same
/// gradients as contiguous copies, and pass gradcheck as they are.
#[test]
fn non_contiguous_leaves() {
    let base = Tensor::<f64>::from_vec((0..24).map(|i| (i as f64 * 0.37).sin()).collect(), &[4, 6]);
    let views = [
        base.t(),
        base.narrow(1, 1, 4),
        base.narrow(0, 1, 2).transpose(0, 1),
        Tensor::from_vec(vec![0.5, -0.25, 1.5], &[3, 1]).broadcast_to(&[3, 4]),
        base.reshape(&[2, 2, 6]).permute(&[2, 0, 1]),
    ];
    assert!(
        views.iter().all(|v| !v.is_contiguous()),
        "every case is a strided view"
    );
    for view in views {
        let tape = Tape::<f64>::new();
        let (a, b) = (tape.var(view.clone()), tape.var(view.contiguous()));
        let (ga, gb) = (
            view_loss(a).backward()[a].clone(),
            view_loss(b).backward()[b].clone(),
        );
        assert_eq!(ga.shape(), view.shape());
        assert_eq!(
            ga.to_vec(),
            gb.to_vec(),
            "view {:?} strides {:?}",
            view.shape(),
            view.strides()
        );
        let check = gradcheck(
            |_, x| view_loss(x[0]),
            std::slice::from_ref(&view),
            &GradcheckOptions::default(),
        );
        assert!(check.is_ok(), "{:?}", check.err());
    }
}

/// A scalar loss that reads its input along every axis.
fn view_loss<'t>(v: Var<'t, f64>) -> Var<'t, f64> {
    (v.tanh() * v).sum(&[0]).logsumexp(&[])
}

/// `[3, 1] + [1, 4]` and `[1] + [2, 3]`: gradients sum over the broadcast dims.
#[test]
fn size_one_broadcast_dims() {
    let tape = Tape::<f64>::new();
    let col = tape.var(t(&[1.0, 2.0, 3.0], &[3, 1]));
    let row = tape.var(t(&[10.0, 20.0, 30.0, 40.0], &[1, 4]));
    let y = col * row;
    assert_eq!(y.shape().as_slice(), &[3, 4]);
    let grads = y.sum_all().backward();
    // d/dcol Σ col·row = Σ row = 100 for each row; d/drow = Σ col = 6.
    assert_eq!(grads[col].shape(), &[3, 1]);
    assert_eq!(grads[col].to_vec(), vec![100.0; 3]);
    assert_eq!(grads[row].shape(), &[1, 4]);
    assert_eq!(grads[row].to_vec(), vec![6.0; 4]);

    let one = tape.var(t(&[2.0], &[1]));
    let mat = tape.var(t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]));
    let grads = (one * mat + one).sum_all().backward();
    // d/done Σ (one·mat + one) = Σ mat + 6 = 27; d/dmat = one = 2.
    assert_eq!(grads[one].shape(), &[1]);
    assert_eq!(grads[one].to_vec(), vec![27.0]);
    assert_eq!(grads[mat].to_vec(), vec![2.0; 6]);
    for (a, b) in [
        (vec![3, 1], vec![1, 4]),
        (vec![1], vec![2, 3]),
        (vec![2, 1, 3], vec![4, 1]),
    ] {
        let ta = Tensor::from_vec(
            (0..a.iter().product::<usize>())
                .map(|i| 0.3 + i as f64 * 0.1)
                .collect(),
            &a,
        );
        let tb = Tensor::from_vec(
            (0..b.iter().product::<usize>())
                .map(|i| 0.5 - i as f64 * 0.2)
                .collect(),
            &b,
        );
        let r = gradcheck(
            |_, v| (v[0] * v[1]).tanh() + v[0] / (v[1].square() + 1.0),
            &[ta, tb],
            &Default::default(),
        );
        assert!(r.is_ok(), "{a:?} x {b:?}: {:?}", r.err());
    }
}

/// A model with tensors above the parallel threshold (`PARALLEL_THRESHOLD`): two
/// backward passes give bit-identical gradients.
#[test]
fn backward_twice_is_bit_identical_on_parallel_reductions() {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let x = Tensor::<f32>::rand_normal(&[2816, 96], 0.0, 1.0, &mut rng); // 270k elements
    const _: () = assert!(2816 * 96 > tapegrad_tensor::tuning::PARALLEL_THRESHOLD);
    let w = Tensor::<f32>::rand_normal(&[96, 128], 0.0, 0.1, &mut rng);
    let b = Tensor::<f32>::rand_normal(&[128], 0.0, 0.1, &mut rng);
    let run = || {
        let tape = Tape::<f32>::new();
        let (xv, wv, bv) = (
            tape.var(x.clone()),
            tape.var(w.clone()),
            tape.var(b.clone()),
        );
        let h = (xv.matmul(wv) + bv).tanh(); // [2816, 128] = 360k elements
        let loss = h.logsumexp(&[1]).mean_all() + h.square().sum_all() * 1e-3;
        let g = loss.backward();
        [g[xv].to_vec(), g[wv].to_vec(), g[bv].to_vec()]
    };
    let (first, second) = (run(), run());
    for (a, b) in first.iter().zip(&second) {
        assert!(a.len() >= 128 && a.iter().all(|v| v.is_finite()));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(a), bits(b), "backward passes differ");
    }
}

/// A chain of 1,000,000 cheap ops on a one-element tensor backpropagates
/// and drops on a thread with a 2 MiB stack (the default for spawned threads).
#[test]
fn million_op_chain_on_small_stack() {
    const N: i32 = 1_000_000;
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let tape = Tape::<f64>::new();
            let x = tape.var(Tensor::scalar(1.0));
            let mut y = x;
            for _ in 0..N {
                y = y.mul_scalar(1.000_001);
            }
            assert_eq!(tape.len(), N as usize + 1);
            let g = y.backward()[x].item();
            drop(tape);
            g
        })
        .expect("spawn");
    let g = handle
        .join()
        .expect("the chain overflowed the stack or panicked");
    // dy/dx = 1.000001^N; each product rounds once, so ~1e-10 relative.
    let want = 1.000_001f64.powi(N);
    assert!((g - want).abs() / want < 1e-8, "{g} vs {want}");
}

/// The gradient of `f` at `x` (first order, summed output).
fn grad_of(
    x: &[f64],
    shape: &[usize],
    f: impl for<'t> Fn(Var<'t, f64>) -> Var<'t, f64>,
) -> Vec<f64> {
    let tape = Tape::<f64>::new();
    let v = tape.var(t(x, shape));
    f(v).sum_all().backward()[v].to_vec()
}

/// The crate docs' table: relu'(0) = 0, abs'(0) = 0, leaky_relu'(0) = s,
/// clamp passes the gradient at its bounds.
#[test]
fn elementwise_kink_conventions() {
    let x = [-1.5, 0.0, 2.0];
    assert_eq!(grad_of(&x, &[3], |v| v.relu()), vec![0.0, 0.0, 1.0]);
    assert_eq!(grad_of(&x, &[3], |v| v.abs()), vec![-1.0, 0.0, 1.0]);
    assert_eq!(
        grad_of(&x, &[3], |v| v.leaky_relu(0.25)),
        vec![0.25, 0.25, 1.0]
    );
    let c = [-2.0, -1.0, 0.0, 1.0, 3.0];
    assert_eq!(
        grad_of(&c, &[5], |v| v.clamp(-1.0, 1.0)),
        vec![0.0, 0.0, 1.0, 0.0, 0.0]
    );
    // clamp with lo == hi: every element is at a bound or outside: 0.
    assert_eq!(grad_of(&c, &[5], |v| v.clamp(0.0, 0.0)), vec![0.0; 5]);
    // clamp(x, 0, inf) is relu, kink included.
    assert_eq!(
        grad_of(&c, &[5], |v| v.clamp(0.0, f64::INFINITY)),
        grad_of(&c, &[5], |v| v.relu())
    );
    // The other rows of the README's kink table.
    let positive = |v: Var<'_, f64>| v.value().map(|e| if e > 0.0 { 1.0 } else { 0.0 });
    assert_eq!(
        grad_of(&x, &[3], |v| Var::where_cond(&positive(v), v, v * 0.0)),
        vec![0.0, 0.0, 1.0]
    );
    let g = grad_of(&[0.0, 4.0], &[2], |v| v.sqrt());
    assert!(g[0] == f64::INFINITY && (g[1] - 0.25).abs() < 1e-15);
    assert_eq!(grad_of(&x, &[3], |v| v.powf(0.0)), vec![0.0, 0.0, 0.0]);
}

/// `max` / `min` over an axis split the gradient evenly among ties.
#[test]
fn reduction_ties_split_evenly() {
    // Row 0 has max 3 twice; row 1 is all 2 (three-way tie for max and min).
    let x = [1.0, 3.0, 3.0, 2.0, 2.0, 2.0];
    let third = 1.0 / 3.0;
    let g = grad_of(&x, &[2, 3], |v| v.max(&[1]));
    assert_eq!(g, vec![0.0, 0.5, 0.5, third, third, third]);
    let g = grad_of(&x, &[2, 3], |v| v.min_keepdim(&[-1]));
    assert_eq!(g, vec![1.0, 0.0, 0.0, third, third, third]);
    // Over all axes: the max 3 appears twice among six elements.
    assert_eq!(
        grad_of(&x, &[2, 3], |v| v.max(&[])),
        vec![0.0, 0.5, 0.5, 0.0, 0.0, 0.0]
    );
    // Over axis 0: columns (1,2), (3,2), (3,2): no ties, one winner each.
    assert_eq!(
        grad_of(&x, &[2, 3], |v| v.max(&[0])),
        vec![0.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    );
}

/// `maximum(a, b)` and `minimum(a, b)` give half to each side at a tie, so
/// `maximum(a, a)` gives `a` the full gradient (two halves).
#[test]
fn binary_extremum_ties_split_in_half() {
    let tape = Tape::<f64>::new();
    let a = tape.var(t(&[1.0, 2.0, 3.0], &[3]));
    let b = tape.var(t(&[1.0, 5.0, 0.0], &[3]));
    let g = a.maximum(b).sum_all().backward();
    assert_eq!(g[a].to_vec(), vec![0.5, 0.0, 1.0]);
    assert_eq!(g[b].to_vec(), vec![0.5, 1.0, 0.0]);
    let g = a.minimum(b).sum_all().backward();
    assert_eq!(g[a].to_vec(), vec![0.5, 1.0, 0.0]);
    assert_eq!(g[b].to_vec(), vec![0.5, 0.0, 1.0]);
    assert_eq!(a.maximum(a).sum_all().backward()[a].to_vec(), vec![1.0; 3]);
    assert_eq!(a.minimum(a).sum_all().backward()[a].to_vec(), vec![1.0; 3]);
    // A broadcast tie: maximum([2], [[2, 1]]) gives the scalar side 0.5 + 1.
    let s = tape.var(t(&[2.0], &[1]));
    let m = tape.var(t(&[2.0, 1.0], &[1, 2]));
    let g = s.maximum(m).sum_all().backward();
    assert_eq!(g[s].to_vec(), vec![1.5]);
    assert_eq!(g[m].to_vec(), vec![0.5, 0.0]);
}

/// A custom op that (wrongly) returns no gradient for its second input.
struct ForgetsSecondInput;

impl Op<f64> for ForgetsSecondInput {
    fn name(&self) -> &'static str {
        "forgets_second_input"
    }
    fn forward(&self, x: &[&Tensor<f64>]) -> Tensor<f64> {
        x[0].mul(x[1])
    }
    fn backward<V: GradOps<f64>>(&self, c: &Ctx<V>) -> Grads<V> {
        [Some(c.g.mul(&c.x[1])), None].into()
    }
}

/// First-order backward through an op with no rule for a needed input panics.
#[test]
#[should_panic(expected = "backward of `forgets_second_input`")]
fn missing_rule_is_a_hard_error_in_backward() {
    let tape = Tape::<f64>::new();
    let a = tape.var(t(&[1.0, 2.0], &[2]));
    let b = tape.var(t(&[3.0, 4.0], &[2]));
    let _ = Var::apply(ForgetsSecondInput, &[a, b]).sum_all().backward();
}

/// The same through `tape.grad` (rules run on vars).
#[test]
#[should_panic(expected = "gave no gradient for input 1, which needs one")]
fn missing_rule_is_a_hard_error_in_tape_grad() {
    let tape = Tape::<f64>::new();
    let a = tape.var(t(&[1.0, 2.0], &[2]));
    let b = tape.var(t(&[3.0, 4.0], &[2]));
    let y = Var::apply(ForgetsSecondInput, &[a, b]).sum_all();
    let _ = tape.grad(y, &[b]);
}

/// When the forgotten input needs no gradient (a constant), nothing is asked of it.
#[test]
fn missing_rule_for_a_constant_is_fine() {
    let tape = Tape::<f64>::new();
    let a = tape.var(t(&[1.0, 2.0], &[2]));
    let b = tape.constant(t(&[3.0, 4.0], &[2]));
    let g = Var::apply(ForgetsSecondInput, &[a, b]).sum_all().backward();
    assert_eq!(g[a].to_vec(), vec![3.0, 4.0]);
    assert!(g.wrt(b).is_none());
}

/// Gradients stay finite (and right) at extreme inputs where the stable
/// forward formulations matter: sigmoid, softplus, tanh, logsumexp, log_softmax.
#[test]
fn gradients_are_stable_at_extreme_inputs() {
    let x = [-1000.0, -40.0, 40.0, 1000.0];
    // σ'(x) = σ(1 - σ) underflows to 0 at ±1000 (and is ~4e-18 at ±40), never NaN.
    let g = grad_of(&x, &[4], |v| v.sigmoid());
    assert!(
        g.iter().all(|d| d.is_finite() && *d >= 0.0 && *d < 1e-17),
        "{g:?}"
    );
    // softplus' = σ: 0 at -1000, 1 at +1000.
    let g = grad_of(&x, &[4], |v| v.softplus());
    assert_eq!((g[0], g[3]), (0.0, 1.0));
    assert_eq!(grad_of(&x, &[4], |v| v.tanh()), vec![0.0; 4]);
    // logsumexp' = softmax: two tied maxima at 1000 share the gradient, -1000
    // gets 0. (e^(x - lse) with lse = 1000 + ln 2 rounded at magnitude 1000:
    // one ulp there, 1.1e-13, is the only error.)
    let g = grad_of(&[1000.0, 1000.0, -1000.0], &[3], |v| v.logsumexp(&[0]));
    assert_close(&g, &[0.5, 0.5, 0.0], 1e-12, 0.0);
    // Cross-entropy of huge logits: d/dz -log_softmax(z)[0] = softmax(z) - onehot(0).
    let g = grad_of(&[1000.0, 0.0, -1000.0], &[3], |v| {
        -v.log_softmax(0).index_select(0, &[0])
    });
    assert_eq!(g, vec![0.0, 0.0, 0.0]);
    let g = grad_of(&[-1000.0, 0.0, 1000.0], &[3], |v| {
        -v.log_softmax(0).index_select(0, &[0])
    });
    assert_eq!(g, vec![-1.0, 0.0, 1.0]);
    // Masked entries (-inf logits, as attention masks make): softmax gives
    // them 0 and they get gradient 0; the rest is finite.
    let w = [0.3, 2.0, -1.0];
    let g = grad_of(&[0.5, f64::NEG_INFINITY, 1.0], &[3], |v| {
        v.softmax(0) * v.tape().constant(t(&w, &[3]))
    });
    assert_eq!(g[1], 0.0);
    // d/dx Σ w softmax(x) = p (w - Σ p w) with p = softmax over the unmasked pair.
    let p = [
        1.0 / (1.0 + 0.5f64.exp()),
        0.5f64.exp() / (1.0 + 0.5f64.exp()),
    ];
    let mean_w = p[0] * w[0] + p[1] * w[2];
    assert_close(
        &[g[0], g[2]],
        &[p[0] * (w[0] - mean_w), p[1] * (w[2] - mean_w)],
        1e-14,
        1e-16,
    );
    // GELU far out: derivative 0 on the left, 1 on the right.
    let g = grad_of(&[-60.0, 60.0], &[2], |v| v.gelu());
    assert_eq!(g, vec![0.0, 1.0]);
}

/// Gradients with respect to an intermediate node, and with a non-scalar
/// seed, agree between `backward` (tensors) and `tape.grad` (vars).
#[test]
fn intermediates_and_seeds_agree_between_backward_and_tape_grad() {
    let tape = Tape::<f64>::new();
    let xs = [0.5, -1.0, 2.0];
    let x = tape.var(t(&xs, &[3]));
    let h = (x.tanh() * x).retain_grad(); // an intermediate, kept by backward
    let loss = h.exp().sum_all() + h.square().mean_all();
    let by_backward = loss.backward();
    let by_grad = tape.grad(loss, &[h, x]);
    // dL/dh = e^h + 2h/3.
    let hv: Vec<f64> = xs.iter().map(|v| v.tanh() * v).collect();
    let want: Vec<f64> = hv.iter().map(|h| h.exp() + 2.0 * h / 3.0).collect();
    assert_close(&by_backward[h].to_vec(), &want, 1e-14, 0.0);
    assert_close(&by_grad[0].value().to_vec(), &want, 1e-14, 0.0);
    assert_close(
        &by_grad[1].value().to_vec(),
        &by_backward[x].to_vec(),
        1e-14,
        0.0,
    );
    // A vector-Jacobian product: seed s on y = x² gives 2 x s.
    let y = x.square();
    let seed = t(&[1.0, 2.0, 3.0], &[3]);
    assert_eq!(
        y.backward_with(seed.clone())[x].to_vec(),
        vec![1.0, -4.0, 12.0]
    );
    let s = tape.constant(seed);
    assert_eq!(
        tape.grad_with(y, &[x], s)[0].value().to_vec(),
        vec![1.0, -4.0, 12.0]
    );
}

/// `pow(a, b)` at a zero base follows PyTorch: `∂/∂a = b a^(b-1)` (0 for
/// b = 2, 1 for b = 1, and 0 where b = 0), and `∂/∂b = a^b ln a` is 0 where
/// a = 0 and b >= 0 (the limit), not `0 · -inf = NaN`. Common in practice:
/// `relu(x).pow(2)` with dead units.
#[test]
fn pow_at_zero_base_matches_pytorch() {
    let tape = Tape::<f64>::new();
    let a = tape.var(t(&[0.0, 0.0, 2.0, 0.0], &[4]));
    let b = tape.var(t(&[2.0, 1.0, 3.0, 0.0], &[4]));
    let y = a.pow(b);
    assert_eq!(y.value().to_vec(), vec![0.0, 0.0, 8.0, 1.0]);
    let g = y.sum_all().backward();
    assert_eq!(g[a].to_vec(), vec![0.0, 1.0, 12.0, 0.0]);
    assert_eq!(g[b].to_vec(), vec![0.0, 0.0, 8.0 * 2f64.ln(), 0.0]);
    // The same through tape.grad, and the second derivative in a: b (b-1) a^(b-2).
    let ga = tape.grad(y.sum_all(), &[a])[0];
    assert_eq!(ga.value().to_vec(), vec![0.0, 1.0, 12.0, 0.0]);
    let gaa = tape.grad(ga.narrow(0, 0, 3).sum_all(), &[a])[0];
    assert_eq!(gaa.value().to_vec()[..3], [2.0, 0.0, 12.0]);
}

/// Regression: `x - logsumexp(x)` lost the low bits at |x| = 1e4 (relative
/// error ~5e-4 in f32); the max-shifted form keeps them.
#[test]
fn log_softmax_keeps_precision_at_large_logits() {
    let x = [1e4, 1e4 - 1.5, -1e4, 1e4 - 0.25];
    let tape = Tape::<f32>::new();
    let v = tape.var(Tensor::from_vec(x.map(|v| v as f32).to_vec(), &[1, 4]));
    let got = v.log_softmax(-1).value().to_vec();
    // f64 reference: (x - m) - ln Σ e^(x - m)
    let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let lse = x.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
    for (g, xi) in got.iter().zip(x) {
        let want = xi - m - lse;
        assert!(
            (*g as f64 - want).abs() <= 1e-6 * want.abs().max(1.0),
            "{g} vs {want}"
        );
    }
}

/// A weight used through its transpose (as `Linear` does) gets a contiguous
/// gradient, in its own layout, with the same values as the plain product's
/// rule (a strided gradient made every optimiser pass a strided loop: the nn
/// step was 27% slower than the raw tape).
#[test]
fn gradient_through_a_transposed_operand_is_contiguous() {
    let tape = Tape::<f64>::new();
    let x = tape.constant(t(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3]));
    let lhs_t = tape.var(t(&[1.0, -2.0, 0.5, 3.0, 1.0, 0.0], &[3, 2]));
    // x [2,3] · Wᵀ where W is [4, 3]: the nn layout.
    let w = tape.var(t(
        &[
            0.5, -1.0, 2.0, 0.0, 1.5, -0.5, 1.0, 1.0, 0.25, -2.0, 0.0, 1.0,
        ],
        &[4, 3],
    ));
    let loss = x.matmul(w.t()).square().sum_all() + lhs_t.t().matmul(x.t()).square().sum_all();
    let grads = loss.backward();
    let (gw, gl) = (&grads[w], &grads[lhs_t]);
    assert!(gw.is_contiguous() && gl.is_contiguous());
    // Against the rule written out: ∂/∂W Σ (x Wᵀ)² = 2 (x Wᵀ)ᵀ x.
    let xw = x.value().matmul(&w.value().t());
    let want = xw.t().matmul(&x.value()).mul_scalar(2.0);
    assert!(gw.allclose(&want, 1e-12, 1e-12));
    // ∂/∂L Σ (Lᵀ xᵀ)² = 2 ((Lᵀ xᵀ) x)ᵀ, L [3, 2] used transposed on the left.
    let lx = lhs_t.value().t().matmul(&x.value().t());
    let want = lx.matmul(&x.value()).t().mul_scalar(2.0);
    assert!(gl.allclose(&want, 1e-12, 1e-12));
}
