//! Class 2: no silent wrong gradient. Vars from different tapes are never
//! combined; a parameter binds once per tape; class indices stay integers;
//! NaN propagates as in PyTorch.

use crate::panics_with;
use tapegrad::autodiff::Tape;
use tapegrad::nn::loss::cross_entropy;
use tapegrad::nn::Param;
use tapegrad::tensor::Tensor;

fn t(data: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(data.to_vec(), shape)
}

/// `concat`/`stack` with parts from two tapes returned wrong gradients
/// (the stray part's node id meant another node on the first tape).
#[test]
fn concat_and_stack_refuse_parts_from_another_tape() {
    let (t1, t2) = (Tape::<f64>::new(), Tape::<f64>::new());
    let a = t1.var(t(&[1.0, 2.0], &[2]));
    let b = t2.var(t(&[3.0, 4.0], &[2]));
    panics_with(&["concat", "input 1", "different tape"], || {
        tapegrad::autodiff::Var::concat(&[a, b], 0)
    });
    panics_with(&["stack", "input 1", "different tape"], || {
        tapegrad::autodiff::Var::stack(&[a, b], 0)
    });
    // Nothing was recorded on either tape by the refused calls.
    assert_eq!((t1.len(), t2.len()), (1, 1));
}

/// Every op, built in or custom, checks its inputs' tape where it is
/// recorded, so binary ops, where and matmul refuse a stray var too.
#[test]
fn every_op_refuses_a_var_from_another_tape() {
    let (t1, t2) = (Tape::<f64>::new(), Tape::<f64>::new());
    let a = t1.var(t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]));
    let b = t2.var(t(&[1.0, 0.0, 0.0, 1.0], &[2, 2]));
    panics_with(&["add", "different tape"], || a + b);
    panics_with(&["matmul", "different tape"], || a.matmul(b));
    panics_with(&["maximum", "different tape"], || a.maximum(b));
    let cond = t(&[1.0, 0.0, 1.0, 0.0], &[2, 2]);
    panics_with(&["where", "different tape"], || {
        tapegrad::autodiff::Var::where_cond(&cond, a, b)
    });
}

/// `tape.grad(y, &[x])` accepted a `y` or an `x` from another tape and
/// returned the gradient of an unrelated node.
#[test]
fn grad_refuses_vars_from_another_tape() {
    let (t1, t2) = (Tape::<f64>::new(), Tape::<f64>::new());
    let x1 = t1.var(t(&[2.0], &[]));
    let y1 = x1 * x1;
    let x2 = t2.var(t(&[5.0], &[]));
    let y2 = x2 * x2 * x2;
    panics_with(&["grad", "output y", "different tape"], || {
        t1.grad(y2, &[x1])
    });
    panics_with(&["grad", "inputs xs", "different tape"], || {
        t1.grad(y1, &[x2])
    });
    let seed = t2.constant(t(&[1.0], &[]));
    panics_with(&["grad_with", "seed", "different tape"], || {
        t1.grad_with(y1, &[x1], seed)
    });
    // The right call still works: d/dx x² = 2x = 4.
    assert_eq!(t1.grad(y1, &[x1])[0].item(), 4.0);
}

/// `grad_with` accepted a seed of the wrong shape and returned a gradient
/// of that shape.
#[test]
fn grad_with_refuses_a_seed_of_the_wrong_shape() {
    let tape = Tape::<f64>::new();
    let x = tape.var(t(&[1.0, 2.0, 3.0], &[3]));
    let y = x * 2.0;
    let seed = tape.constant(t(&[1.0, 1.0], &[2]));
    panics_with(
        &["grad_with", "seed of shape [2]", "output of shape [3]"],
        || tape.grad_with(y, &[x], seed),
    );
}

/// A parameter bound to a second tape mid-step made the first tape hold
/// two leaves for it: `w.grad` was 3 where 6 is right.
#[test]
fn a_param_bound_on_a_second_tape_mid_step_keeps_its_full_gradient() {
    let w = Param::new(t(&[3.0], &[]));
    let tape = Tape::<f64>::new();
    let first = w.bind(&tape);
    // Evaluate the model on another tape between forward and backward.
    let other = Tape::<f64>::new();
    let _ = w.bind(&other) * 2.0;
    let again = w.bind(&tape);
    assert_eq!(first.id(), again.id(), "one leaf per parameter per tape");
    let loss = first * again; // w², d/dw = 2w = 6
    let grads = loss.backward();
    assert_eq!(w.grad(&grads).unwrap().item(), 6.0);
    // Gradients of the other tape do not leak into this one and vice versa.
    let g_other = (w.bind(&other) * 5.0).backward();
    assert_eq!(w.grad(&g_other).unwrap().item(), 5.0);
}

/// f32 holds integers exactly only to 2^24: a class index that went
/// through an f32 picked class 16777216 for label 16777217.
#[test]
fn class_indices_beyond_f32_precision_stay_exact() {
    let classes = (1 << 24) + 2;
    let label = (1 << 24) + 1;
    let mut logits = vec![0.0f32; classes];
    logits[label] = 10.0;
    let x = Tensor::from_vec(logits, &[1, classes]);
    assert_eq!(x.argmax(1).to_vec(), vec![label]);
    let tape = Tape::<f32>::new();
    let z = tape.var(x);
    let loss = cross_entropy(z, &[label]);
    // logsumexp(z) - z_label with C - 1 zeros and one 10.
    let lse = ((classes - 1) as f64 + 10f64.exp()).ln();
    assert!(
        (loss.item() - (lse - 10.0)).abs() < 1e-3,
        "loss {}",
        loss.item()
    );
    // d/dz_label = softmax - 1 < 0; the neighbour gets only its softmax.
    let g = loss.backward()[z].clone();
    assert!(g.get(&[0, label]) < -0.5, "{}", g.get(&[0, label]));
    assert!(g.get(&[0, label - 1]) > 0.0);
}

/// `relu(NaN)` was 0, so `ln(-1).relu().sum()` was a finite loss with a
/// zero gradient; PyTorch propagates the NaN.
#[test]
fn relu_propagates_nan() {
    let x = Tensor::<f32>::from_vec(vec![f32::NAN, -1.0, 2.0], &[3])
        .relu()
        .to_vec();
    assert!(x[0].is_nan());
    assert_eq!(&x[1..], &[0.0, 2.0]);
    let tape = Tape::<f64>::new();
    let v = tape.var(t(&[-1.0], &[1]));
    let loss = v.ln().relu().sum_all();
    assert!(
        loss.item().is_nan(),
        "the loss must show the NaN, got {}",
        loss.item()
    );
}

/// `maximum(NaN, 1)` was 1 but `maximum(1, NaN)` NaN: either side's NaN
/// must win, as in PyTorch's `maximum`/`minimum`.
#[test]
fn maximum_and_minimum_propagate_nan_from_either_side() {
    let nan = Tensor::<f64>::from_vec(vec![f64::NAN], &[1]);
    let one = Tensor::<f64>::from_vec(vec![1.0], &[1]);
    for r in [
        nan.maximum(&one),
        one.maximum(&nan),
        nan.minimum(&one),
        one.minimum(&nan),
    ] {
        assert!(r.item().is_nan());
    }
    let tape = Tape::<f64>::new();
    let (a, b) = (tape.var(nan.clone()), tape.var(one.clone()));
    assert!(a.maximum(b).item().is_nan() && b.maximum(a).item().is_nan());
    assert!(a.minimum(b).item().is_nan() && b.minimum(a).item().is_nan());
    // The reductions already did: max over [1, NaN] is NaN, argmax points at it.
    let both = Tensor::<f64>::from_vec(vec![1.0, f64::NAN], &[2]);
    assert!(both.max(&[0]).item().is_nan());
    assert_eq!(both.argmax(0).item(), 1);
}
