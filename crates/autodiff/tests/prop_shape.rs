//! Property tests of the shape and view ops: reshape, permute, transpose,
//! t, squeeze, unsqueeze, flatten, broadcast_to, sum_to, narrow, pad_axis,
//! concat and stack. All are linear, so each second-order test
//! (`*_gradgrad`) runs `gradgradcheck` on the square of the op's output,
//! which sends a second backward pass through the op's recorded rule.

mod common;

use common::*;
use proptest::prelude::*;
use tapegrad_autodiff::{Tape, Var};
use tapegrad_tensor::shape_rules::as_axes;
use tapegrad_tensor::Tensor;

/// A tensor and a new shape with the same number of elements: its dims
/// shuffled, with a 1 inserted at a random place half of the time.
fn reshape_case() -> impl Strategy<Value = (Tensor<f64>, Vec<usize>)> {
    shape(4, 4).prop_flat_map(|s| {
        let r = s.len();
        (
            tensor_of(s.clone(), smooth()),
            Just(s).prop_shuffle(),
            0..=r,
            any::<bool>(),
        )
            .prop_map(|(t, mut target, at, one)| {
                if one {
                    target.insert(at, 1);
                }
                (t, target)
            })
    })
}

/// A tensor of rank 1..=4 and a permutation of its axes.
fn permute_case() -> impl Strategy<Value = (Tensor<f64>, Vec<usize>)> {
    shape_rank(1, 4, 4).prop_flat_map(|s| {
        let perm: Vec<usize> = (0..s.len()).collect();
        (tensor_of(s, smooth()), Just(perm).prop_shuffle())
    })
}

/// A tensor of rank 1..=4 and two axes (either sign).
fn transpose_case() -> impl Strategy<Value = (Tensor<f64>, isize, isize)> {
    shape_rank(1, 4, 4).prop_flat_map(|s| {
        let r = s.len() as isize;
        (tensor_of(s, smooth()), -r..r, -r..r)
    })
}

/// A tensor with a size-1 axis somewhere, and that axis (either sign).
fn squeeze_case() -> impl Strategy<Value = (Tensor<f64>, isize)> {
    shape(3, 4).prop_flat_map(|s| {
        let r = s.len();
        (Just(s), 0..=r, any::<bool>()).prop_flat_map(|(mut s, at, neg)| {
            s.insert(at, 1);
            let axis = if neg {
                at as isize - s.len() as isize
            } else {
                at as isize
            };
            (tensor_of(s, smooth()), Just(axis))
        })
    })
}

/// A tensor and an axis in `-(r+1)..=r` to insert a size-1 dim at.
fn unsqueeze_case() -> impl Strategy<Value = (Tensor<f64>, isize)> {
    shape(3, 4).prop_flat_map(|s| {
        let r = s.len() as isize;
        (tensor_of(s, smooth()), -(r + 1)..=r)
    })
}

/// A small tensor and the larger shape it broadcasts to.
fn broadcast_case() -> impl Strategy<Value = (Tensor<f64>, Vec<usize>)> {
    broadcast_pair().prop_flat_map(|(a, b)| {
        let full = tapegrad_tensor::broadcast_shapes(&a, &b)
            .expect("compatible")
            .to_vec();
        (tensor_of(a, smooth()), Just(full))
    })
}

/// A large tensor and a smaller shape that broadcasts to it.
fn sum_to_case() -> impl Strategy<Value = (Tensor<f64>, Vec<usize>)> {
    broadcast_pair().prop_flat_map(|(a, b)| {
        let full = tapegrad_tensor::broadcast_shapes(&a, &b)
            .expect("compatible")
            .to_vec();
        (tensor_of(full, smooth()), Just(a))
    })
}

/// A tensor, an axis, and a slice `start..start + len` (len >= 1) along it.
fn narrow_case() -> impl Strategy<Value = (Tensor<f64>, usize, usize, usize)> {
    shape_rank(1, 4, 5).prop_flat_map(|s| {
        (Just(s.clone()), 0..s.len()).prop_flat_map(|(s, axis)| {
            let size = s[axis];
            (0..size)
                .prop_flat_map(move |start| (Just(start), 1..=size - start))
                .prop_flat_map(move |(start, len)| {
                    (
                        tensor_of(s.clone(), smooth()),
                        Just(axis),
                        Just(start),
                        Just(len),
                    )
                })
        })
    })
}

/// A tensor, an axis, and padding before / after.
fn pad_case() -> impl Strategy<Value = (Tensor<f64>, isize, usize, usize)> {
    shape_rank(1, 3, 4).prop_flat_map(|s| {
        let r = s.len() as isize;
        (tensor_of(s, smooth()), -r..r, 0..=2usize, 0..=2usize)
    })
}

/// 1 to 3 tensors equal in shape except along `axis` (given either sign),
/// and which of them are trainable (at least one; the rest enter as constants).
fn concat_case() -> impl Strategy<Value = (Vec<Tensor<f64>>, isize, Vec<bool>)> {
    (shape_rank(1, 3, 4), 1..=3usize).prop_flat_map(|(s, parts)| {
        let r = s.len();
        (
            0..r,
            any::<bool>(),
            prop::collection::vec(1..=3usize, parts),
        )
            .prop_flat_map(move |(axis, neg, lens)| {
                let shapes = lens.iter().map(|&l| {
                    let mut p = s.clone();
                    p[axis] = l;
                    tensor_of(p, smooth())
                });
                let ax = if neg {
                    axis as isize - r as isize
                } else {
                    axis as isize
                };
                // At least one part is trainable.
                let needs = prop::collection::vec(any::<bool>(), lens.len()).prop_map(|mut n| {
                    if !n.contains(&true) {
                        n[0] = true;
                    }
                    n
                });
                (shapes.collect::<Vec<_>>(), Just(ax), needs)
            })
    })
}

/// 1 to 3 same-shape tensors and an axis in `-(r+1)..=r` to stack them along.
fn stack_case() -> impl Strategy<Value = (Vec<Tensor<f64>>, isize)> {
    (shape(3, 4), 1..=3usize).prop_flat_map(|(s, n)| {
        let r = s.len() as isize;
        (
            prop::collection::vec(tensor_of(s, smooth()), n),
            -(r + 1)..=r,
        )
    })
}

/// Concatenates `parts` along `axis`: part `i` is the next trainable input
/// where `needs[i]`, else a constant holding `parts[i]` (which gradcheck
/// therefore does not move).
fn concat_some<'t>(
    tape: &'t Tape<f64>,
    v: &[Var<'t, f64>],
    parts: &[Tensor<f64>],
    axis: isize,
    needs: &[bool],
) -> Var<'t, f64> {
    let mut trainable = v.iter();
    let vars: Vec<Var<'t, f64>> = parts
        .iter()
        .zip(needs)
        .map(|(p, &n)| {
            if n {
                *trainable.next().expect("one var per trainable part")
            } else {
                tape.constant(p.clone())
            }
        })
        .collect();
    Var::concat(&vars, axis)
}

/// The parts of a concat case that are trainable (gradcheck's inputs).
fn trainable(parts: &[Tensor<f64>], needs: &[bool]) -> Vec<Tensor<f64>> {
    parts
        .iter()
        .zip(needs)
        .filter(|(_, &n)| n)
        .map(|(p, _)| p.clone())
        .collect()
}

proptest! {
    #![proptest_config(config(40))]

    #[test]
    fn reshape_grad((t, s) in reshape_case()) {
        check1(|_, v| v[0].reshape(&s), &[t])?;
    }

    #[test]
    fn reshape_gradgrad((t, s) in reshape_case()) {
        check2(|_, v| v[0].reshape(&s).square(), &[t])?;
    }

    #[test]
    fn permute_grad((t, p) in permute_case()) {
        check1(|_, v| v[0].permute(&as_axes(&p)), &[t])?;
    }

    #[test]
    fn permute_gradgrad((t, p) in permute_case()) {
        check2(|_, v| v[0].permute(&as_axes(&p)).square(), &[t])?;
    }

    #[test]
    fn transpose_grad((t, a, b) in transpose_case()) {
        check1(|_, v| v[0].transpose(a, b), &[t])?;
    }

    #[test]
    fn transpose_gradgrad((t, a, b) in transpose_case()) {
        check2(|_, v| v[0].transpose(a, b).square(), &[t])?;
    }

    #[test]
    fn t_grad(t in shape_rank(2, 4, 4).prop_flat_map(|s| tensor_of(s, smooth()))) {
        check1(|_, v| v[0].t(), &[t])?;
    }

    #[test]
    fn t_gradgrad(t in shape_rank(2, 4, 4).prop_flat_map(|s| tensor_of(s, smooth()))) {
        check2(|_, v| v[0].t().square(), &[t])?;
    }

    #[test]
    fn squeeze_grad((t, axis) in squeeze_case()) {
        check1(|_, v| v[0].squeeze(axis), &[t])?;
    }

    #[test]
    fn squeeze_gradgrad((t, axis) in squeeze_case()) {
        check2(|_, v| v[0].squeeze(axis).square(), &[t])?;
    }

    #[test]
    fn unsqueeze_grad((t, axis) in unsqueeze_case()) {
        check1(|_, v| v[0].unsqueeze(axis), &[t])?;
    }

    #[test]
    fn unsqueeze_gradgrad((t, axis) in unsqueeze_case()) {
        check2(|_, v| v[0].unsqueeze(axis).square(), &[t])?;
    }

    #[test]
    fn flatten_grad(t in shape_rank(1, 4, 4).prop_flat_map(|s| tensor_of(s, smooth()))) {
        check1(|_, v| v[0].flatten(), &[t])?;
    }

    #[test]
    fn flatten_gradgrad(t in shape_rank(1, 4, 4).prop_flat_map(|s| tensor_of(s, smooth()))) {
        check2(|_, v| v[0].flatten().square(), &[t])?;
    }

    #[test]
    fn broadcast_to_grad((t, s) in broadcast_case()) {
        check1(|_, v| v[0].broadcast_to(&s), &[t])?;
    }

    #[test]
    fn broadcast_to_gradgrad((t, s) in broadcast_case()) {
        check2(|_, v| v[0].broadcast_to(&s).square(), &[t])?;
    }

    #[test]
    fn sum_to_grad((t, s) in sum_to_case()) {
        check1(|_, v| v[0].sum_to(&s), &[t])?;
    }

    #[test]
    fn sum_to_gradgrad((t, s) in sum_to_case()) {
        check2(|_, v| v[0].sum_to(&s).square(), &[t])?;
    }

    #[test]
    fn narrow_grad((t, axis, start, len) in narrow_case()) {
        check1(|_, v| v[0].narrow(axis as isize, start, len), &[t])?;
    }

    #[test]
    fn narrow_gradgrad((t, axis, start, len) in narrow_case()) {
        check2(|_, v| v[0].narrow(axis as isize, start, len).square(), &[t])?;
    }

    #[test]
    fn select_grad((t, axis, start, _len) in narrow_case()) {
        check1(|_, v| v[0].select(axis as isize, start), &[t])?;
    }

    #[test]
    fn select_gradgrad((t, axis, start, _len) in narrow_case()) {
        check2(|_, v| v[0].select(axis as isize, start).square(), &[t])?;
    }

    #[test]
    fn pad_axis_grad((t, axis, before, after) in pad_case()) {
        check1(|_, v| v[0].pad_axis(axis, before, after), &[t])?;
    }

    #[test]
    fn pad_axis_gradgrad((t, axis, before, after) in pad_case()) {
        check2(|_, v| v[0].pad_axis(axis, before, after).square(), &[t])?;
    }

    #[test]
    fn concat_grad((ts, axis, needs) in concat_case()) {
        check1(|tape, v| concat_some(tape, v, &ts, axis, &needs), &trainable(&ts, &needs))?;
    }

    #[test]
    fn concat_gradgrad((ts, axis, needs) in concat_case()) {
        check2(|tape, v| concat_some(tape, v, &ts, axis, &needs).square(), &trainable(&ts, &needs))?;
    }

    #[test]
    fn stack_grad((ts, axis) in stack_case()) {
        check1(|_, v| Var::stack(v, axis), &ts)?;
    }

    #[test]
    fn stack_gradgrad((ts, axis) in stack_case()) {
        check2(|_, v| Var::stack(v, axis).square(), &ts)?;
    }
}
