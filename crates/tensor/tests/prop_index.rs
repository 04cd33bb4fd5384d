//! Joining and indexing against loops: `concat`, `stack`, `pad_axis`,
//! `index_select`, `index_add`, `gather`, `scatter_add` and `one_hot`, on
//! strided operands; and the adjoint pairs (`<select(x), y> = <x, add(y)>`)
//! that make `index_add`/`scatter_add` the gradients of `index_select`/`gather`.

mod common;

use common::*;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tapegrad_tensor::{IndexTensor, Tensor};

/// `n` random indices in `0..size` (repeats likely).
fn indices(n: usize, size: usize, seed: u64) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(0..size)).collect()
}

/// A tensor shape, an axis of it and a seed.
fn shape_axis() -> impl Strategy<Value = (Vec<usize>, usize, u64)> {
    shape(1, 4, 4).prop_flat_map(|s| {
        let r = s.len();
        (Just(s), 0..r, any::<u64>())
    })
}

/// A random index tensor for `gather`/`scatter_add` along `axis` of `s`:
/// no larger than `s` outside `axis`, any length along it.
fn index_shape(s: &[usize], axis: usize, seed: u64) -> Vec<usize> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..s.len())
        .map(|d| {
            if d == axis {
                rng.random_range(1..=5)
            } else {
                rng.random_range(1..=s[d])
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn concat_matches_loop(
        (s, axis, seed) in shape_axis(), sizes in prop::collection::vec(0..=3usize, 1..=4),
        kinds in prop::collection::vec(kind(), 4), negative in any::<bool>(),
    ) {
        let shapes: Vec<Vec<usize>> = sizes.iter().map(|&n| { let mut t = s.clone(); t[axis] = n; t }).collect();
        let vals: Vec<Vec<f64>> = shapes.iter().enumerate().map(|(i, sh)| values(numel(sh), seed + i as u64)).collect();
        let ts: Vec<Tensor<f64>> = (0..shapes.len()).map(|i| view(&vals[i], &shapes[i], kinds[i])).collect();
        let mut out_shape = s.clone();
        out_shape[axis] = sizes.iter().sum();
        // Output position p along axis belongs to the part whose range holds it.
        let want: Vec<f64> = (0..numel(&out_shape)).map(|lin| {
            let mut idx = unravel(lin, &out_shape);
            let mut part = 0;
            while idx[axis] >= sizes[part] {
                idx[axis] -= sizes[part];
                part += 1;
            }
            vals[part][ravel(&idx, &shapes[part])]
        }).collect();
        let refs: Vec<&Tensor<f64>> = ts.iter().collect();
        let a = if negative { axis as isize - s.len() as isize } else { axis as isize };
        let got = Tensor::concat(&refs, a);
        prop_assert_eq!(got.shape(), out_shape.as_slice());
        prop_assert_eq!(got.to_vec(), want);
    }

    #[test]
    fn stack_matches_loop(
        s in shape(0, 3, 4), count in 1..=4usize, at in 0..4usize, k in kind(), seed in any::<u64>(),
    ) {
        let at = at % (s.len() + 1);
        let vals: Vec<Vec<f64>> = (0..count).map(|i| values(numel(&s), seed + i as u64)).collect();
        let ts: Vec<Tensor<f64>> = vals.iter().map(|v| view(v, &s, k)).collect();
        let mut out_shape = s.clone();
        out_shape.insert(at, count);
        let want: Vec<f64> = (0..numel(&out_shape)).map(|lin| {
            let mut idx = unravel(lin, &out_shape);
            let which = idx.remove(at);
            vals[which][ravel(&idx, &s)]
        }).collect();
        let refs: Vec<&Tensor<f64>> = ts.iter().collect();
        let got = Tensor::stack(&refs, at as isize);
        prop_assert_eq!(got.shape(), out_shape.as_slice());
        prop_assert_eq!(got.to_vec(), want);
    }

    #[test]
    fn pad_axis_surrounds_with_a_value(
        (s, axis, seed) in shape_axis(), before in 0..3usize, after in 0..3usize,
    ) {
        let x = values(numel(&s), seed);
        let mut out_shape = s.clone();
        out_shape[axis] += before + after;
        let want: Vec<f64> = (0..numel(&out_shape)).map(|lin| {
            let mut idx = unravel(lin, &out_shape);
            if idx[axis] < before || idx[axis] >= before + s[axis] {
                return 7.0;
            }
            idx[axis] -= before;
            x[ravel(&idx, &s)]
        }).collect();
        let got = view::<f64>(&x, &s, Kind::Permuted).pad_axis(axis as isize, before, after, 7.0);
        prop_assert_eq!(got.shape(), out_shape.as_slice());
        prop_assert_eq!(got.to_vec(), want);
    }

    #[test]
    fn index_select_and_index_add_match_loops_and_are_adjoint(
        (s, axis, seed) in shape_axis(), n in 0..6usize, k in kind(),
    ) {
        let idx = indices(n, s[axis], seed);
        let x = values(numel(&s), seed + 1);
        let mut sel_shape = s.clone();
        sel_shape[axis] = n;
        let want: Vec<f64> = (0..numel(&sel_shape)).map(|lin| {
            let mut i = unravel(lin, &sel_shape);
            i[axis] = idx[i[axis]];
            x[ravel(&i, &s)]
        }).collect();
        let sel = view::<f64>(&x, &s, k).index_select(axis as isize, &idx);
        prop_assert_eq!(sel.shape(), sel_shape.as_slice());
        prop_assert_eq!(sel.to_vec(), want.clone());

        // index_add: out = base; out[.., idx[j], ..] += src[.., j, ..].
        let base = values(numel(&s), seed + 2);
        let src = values(numel(&sel_shape), seed + 3);
        let mut want_add = base.clone();
        for (lin, v) in src.iter().enumerate() {
            let mut i = unravel(lin, &sel_shape);
            i[axis] = idx[i[axis]];
            want_add[ravel(&i, &s)] += v;
        }
        let got = view::<f64>(&base, &s, k).index_add(axis as isize, &idx, &view(&src, &sel_shape, k));
        assert_close(&got.to_vec(), &want_add, 1e-15, "index_add");

        // <index_select(x), y> = <x, index_add(0, y)>.
        let zeros = Tensor::<f64>::zeros(&s);
        let back = zeros.index_add(axis as isize, &idx, &Tensor::from_vec(src.clone(), &sel_shape));
        assert_close(&[dot(&want, &src)], &[dot(&x, &back.to_vec())], 1e-12, "adjoint");
    }

    #[test]
    fn gather_and_scatter_add_match_loops_and_are_adjoint(
        (s, axis, seed) in shape_axis(), k in kind(), ki in kind(),
    ) {
        let is = index_shape(&s, axis, seed);
        let idx: Vec<usize> = indices(numel(&is), s[axis], seed + 1);
        let x = values(numel(&s), seed + 2);
        // out[p] = x[p with axis replaced by idx[p]].
        let at = |lin: usize| {
            let mut p = unravel(lin, &is);
            p[axis] = idx[lin];
            ravel(&p, &s)
        };
        let want: Vec<f64> = (0..numel(&is)).map(|lin| x[at(lin)]).collect();
        let index = IndexTensor::from_vec(idx.clone(), &is);
        let got = view::<f64>(&x, &s, k).gather(axis as isize, &index);
        prop_assert_eq!(got.shape(), is.as_slice());
        prop_assert_eq!(got.to_vec(), want.clone());

        // scatter_add with a src larger than the index: only its leading block is used.
        let mut src_shape = is.clone();
        src_shape[0] += 1;
        let src = values(numel(&src_shape), seed + 3);
        let base = values(numel(&s), seed + 4);
        let mut want_add = base.clone();
        for lin in 0..numel(&is) {
            want_add[at(lin)] += src[ravel(&unravel(lin, &is), &src_shape)];
        }
        let got = view::<f64>(&base, &s, k).scatter_add(axis as isize, &index, &view(&src, &src_shape, ki));
        prop_assert_eq!(got.shape(), s.as_slice());
        assert_close(&got.to_vec(), &want_add, 1e-15, "scatter_add");

        // <gather(x), y> = <x, scatter_add(0, y)>.
        let y = values(numel(&is), seed + 5);
        let back = Tensor::<f64>::zeros(&s).scatter_add(axis as isize, &index, &Tensor::from_vec(y.clone(), &is));
        assert_close(&[dot(&want, &y)], &[dot(&x, &back.to_vec())], 1e-12, "adjoint");
    }

    #[test]
    fn one_hot_matches_loop(labels in prop::collection::vec(0..5usize, 0..8), extra in 0..3usize) {
        let classes = 5 + extra;
        let got = Tensor::<f32>::one_hot(&labels, classes);
        prop_assert_eq!(got.shape(), &[labels.len(), classes][..]);
        for (i, &l) in labels.iter().enumerate() {
            for c in 0..classes {
                prop_assert_eq!(got.get(&[i, c]), if c == l { 1.0 } else { 0.0 });
            }
        }
    }
}

/// Large enough for the parallel row loops of concat, index_select, index_add and gather.
#[test]
fn large_index_ops_match_loops() {
    let (r, c) = (1000, 300);
    const _: () = assert!(1000 * 300 > tapegrad_tensor::tuning::PARALLEL_THRESHOLD);
    let x = values(r * c, 1);
    let t = view::<f64>(&x, &[r, c], Kind::PermutedNarrowed);
    let idx = indices(r, r, 2);
    let sel = t.index_select(0, &idx);
    for (j, &i) in idx.iter().enumerate() {
        assert_eq!(
            sel.narrow(0, j, 1).to_vec(),
            x[i * c..(i + 1) * c],
            "row {j}"
        );
    }
    let both = Tensor::concat(&[&t, &t], 1);
    assert_eq!(both.narrow(1, c, c).to_vec(), x);
    let added = Tensor::<f64>::zeros(&[r, c]).index_add(0, &idx, &sel);
    let mut want = vec![0.0; r * c];
    for &i in &idx {
        for k in 0..c {
            want[i * c + k] += x[i * c + k];
        }
    }
    assert_close(&added.to_vec(), &want, 1e-15, "index_add");
    let cols: Vec<usize> = indices(r * c, c, 3);
    let g = t.gather(1, &IndexTensor::from_vec(cols.clone(), &[r, c]));
    let want: Vec<f64> = (0..r * c).map(|lin| x[lin / c * c + cols[lin]]).collect();
    assert_eq!(g.to_vec(), want);
}
