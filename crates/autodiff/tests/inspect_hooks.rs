//! Gradient hooks: what they see, what replacing a gradient does, on leaves
//! and intermediate nodes, first and higher order; and labels.

use std::cell::RefCell;
use std::rc::Rc;
use tapegrad_autodiff::Tape;
use tapegrad_tensor::Tensor;

mod common;
use common::assert_close;

/// Every gradient a recording hook was shown.
type Seen = Rc<RefCell<Vec<Tensor<f64>>>>;

/// A hook that records every gradient it is shown, and keeps it.
fn recorder() -> (Seen, impl Fn(&Tensor<f64>) -> Option<Tensor<f64>>) {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&seen);
    (seen, move |g: &Tensor<f64>| {
        sink.borrow_mut().push(g.clone());
        None
    })
}

#[test]
fn leaf_hook_sees_the_analytic_gradient() {
    // L = Σ c ⊙ tanh(x)  =>  dL/dx = c (1 - tanh² x)
    let xs = [0.3, -1.2, 2.0];
    let cs = [1.5, -0.5, 2.0];
    let tape = Tape::<f64>::new();
    let (seen, hook) = recorder();
    let x = tape
        .var(Tensor::from_vec(xs.to_vec(), &[3]))
        .register_hook(hook);
    let c = tape.constant(Tensor::from_vec(cs.to_vec(), &[3]));
    let grads = (x.tanh() * c).sum_all().backward();
    let want: Vec<f64> = xs
        .iter()
        .zip(cs)
        .map(|(x, c)| c * (1.0 - x.tanh().powi(2)))
        .collect();
    assert_eq!(seen.borrow().len(), 1);
    assert_close(&seen.borrow()[0].to_f64_vec(), &want, 1e-12, 1e-12);
    assert_close(&grads[x].to_f64_vec(), &want, 1e-12, 1e-12); // None keeps the gradient
}

#[test]
fn hook_sees_the_total_gradient_once_when_a_node_is_used_twice() {
    // L = Σ (a x + x²)  =>  dL/dx = a + 2x, summed over both paths before the hook
    let tape = Tape::<f64>::new();
    let (seen, hook) = recorder();
    let x = tape
        .var(Tensor::from_vec(vec![1.0, -2.0], &[2]))
        .register_hook(hook);
    let a = tape.constant(Tensor::from_vec(vec![3.0, 5.0], &[2]));
    let _ = (x * a + x * x).sum_all().backward();
    assert_eq!(seen.borrow().len(), 1);
    assert_close(
        &seen.borrow()[0].to_f64_vec(),
        &[3.0 + 2.0, 5.0 - 4.0],
        1e-12,
        1e-12,
    );
}

#[test]
fn doubling_hook_on_a_leaf_doubles_its_gradient() {
    let run = |hooked: bool| {
        let tape = Tape::<f64>::new();
        let w = tape.var(Tensor::from_vec(vec![0.5, -1.0, 2.0, 0.25], &[2, 2]));
        if hooked {
            w.register_hook(|g| Some(g.mul_scalar(2.0)));
        }
        let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]));
        let grads = x.matmul(w).sigmoid().sum_all().backward();
        grads[w].to_f64_vec()
    };
    let plain = run(false);
    let doubled: Vec<f64> = plain.iter().map(|g| 2.0 * g).collect();
    assert_close(&run(true), &doubled, 1e-12, 1e-12);
}

#[test]
fn hook_on_an_intermediate_node_changes_everything_upstream() {
    // h = x², L = Σ h + Σ x  =>  dL/dx = 2x + 1; doubling dL/dh gives 4x + 1
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(vec![1.0, 3.0], &[2]));
    let (seen, record) = recorder();
    let h = x
        .square()
        .retain_grad()
        .register_hook(record)
        .register_hook(|g| Some(g.mul_scalar(2.0)));
    let grads = (h.sum_all() + x.sum_all()).backward();
    assert_close(&seen.borrow()[0].to_f64_vec(), &[1.0, 1.0], 1e-12, 1e-12); // before the doubling
    assert_close(&grads[h].to_f64_vec(), &[2.0, 2.0], 1e-12, 1e-12); // reported after it
    assert_close(&grads[x].to_f64_vec(), &[5.0, 13.0], 1e-12, 1e-12);
    assert_eq!(h.hook_count(), 2);
}

#[test]
fn hooks_run_in_order_each_seeing_the_previous_result() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(2.0));
    let (seen, record) = recorder();
    let y = (x * 3.0)
        .register_hook(|g| Some(g.add_scalar(1.0)))
        .register_hook(record)
        .register_hook(|g| Some(g.mul_scalar(10.0)));
    let grads = y.backward();
    assert_eq!(seen.borrow()[0].item(), 2.0); // 1 + 1
    assert_eq!(grads[x].item(), 60.0); // (1 + 1) * 10 * 3
}

#[test]
fn gradient_clipping_hook() {
    // Clip each element of the incoming gradient to [-1, 1].
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(vec![1.0, 2.0], &[2]));
    let big = tape.constant(Tensor::from_vec(vec![0.5, 100.0], &[2]));
    let h = (x * big).register_hook(|g| Some(g.clamp(-1.0, 1.0)));
    let grads = h.square().sum_all().backward(); // dL/dh = 2h = [1, 400]
    assert_close(&grads[x].to_f64_vec(), &[0.5, 100.0], 1e-12, 1e-12);
}

#[test]
#[should_panic(expected = "returned shape [1] for a gradient of shape [2]")]
fn hook_returning_another_shape_panics() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(vec![1.0, 2.0], &[2]));
    let h = x
        .exp()
        .register_hook(|_| Some(Tensor::from_vec(vec![1.0], &[1])));
    let _ = h.sum_all().backward();
}

#[test]
fn higher_order_hook_replacement_enters_as_a_constant() {
    // h = x², y = h²; the hook doubles dy/dh = 2h. With the replacement c = 4h
    // as a constant, dy/dx = c · 2x = 8x³ and d/dx of that, c held fixed, is
    // 2c = 8x². At x = 1: 8 and 8 (a differentiable doubling would give 24).
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::scalar(1.0));
    let h = x.square().register_hook(|g| Some(g.mul_scalar(2.0)));
    let y = h.square();
    let dy = tape.grad(y, &[x])[0];
    assert_eq!(dy.item(), 8.0);
    let d2y = tape.grad(dy, &[x])[0];
    assert_eq!(d2y.item(), 8.0);
}

#[test]
fn labels_are_set_replaced_and_read() {
    let tape = Tape::<f32>::new();
    let x = tape.var(Tensor::ones(&[2]));
    assert_eq!(x.label_of(), None);
    let y = x.exp().label("first");
    assert_eq!(y.label_of().as_deref(), Some("first"));
    y.label(String::from("layer3.pre_act"));
    assert_eq!(y.label_of().as_deref(), Some("layer3.pre_act"));
    assert_eq!(x.label_of(), None);
}
