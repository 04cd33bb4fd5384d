//! Class 1: memory safety. Every element count, stride product and offset
//! is computed in checked arithmetic, before any memory is touched.

use crate::{outcome, panics_with};
use proptest::prelude::*;
use tapegrad::tensor::{try_numel, IndexTensor, Tensor};

const BIG: usize = 1 << 32;

/// `start + len` wrapped: `narrow(0, usize::MAX, 2)` was accepted, and a
/// matmul of the view read heap bytes (and segfaulted on a large tensor).
#[test]
fn narrow_with_a_wrapping_range_panics() {
    let a = Tensor::<f32>::arange(0.0, 9.0, 1.0).reshape(&[3, 3]);
    panics_with(&["narrow", "out of bounds", "[3, 3]"], || {
        a.narrow(0, usize::MAX, 2)
    });
    panics_with(&["narrow"], || a.narrow(1, 2, usize::MAX));
    // An empty range at the end is fine, as in PyTorch.
    assert_eq!(a.narrow(0, 3, 0).shape(), &[0, 3]);
}

/// The element count wrapped to 0, so `from_vec(vec![], ..)` accepted a
/// shape of 2^64 elements and `zeros` gave a tensor with no storage.
#[test]
fn element_counts_that_overflow_panic() {
    let msg = "shape [4294967296, 4294967296] has more elements than fit in memory";
    panics_with(&["from_vec", msg], || {
        Tensor::<f32>::from_vec(vec![], &[BIG, BIG])
    });
    panics_with(&["zeros", msg], || Tensor::<f32>::zeros(&[BIG, BIG]));
    panics_with(&["ones", msg], || Tensor::<f32>::ones(&[BIG, BIG]));
    let s = Tensor::<f32>::scalar(1.0);
    panics_with(&["broadcast_to", msg], || s.broadcast_to(&[BIG, BIG]));
    // Broadcasting in a binary op: each side fits, their broadcast does not.
    let col = Tensor::<f32>::scalar(1.0).broadcast_to(&[BIG, 1]);
    let row = Tensor::<f32>::scalar(1.0).broadcast_to(&[1, BIG]);
    panics_with(&["add", msg], || col.add(&row));
    panics_with(&["where", msg], || col.where_cond(&row, &col));
    panics_with(&["reshape"], || {
        Tensor::<f32>::zeros(&[4]).reshape(&[1 << 62, 4, 4])
    });
    panics_with(&["eye", msg], || Tensor::<f32>::eye(BIG));
    panics_with(&["one_hot"], || {
        Tensor::<f32>::one_hot(&[0; 4], usize::MAX / 2)
    });
}

/// The output length of this matmul wrapped and the kernel wrote past a
/// heap buffer.
#[test]
fn matmul_whose_output_overflows_panics() {
    let s = Tensor::<f32>::scalar(1.0);
    let b = Tensor::<f32>::ones(&[1, 2]);
    panics_with(
        &["broadcast_to", "more elements than fit in memory"],
        || s.broadcast_to(&[(1 << 63) + 1, 1]).matmul(&b),
    );
    // A valid view of 2^62 rows whose product would have 2^63 elements.
    let tall = s.broadcast_to(&[1 << 62, 1]);
    panics_with(&["matmul", "more elements than fit in memory"], || {
        tall.matmul(&b)
    });
    // Batch dimensions that broadcast to too many matrices.
    let a = Tensor::<f32>::zeros(&[1, 2, 2]).broadcast_to(&[BIG, 2, 2]);
    let c = Tensor::<f32>::zeros(&[1, 1, 2, 2]).broadcast_to(&[BIG, 1, 2, 2]);
    panics_with(&["matmul", "more elements than fit in memory"], || {
        a.matmul(&c)
    });
}

/// An allocation the machine cannot make is a panic naming the op and the
/// size, not a process abort.
#[test]
fn allocation_failure_is_a_clear_panic() {
    // 2^60 f32 elements: 4 EiB, more than any address space, so the
    // allocator refuses whatever the overcommit policy.
    panics_with(
        &["ones", "cannot allocate 4611686018427387904 bytes"],
        || Tensor::<f32>::ones(&[1 << 60]),
    );
    panics_with(&["zeros", "cannot allocate"], || {
        Tensor::<f32>::zeros(&[1 << 60])
    });
    // 2^62 f64 elements: the byte count itself overflows.
    panics_with(&["full", "more bytes than fit in memory"], || {
        Tensor::<f64>::full(&[1 << 62], 2.0)
    });
    let huge = Tensor::<f32>::scalar(1.0).broadcast_to(&[1 << 60]);
    panics_with(&["to_vec", "cannot allocate"], || huge.to_vec());
    panics_with(&["exp", "cannot allocate"], || huge.exp());
}

/// Convolution geometry with a padding near 2^62 wrapped to a small size.
#[test]
fn conv_geometry_that_overflows_panics() {
    let x = Tensor::<f32>::zeros(&[1, 1, 4, 4]);
    panics_with(&["im2col"], || {
        x.im2col((3, 3), (1, 1), (1 << 62, 1 << 62), (1, 1))
    });
    panics_with(&["im2col"], || {
        x.im2col((3, 3), (1, 1), (usize::MAX, 0), (1, 1))
    });
    panics_with(&["im2col"], || {
        x.im2col((2, 2), (1, 1), (0, 0), (usize::MAX, 1))
    });
}

/// The sizes an adversary reaches for.
fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(0usize),
        Just(1),
        Just(2),
        Just(3),
        Just(1 << 31),
        Just(1 << 32),
        Just((1 << 63) + 1),
        Just(usize::MAX),
        0..5usize,
    ]
}

fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(size(), 0..=4)
}

/// Tensors with at most this many elements are materialised by the
/// property test; larger valid views are only checked for consistency.
const SMALL: usize = 1 << 16;

/// A successful result must be self-consistent: its element count is the
/// product of its shape, and small results read back in full.
fn consistent(t: &Tensor<f32>, shape: &[usize]) -> Result<(), TestCaseError> {
    prop_assert_eq!(t.shape(), shape);
    prop_assert_eq!(Some(t.numel()), try_numel(shape));
    if t.numel() <= SMALL {
        prop_assert_eq!(t.to_vec().len(), t.numel());
    }
    Ok(())
}

/// A panic must carry a message that names the op.
fn named(
    result: Result<Tensor<f32>, String>,
    op: &str,
    shape: &[usize],
) -> Result<(), TestCaseError> {
    match result {
        Ok(t) => consistent(&t, shape),
        Err(msg) => {
            prop_assert!(
                msg.contains(op),
                "{} panicked without naming itself: {:?}",
                op,
                msg
            );
            Ok(())
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Every constructor and view op on adversarial shapes either succeeds
    /// consistently or panics with a message; none may crash.
    #[test]
    fn constructors_and_views_take_any_size(shape in shape(), a in size(), b in size(), axis in 0..4usize) {
        let fits = try_numel(&shape);
        // Constructors that would write a large buffer are only run where
        // the answer is small or a panic; `zeros` is calloc'd, so a large
        // representable request either maps lazily or fails cleanly.
        named(outcome(|| Tensor::zeros(&shape)), "zeros", &shape)?;
        if fits.is_none_or(|n| n <= SMALL) {
            named(outcome(|| Tensor::full(&shape, 1.5)), "full", &shape)?;
            named(outcome(|| Tensor::ones(&shape)), "ones", &shape)?;
        }
        named(outcome(|| Tensor::from_vec(vec![], &shape)), "from_vec", &shape)?;
        // Views of one scalar: broadcast_to any shape.
        let s = Tensor::<f32>::scalar(2.0);
        let view = outcome(|| s.broadcast_to(&shape));
        named(view.clone(), "broadcast_to", &shape)?;
        if let Ok(v) = view {
            // Every view op on it, with adversarial arguments.
            let nd = shape.len();
            if nd > 0 {
                let d = axis % nd;
                let r = outcome(|| v.narrow(d as isize, a, b));
                match r {
                    Ok(n) => {
                        prop_assert!(a.checked_add(b).is_some_and(|e| e <= shape[d]));
                        let mut want = shape.clone();
                        want[d] = b;
                        consistent(&n, &want)?;
                    }
                    Err(msg) => prop_assert!(msg.contains("narrow"), "{}", msg),
                }
                let mut perm: Vec<usize> = (0..nd).collect();
                perm.rotate_left(d);
                let p = v.permute(&tapegrad::tensor::shape_rules::as_axes(&perm));
                let want: Vec<usize> = perm.iter().map(|&i| shape[i]).collect();
                consistent(&p, &want)?;
                let u = v.unsqueeze(d as isize);
                prop_assert_eq!(u.numel(), v.numel());
            }
            // A reshape of this (non-contiguous) view copies: only where the
            // copy is small or the counts cannot match.
            if v.numel() <= SMALL || try_numel(&[a, b]) != Some(v.numel()) {
                named(outcome(|| v.reshape(&[a, b])), "reshape", &[a, b])?;
            }
            if v.numel() <= SMALL {
                let sum = v.sum_all().item();
                prop_assert_eq!(sum as f64, 2.0 * v.numel() as f64);
                named(outcome(|| v.contiguous()), "contiguous", &shape)?;
            }
            // matmul of the view (as [.., k]) by [k, 2]: the output count
            // is checked before the kernel runs.
            if nd >= 1 {
                let k = shape[nd - 1];
                let out: Vec<usize> = shape[..nd - 1].iter().copied().chain([2]).collect();
                if k <= SMALL && try_numel(&out).is_none_or(|n| n <= SMALL) {
                    let w = Tensor::<f32>::ones(&[k, 2]);
                    let r = outcome(|| v.matmul(&w));
                    match r {
                        Ok(m) => {
                            consistent(&m, &out)?;
                            prop_assert!(m.to_vec().iter().all(|&x| x == 2.0 * k as f32));
                        }
                        Err(msg) => {
                            prop_assert!(try_numel(&out).is_none(), "matmul refused {:?}: {}", out, msg);
                            prop_assert!(msg.contains("matmul"), "{}", msg);
                        }
                    }
                }
            }
        }
        // Joining: concat of two broadcast rows along a huge axis.
        let row = Tensor::<f32>::scalar(0.0).broadcast_to(&[1, 1]);
        if let Ok(wide) = outcome(|| row.broadcast_to(&[a.min(SMALL), 1])) {
            let r = outcome(|| Tensor::concat(&[&wide, &row], 0));
            named(r, "concat", &[a.min(SMALL) + 1, 1])?;
        }
        // Padding by adversarial amounts: small results are built, sums that
        // overflow (or exceed what a tensor holds) are refused.
        let padded = a.checked_add(b).and_then(|n| n.checked_add(2)).and_then(|n| try_numel(&[n]));
        if padded.is_none_or(|n| n <= SMALL) {
            let r = outcome(|| Tensor::<f32>::ones(&[2]).pad_axis(0, a, b, 0.0));
            match (r, padded) {
                (Ok(p), Some(n)) => consistent(&p, &[n])?,
                (Err(msg), None) => prop_assert!(msg.contains("pad_axis"), "{}", msg),
                (r, n) => prop_assert!(false, "pad_axis({}, {}) gave {:?} for size {:?}", a, b, r.map(|t| t.numel()), n),
            }
        }
        // Index arrays of adversarial shapes.
        let r = outcome(|| IndexTensor::from_vec(vec![], &shape));
        if let Ok(i) = r {
            prop_assert_eq!(Some(i.numel()), try_numel(&shape));
        }
    }
}
