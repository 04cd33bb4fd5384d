//! View ops against copies made by index arithmetic: `permute`, `transpose`,
//! `t`, `narrow`, `broadcast_to`, `squeeze`/`unsqueeze`, `reshape` and
//! `reshape_infer`, applied to operands that are already strided views.
//! Every result is read twice: `to_vec` (the run walker) and `get` (the
//! layout's index formula), and views must share storage with their source.

mod common;

use common::*;
use proptest::prelude::*;
use tapegrad_tensor::Tensor;

/// Logical contents of `t` read element by element with `get`.
fn by_get(t: &Tensor<f64>) -> Vec<f64> {
    (0..t.numel())
        .map(|lin| t.get(&unravel(lin, t.shape())))
        .collect()
}

/// Asserts `t` has `shape` and, read both ways, the contents `want`.
fn assert_tensor(t: &Tensor<f64>, shape: &[usize], want: &[f64], what: &str) {
    assert_eq!(t.shape(), shape, "{what}: shape");
    assert_eq!(t.to_vec(), want, "{what}: to_vec");
    assert_eq!(by_get(t), want, "{what}: get");
    assert_eq!(t.map(|v| v).to_vec(), want, "{what}: map");
}

/// A shape, its contents and its layout.
fn operand(min_rank: usize, max_rank: usize) -> impl Strategy<Value = (Vec<usize>, Kind, u64)> {
    (shape(min_rank, max_rank, 5), kind(), any::<u64>())
}

/// A permutation of `0..n` for a random `n`.
fn permutation(s: &[usize]) -> impl Strategy<Value = Vec<usize>> {
    Just((0..s.len()).collect::<Vec<_>>()).prop_shuffle()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn permute_matches_index_arithmetic(
        (s, perm) in shape(0, 5, 4).prop_flat_map(|s| (Just(s.clone()), permutation(&s))),
        k in kind(), seed in any::<u64>(),
    ) {
        let x = values(numel(&s), seed);
        let t = view::<f64>(&x, &s, k);
        let out_shape: Vec<usize> = perm.iter().map(|&p| s[p]).collect();
        // out[idx] = x[src] with src[perm[i]] = idx[i].
        let want: Vec<f64> = (0..numel(&s)).map(|lin| {
            let idx = unravel(lin, &out_shape);
            let mut src = vec![0; s.len()];
            for (i, &p) in perm.iter().enumerate() {
                src[p] = idx[i];
            }
            x[ravel(&src, &s)]
        }).collect();
        // Every other entry counted from the end: the same permutation.
        let signed: Vec<isize> = perm.iter().enumerate()
            .map(|(i, &p)| if i % 2 == 1 { p as isize - s.len() as isize } else { p as isize })
            .collect();
        let p = t.permute(&signed);
        assert_tensor(&p, &out_shape, &want, "permute");
        prop_assert!(p.shares_storage_with(&t));
    }

    #[test]
    fn transpose_and_t_swap_two_axes(
        (s, k, seed) in operand(2, 4), a in 0..4usize, b in 0..4usize, negative in any::<bool>(),
    ) {
        let (a, b) = (a % s.len(), b % s.len());
        let x = values(numel(&s), seed);
        let t = view::<f64>(&x, &s, k);
        let mut out_shape = s.clone();
        out_shape.swap(a, b);
        let want: Vec<f64> = (0..numel(&s)).map(|lin| {
            let mut idx = unravel(lin, &out_shape);
            idx.swap(a, b);
            x[ravel(&idx, &s)]
        }).collect();
        let n = s.len() as isize;
        let (ia, ib) = if negative { (a as isize - n, b as isize - n) } else { (a as isize, b as isize) };
        assert_tensor(&t.transpose(ia, ib), &out_shape, &want, "transpose");
        let (ra, rb) = (s.len() - 2, s.len() - 1);
        let mut t_shape = s.clone();
        t_shape.swap(ra, rb);
        let want_t: Vec<f64> = (0..numel(&s)).map(|lin| {
            let mut idx = unravel(lin, &t_shape);
            idx.swap(ra, rb);
            x[ravel(&idx, &s)]
        }).collect();
        assert_tensor(&t.t(), &t_shape, &want_t, "t");
    }

    #[test]
    fn narrow_takes_a_window(
        (s, k, seed) in operand(1, 4), axis in 0..4usize, a in 0..6usize, b in 0..6usize,
    ) {
        let axis = axis % s.len();
        let (start, end) = (a.min(b) % (s[axis] + 1), a.max(b).min(s[axis]));
        let (start, len) = (start.min(end), end - start.min(end));
        let x = values(numel(&s), seed);
        let t = view::<f64>(&x, &s, k);
        let mut out_shape = s.clone();
        out_shape[axis] = len;
        let want: Vec<f64> = (0..numel(&out_shape)).map(|lin| {
            let mut idx = unravel(lin, &out_shape);
            idx[axis] += start;
            x[ravel(&idx, &s)]
        }).collect();
        let v = t.narrow(axis as isize, start, len);
        assert_tensor(&v, &out_shape, &want, "narrow");
        prop_assert!(v.shares_storage_with(&t));
    }

    #[test]
    fn broadcast_to_repeats_without_copying(
        out in shape(0, 4, 4), drop in 0..=4usize, ones in any::<u32>(), k in kind(), seed in any::<u64>(),
    ) {
        let src_shape = broadcastable(&out, drop, ones);
        let x = values(numel(&src_shape), seed);
        let t = view::<f64>(&x, &src_shape, k);
        let want: Vec<f64> = (0..numel(&out))
            .map(|lin| x[ravel(&broadcast_index(&unravel(lin, &out), &src_shape), &src_shape)])
            .collect();
        let b = t.broadcast_to(&out);
        assert_tensor(&b, &out, &want, "broadcast_to");
        prop_assert!(b.shares_storage_with(&t));
        // Broadcast dimensions step by 0.
        let lead = out.len() - src_shape.len();
        for d in 0..out.len() {
            if out[d] > 1 && (d < lead || src_shape[d - lead] == 1) {
                prop_assert_eq!(b.strides()[d], 0);
            }
        }
    }

    /// `to_vec` of a broadcast (its fill path) and of a narrowed window (its
    /// block-copy path) is the logical order, element for element.
    #[test]
    fn to_vec_of_a_broadcast_view_is_its_logical_order(
        out in shape(0, 4, 4), drop in 0..=4usize, ones in any::<u32>(), k in kind(), seed in any::<u64>(),
    ) {
        let src_shape = broadcastable(&out, drop, ones);
        let x = values(numel(&src_shape), seed);
        let b = view::<f64>(&x, &src_shape, k).broadcast_to(&out);
        let want: Vec<f64> = (0..numel(&out))
            .map(|lin| x[ravel(&broadcast_index(&unravel(lin, &out), &src_shape), &src_shape)])
            .collect();
        prop_assert_eq!(b.to_vec(), want.clone());
        prop_assert_eq!(b.contiguous().to_vec(), want);
    }

    #[test]
    fn unsqueeze_then_squeeze_round_trips(
        (s, k, seed) in operand(0, 4), at in 0..5usize, negative in any::<bool>(),
    ) {
        let at = at % (s.len() + 1);
        let x = values(numel(&s), seed);
        let t = view::<f64>(&x, &s, k);
        let mut up_shape = s.clone();
        up_shape.insert(at, 1);
        let ia = if negative { at as isize - (s.len() as isize + 1) } else { at as isize };
        let u = t.unsqueeze(ia);
        assert_tensor(&u, &up_shape, &x, "unsqueeze");
        prop_assert!(u.shares_storage_with(&t));
        assert_tensor(&u.squeeze(ia), &s, &x, "squeeze");
        let kept: Vec<usize> = s.iter().copied().filter(|&n| n != 1).collect();
        assert_tensor(&u.squeeze_all(), &kept, &x, "squeeze_all");
    }

    #[test]
    fn reshape_keeps_row_major_order(
        (s, k, seed) in operand(0, 4), which in 0..4usize, infer_at in 0..4usize,
    ) {
        let n = numel(&s);
        let target: Vec<usize> = match which {
            0 => vec![n],
            1 => vec![1, n, 1],
            2 => s.iter().rev().copied().collect(), // same count, different shape
            _ if s.len() >= 2 => {
                let mut m = vec![s[0] * s[1]];
                m.extend(&s[2..]);
                m
            }
            _ => vec![n, 1],
        };
        let x = values(n, seed);
        let t = view::<f64>(&x, &s, k);
        let r = t.reshape(&target);
        assert_tensor(&r, &target, &x, "reshape");
        if t.is_contiguous() {
            prop_assert!(r.shares_storage_with(&t));
        }
        assert_tensor(&t.flatten_all(), &[n], &x, "flatten_all");
        assert_tensor(&t.contiguous(), &s, &x, "contiguous");
        prop_assert!(t.contiguous().is_contiguous());
        if !target.is_empty() {
            let mut spec: Vec<isize> = target.iter().map(|&d| d as isize).collect();
            let at = infer_at % spec.len();
            if n > 0 {
                spec[at] = -1;
            }
            assert_tensor(&t.reshape_infer(&spec), &target, &x, "reshape_infer");
        }
    }

    #[test]
    fn chained_views_compose(
        (s, k, seed) in operand(2, 3), reps in 1..4usize,
    ) {
        // transpose(0, 1) -> narrow(0, 1..) -> unsqueeze(0) -> broadcast to reps copies.
        prop_assume!(s[1] >= 2);
        let x = values(numel(&s), seed);
        let t = view::<f64>(&x, &s, k);
        let mut tr_shape = s.clone();
        tr_shape.swap(0, 1);
        let mut nar_shape = tr_shape.clone();
        nar_shape[0] -= 1;
        let mut out_shape = vec![reps];
        out_shape.extend(&nar_shape);
        let want: Vec<f64> = (0..numel(&out_shape)).map(|lin| {
            let idx = unravel(lin, &out_shape);
            let mut src = idx[1..].to_vec(); // drop the broadcast axis
            src[0] += 1; // undo the narrow
            src.swap(0, 1); // undo the transpose
            x[ravel(&src, &s)]
        }).collect();
        let v = t.transpose(0, 1).narrow(0, 1, nar_shape[0]).unsqueeze(0).broadcast_to(&out_shape);
        assert_tensor(&v, &out_shape, &want, "chain");
        prop_assert!(v.shares_storage_with(&t));
    }
}
