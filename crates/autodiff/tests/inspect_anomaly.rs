//! Anomaly mode: the panicking path (`detect_anomaly`) and the value path
//! (`try_backward`, `check_finite`, `check_gradients`) name the same op,
//! node, label, source line and phase.

use std::panic::{catch_unwind, AssertUnwindSafe};
use tapegrad_autodiff::{Anomaly, Phase, Tape};
use tapegrad_tensor::Tensor;

/// The message of the panic `f` raises.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("expected a panic");
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => p
            .downcast_ref::<&str>()
            .expect("a string panic")
            .to_string(),
    }
}

#[test]
fn ln_of_zero_is_caught_in_forward() {
    let tape = Tape::<f32>::new();
    tape.detect_anomaly(true);
    let p = tape
        .var(Tensor::from_vec(vec![0.5, 0.0, 0.25], &[3]))
        .label("probs");
    let scaled = p * 2.0;
    let mut line = 0;
    let msg = panic_message(|| {
        line = line!() + 1;
        let _ = scaled.ln();
    });
    let id = scaled.id() + 1; // the ln node, about to be recorded
    assert!(msg.contains("Forward of `ln`"), "{msg}");
    assert!(msg.contains(&format!("node #{id}")), "{msg}");
    assert!(msg.contains(&format!("{}:{line}:", file!())), "{msg}");
    assert!(msg.contains("1 Inf (of 3 values)"), "{msg}");
    assert!(
        msg.contains(&format!("inputs: #{} mul_scalar", scaled.id())),
        "{msg}"
    );
    assert_eq!(tape.len(), id, "the bad node is not recorded");

    // Labels of the inputs are named: the output cannot be labelled yet.
    let msg = panic_message(|| {
        let _ = p.ln();
    });
    assert!(
        msg.contains(&format!("inputs: #{} var \"probs\"", p.id())),
        "{msg}"
    );
}

#[test]
#[should_panic(expected = "anomaly: Forward of `ln`")]
fn ln_of_zero_panics_with_should_panic() {
    let tape = Tape::<f64>::new();
    tape.detect_anomaly(true);
    let _ = tape.var(Tensor::zeros(&[2])).ln();
}

#[test]
fn sqrt_at_zero_is_caught_in_backward() {
    // d/dx sqrt x = 1 / (2 sqrt x): infinite at 0, though sqrt(0) = 0 is fine.
    let tape = Tape::<f64>::new();
    tape.detect_anomaly(true);
    let x = tape.var(Tensor::from_vec(vec![4.0, 0.0], &[2])).label("x");
    let (root, line) = (x.sqrt().label("root"), line!());
    let loss = root.sum_all();
    let msg = panic_message(|| {
        let _ = loss.backward();
    });
    let want = format!(
        "Backward of `sqrt` (node #{} \"root\", created at {}:{line}:",
        root.id(),
        file!()
    );
    assert!(msg.contains(&want), "{msg}\nwanted {want}");
    assert!(msg.contains("1 Inf (of 2 values)"), "{msg}");
    assert!(
        msg.contains(&format!("inputs: #{} var \"x\"", x.id())),
        "{msg}"
    );
}

#[test]
fn without_anomaly_mode_nothing_panics() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(vec![4.0, 0.0], &[2]));
    let grads = x.ln().sum_all().backward();
    assert!(grads[x].to_f64_vec()[1].is_infinite());
    assert!(!tape.anomaly_mode());
}

#[test]
fn try_backward_names_the_same_op_as_the_panic() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(vec![4.0, 0.0], &[2])).label("x");
    let (root, line) = (x.sqrt().label("root"), line!());
    let loss = (root * 3.0).sum_all();
    let err: Anomaly = loss.try_backward().expect_err("an anomaly");
    assert_eq!(
        (err.phase, err.op, err.node),
        (Phase::Backward, "sqrt", root.id())
    );
    assert_eq!(
        (
            err.label.as_deref(),
            err.location.file(),
            err.location.line()
        ),
        (Some("root"), file!(), line)
    );
    assert_eq!(
        (
            err.inputs.len(),
            err.inputs[0].node,
            err.inputs[0].label.as_deref()
        ),
        (1, x.id(), Some("x"))
    );

    tape.detect_anomaly(true);
    let msg = panic_message(|| {
        let _ = loss.backward();
    });
    assert_eq!(msg, err.to_string());
    assert!(tape.anomaly_mode(), "try_backward restores anomaly mode");
    assert!(
        loss.try_backward().is_err(),
        "and does not panic while it is on"
    );
}

#[test]
fn try_backward_reports_forward_anomalies_upstream_of_the_loss_only() {
    let tape = Tape::<f64>::new();
    let p = tape.var(Tensor::from_vec(vec![1.0, 0.0], &[2])).label("p");
    let unused = p.ln(); // -inf, but the loss does not depend on it
    let loss = p.square().sum_all();
    assert!(loss.try_backward().is_ok());
    let err = tape.check_finite().unwrap_err(); // the whole tape does hold it
    assert_eq!(
        (err.phase, err.op, err.node),
        (Phase::Forward, "ln", unused.id())
    );

    let bad = (unused * 2.0).sum_all();
    let err = bad.try_backward().expect_err("an anomaly");
    assert_eq!(
        (err.op, err.node, err.inputs[0].label.as_deref()),
        ("ln", unused.id(), Some("p"))
    );
}

#[test]
fn non_finite_leaves_are_reported_as_leaves() {
    let tape = Tape::<f32>::new();
    let w = tape
        .var(Tensor::from_vec(vec![1.0, f32::NAN], &[2]))
        .label("w");
    let err = w.sum_all().try_backward().expect_err("an anomaly");
    assert_eq!(
        (err.phase, err.op, err.node, err.label.as_deref()),
        (Phase::Forward, "var", w.id(), Some("w"))
    );
    assert_eq!(err.detail, "1 NaN (of 2 values)");
}

#[test]
fn check_gradients_names_a_node_whose_hook_went_bad() {
    let tape = Tape::<f64>::new();
    let x = tape.var(Tensor::from_vec(vec![1.0, 2.0], &[2]));
    let h = x
        .exp()
        .label("h")
        .register_hook(|g| Some(g.mul_scalar(f64::NAN)));
    let loss = h.sum_all();
    let grads = loss.backward_retain_all();
    let err = tape.check_gradients(&grads).unwrap_err();
    assert_eq!(
        (err.phase, err.op, err.node, err.label.as_deref()),
        (Phase::Backward, "exp", h.id(), Some("h"))
    );
    assert!(err.detail.contains("in its own gradient"), "{}", err.detail);
}

#[test]
fn finite_runs_pass_every_check() {
    let tape = Tape::<f64>::new();
    tape.detect_anomaly(true);
    let w = tape.var(Tensor::from_vec(vec![0.5, -0.5, 0.25, 1.0], &[2, 2]));
    let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0], &[1, 2]));
    let loss = (x.matmul(w).tanh().square() + 1.0).ln().sqrt().sum_all();
    let grads = loss.try_backward().expect("finite");
    assert!(tape.check_finite().is_ok() && tape.check_gradients(&grads).is_ok());
}

#[test]
fn anomaly_mode_also_catches_higher_order_gradients() {
    // In `tape.grad` the rules' own ops are recorded, so the first bad value
    // is caught as the forward output of an op inside sqrt's rule.
    let tape = Tape::<f64>::new();
    tape.detect_anomaly(true);
    let x = tape.var(Tensor::from_vec(vec![4.0, 0.0], &[2]));
    let y = x.sqrt().sum_all();
    let msg = panic_message(|| {
        let _ = tape.grad(y, &[x]);
    });
    assert!(msg.starts_with("anomaly: Forward of `"), "{msg}");
}
