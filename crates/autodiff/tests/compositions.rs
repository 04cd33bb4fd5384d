//! Random compositions: programs of 3 to 6 ops (unary, binary with
//! broadcasting, reductions) over three inputs of shapes `[a, b]`, `[b]` or
//! `[1, b]`, and `[a, 1]`, must pass `gradcheck` (and `gradgradcheck`).
//!
//! A program is a list of steps; each step reads any earlier value (an
//! input or a step's result), so values are reused and gradients accumulate.
//! Every value keeps a shape that broadcasts with `[a, b]`: rank at most 2,
//! last dim `b` or 1, the dim before it `a` or 1. Reductions keep that
//! invariant (axis 0 with or without keepdim, the last axis with keepdim,
//! or all axes). Only smooth ops appear, so no input sits on a kink.

mod common;

use common::*;
use proptest::prelude::*;
use tapegrad_autodiff::Var;
use tapegrad_tensor::Tensor;

#[derive(Clone, Copy, Debug)]
enum Unary {
    Tanh,
    Sigmoid,
    Sin,
    Cos,
    Erf,
    Gelu,
    Softplus,
    /// `exp(tanh x)`: exp, kept bounded so deep programs cannot overflow.
    ExpTanh,
    /// `x² / 2`.
    HalfSquare,
}

#[derive(Clone, Copy, Debug)]
enum Binary {
    Add,
    Sub,
    Mul,
    /// `a / (b² + 1)`: division with a denominator that never nears 0.
    SafeDiv,
}

#[derive(Clone, Copy, Debug)]
enum Reduction {
    Sum,
    Mean,
    LogSumExp,
}

#[derive(Clone, Copy, Debug)]
enum Axes {
    /// Axis 0, keepdim or not.
    First(bool),
    /// The last axis, keepdim.
    LastKeep,
    /// Every axis, to a 0-d value.
    All,
}

/// One step; `usize` operands index earlier values (taken modulo their count).
#[derive(Clone, Debug)]
enum Step {
    Unary(Unary, usize),
    Binary(Binary, usize, usize),
    Reduce(Reduction, Axes, usize),
}

fn step() -> impl Strategy<Value = Step> {
    let unary = prop_oneof![
        Just(Unary::Tanh),
        Just(Unary::Sigmoid),
        Just(Unary::Sin),
        Just(Unary::Cos),
        Just(Unary::Erf),
        Just(Unary::Gelu),
        Just(Unary::Softplus),
        Just(Unary::ExpTanh),
        Just(Unary::HalfSquare),
    ];
    let binary = prop_oneof![
        Just(Binary::Add),
        Just(Binary::Sub),
        Just(Binary::Mul),
        Just(Binary::SafeDiv)
    ];
    let reduction = prop_oneof![
        Just(Reduction::Sum),
        Just(Reduction::Mean),
        Just(Reduction::LogSumExp)
    ];
    let axes = prop_oneof![
        any::<bool>().prop_map(Axes::First),
        Just(Axes::LastKeep),
        Just(Axes::All)
    ];
    prop_oneof![
        3 => (unary, any::<usize>()).prop_map(|(u, i)| Step::Unary(u, i)),
        3 => (binary, any::<usize>(), any::<usize>()).prop_map(|(b, i, j)| Step::Binary(b, i, j)),
        1 => (reduction, axes, any::<usize>()).prop_map(|(r, a, i)| Step::Reduce(r, a, i)),
    ]
}

fn apply_unary<'t>(u: Unary, x: Var<'t, f64>) -> Var<'t, f64> {
    match u {
        Unary::Tanh => x.tanh(),
        Unary::Sigmoid => x.sigmoid(),
        Unary::Sin => x.sin(),
        Unary::Cos => x.cos(),
        Unary::Erf => x.erf(),
        Unary::Gelu => x.gelu(),
        Unary::Softplus => x.softplus(),
        Unary::ExpTanh => x.tanh().exp(),
        Unary::HalfSquare => x.square() * 0.5,
    }
}

fn apply_binary<'t>(b: Binary, x: Var<'t, f64>, y: Var<'t, f64>) -> Var<'t, f64> {
    match b {
        Binary::Add => x + y,
        Binary::Sub => x - y,
        Binary::Mul => x * y,
        Binary::SafeDiv => x / (y.square() + 1.0),
    }
}

fn apply_reduce<'t>(r: Reduction, axes: Axes, x: Var<'t, f64>) -> Var<'t, f64> {
    if x.ndim() == 0 {
        return x; // nothing left to reduce
    }
    let (ax, keep): (&[isize], bool) = match axes {
        Axes::First(keep) => (&[0], keep),
        Axes::LastKeep => (&[-1], true),
        Axes::All => (&[], false),
    };
    match r {
        Reduction::Sum => {
            if keep {
                x.sum_keepdim(ax)
            } else {
                x.sum(ax)
            }
        }
        Reduction::Mean => {
            if keep {
                x.mean_keepdim(ax)
            } else {
                x.mean(ax)
            }
        }
        Reduction::LogSumExp => {
            if keep {
                x.logsumexp_keepdim(ax)
            } else {
                x.logsumexp(ax)
            }
        }
    }
}

/// Runs `program` on the inputs; the result is the last step's value.
fn run<'t>(program: &[Step], inputs: &[Var<'t, f64>]) -> Var<'t, f64> {
    let mut values: Vec<Var<'t, f64>> = inputs.to_vec();
    for s in program {
        let pick = |i: usize| values[i % values.len()];
        let next = match *s {
            Step::Unary(u, i) => apply_unary(u, pick(i)),
            Step::Binary(b, i, j) => apply_binary(b, pick(i), pick(j)),
            Step::Reduce(r, axes, i) => apply_reduce(r, axes, pick(i)),
        };
        values.push(next);
    }
    *values.last().expect("at least one step")
}

/// Three inputs `[a, b]`, `[b]` or `[1, b]`, `[a, 1]` with values in `[-1.5, 1.5]`.
fn inputs() -> impl Strategy<Value = Vec<Tensor<f64>>> {
    (1..=4usize, 1..=4usize, any::<bool>()).prop_flat_map(|(a, b, flat_row)| {
        let row = if flat_row { vec![b] } else { vec![1, b] };
        let v = || (-1.5..1.5f64).boxed();
        vec![
            tensor_of(vec![a, b], v()).boxed(),
            tensor_of(row, v()).boxed(),
            tensor_of(vec![a, 1], v()).boxed(),
        ]
    })
}

fn program() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(step(), 3..=6)
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn random_compositions_gradcheck(p in program(), xs in inputs()) {
        check1(|_, v| run(&p, v), &xs)?;
    }

    #[test]
    fn random_compositions_gradgradcheck(p in program(), xs in inputs()) {
        check2(|_, v| run(&p, v), &xs)?;
    }
}

/// A fixed program, so a reader can see what the steps build:
/// `logsumexp_0(tanh(x0) * x1) - x2 / (x0² + 1)`, which reuses `x0`.
#[test]
fn fixed_composition() {
    let program = [
        Step::Unary(Unary::Tanh, 0),
        Step::Binary(Binary::Mul, 3, 1),
        Step::Reduce(Reduction::LogSumExp, Axes::First(true), 4),
        Step::Binary(Binary::SafeDiv, 2, 0),
        Step::Binary(Binary::Sub, 5, 6),
    ];
    let xs = vec![
        Tensor::from_vec(vec![0.1, -0.7, 1.2, 0.4, -1.1, 0.9], &[2, 3]),
        Tensor::from_vec(vec![1.0, -0.5, 0.25], &[3]),
        Tensor::from_vec(vec![0.3, -0.8], &[2, 1]),
    ];
    let tape = tapegrad_autodiff::Tape::<f64>::new();
    let vars: Vec<Var<'_, f64>> = xs.iter().map(|t| tape.var(t.clone())).collect();
    assert_eq!(run(&program, &vars).shape().as_slice(), &[2, 3]);
    assert!(
        tapegrad_autodiff::gradcheck(|_, v| run(&program, v), &xs, &Default::default()).is_ok()
    );
}
