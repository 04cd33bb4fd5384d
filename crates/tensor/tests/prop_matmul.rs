//! `matmul` against a triple loop: random shapes (sizes 1 included), strided
//! and sliced operands, broadcast batch dimensions, 1-D operands, f32 and
//! f64, and products large enough to take the parallel block path; and 2-D
//! products in every operand layout the gemm kernel dispatches on (with the
//! `blas` feature: contiguous, `.t()` and narrowed views go to OpenBLAS,
//! broadcast matrices to `matrixmultiply`), sizes 0 and 1 included, within
//! a rounding-error bound derived from k and epsilon.

mod common;

use common::*;
use proptest::prelude::*;
use tapegrad_tensor::{Float, Tensor};

/// Reference `[.., m, k] x [.., k, n]` with broadcast batch dimensions.
fn matmul_ref(
    a: &[f64],
    a_shape: &[usize],
    b: &[f64],
    b_shape: &[usize],
) -> (Vec<f64>, Vec<usize>) {
    let (ar, br) = (a_shape.len(), b_shape.len());
    let (m, k, n) = (a_shape[ar - 2], a_shape[ar - 1], b_shape[br - 1]);
    assert_eq!(k, b_shape[br - 2]);
    let (a_batch, b_batch) = (&a_shape[..ar - 2], &b_shape[..br - 2]);
    let batch = broadcast(a_batch, b_batch).expect("batch dims broadcast");
    let mut out = Vec::new();
    for bi in 0..numel(&batch) {
        let bidx = unravel(bi, &batch);
        let a0 = ravel(&broadcast_index(&bidx, a_batch), a_batch) * m * k;
        let b0 = ravel(&broadcast_index(&bidx, b_batch), b_batch) * k * n;
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k).map(|p| a[a0 + i * k + p] * b[b0 + p * n + j]).sum();
                out.push(s);
            }
        }
    }
    let mut shape = batch;
    shape.extend([m, n]);
    (out, shape)
}

/// One random batched product: sizes, batch shape and how each side
/// broadcasts it, the operands' layouts, and a seed for the values.
#[derive(Debug, Clone)]
struct Case {
    k: usize,
    a_shape: Vec<usize>,
    b_shape: Vec<usize>,
    kinds: (Kind, Kind),
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (1..=6usize, 1..=6usize, 1..=6usize),
        shape(0, 2, 3),
        (0..=2usize, 0..=2usize, any::<u32>(), any::<u32>()),
        (kind(), kind()),
        any::<u64>(),
    )
        .prop_map(|((m, k, n), batch, (da, db, oa, ob), kinds, seed)| {
            let mut a_shape = broadcastable(&batch, da, oa);
            let mut b_shape = broadcastable(&batch, db, ob);
            a_shape.extend([m, k]);
            b_shape.extend([k, n]);
            Case {
                k,
                a_shape,
                b_shape,
                kinds,
                seed,
            }
        })
}

/// Checks one case in element type `E`; `tol` is per unit of `k`.
fn check<E: Float>(c: &Case, tol: f64) -> Result<(), TestCaseError> {
    let a_vals = rounded::<E>(&values(numel(&c.a_shape), c.seed));
    let b_vals = rounded::<E>(&values(numel(&c.b_shape), c.seed ^ 0x9e37));
    let a = view::<E>(&a_vals, &c.a_shape, c.kinds.0);
    let b = view::<E>(&b_vals, &c.b_shape, c.kinds.1);
    let (want, want_shape) = matmul_ref(&a_vals, &c.a_shape, &b_vals, &c.b_shape);
    let got = a.matmul(&b);
    prop_assert_eq!(got.shape(), want_shape.as_slice());
    assert_close(&got.to_f64_vec(), &want, tol * c.k as f64, "matmul");
    Ok(())
}

/// How one 2-D operand of [`LayoutCase`] is stored.
#[derive(Clone, Copy, Debug)]
enum Layout {
    /// Row-major.
    Contiguous,
    /// `.t()` of a contiguous copy of its transpose: unit row stride.
    Transposed,
    /// One row `[1, c]` broadcast to `[r, c]`: row stride 0.
    RowBroadcast,
    /// One column `[r, 1]` broadcast to `[r, c]`: column stride 0.
    ColBroadcast,
    /// A window of a larger NaN-bordered buffer (rows further apart than
    /// their length, an offset).
    Narrowed,
    /// A window of a column-major buffer.
    TransposedNarrowed,
}

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![
        Just(Layout::Contiguous),
        Just(Layout::Transposed),
        Just(Layout::RowBroadcast),
        Just(Layout::ColBroadcast),
        Just(Layout::Narrowed),
        Just(Layout::TransposedNarrowed),
    ]
}

/// A matrix dimension: 0, 1, small, or past a few kernel tiles.
fn dim() -> impl Strategy<Value = usize> {
    prop_oneof![Just(0usize), Just(1usize), 2..=9usize, 10..=70usize]
}

/// An `r x c` operand in `layout` from `seed`, with its logical row-major
/// values (rounded to `E`).
fn laid_out<E: Float>(r: usize, c: usize, layout: Layout, seed: u64) -> (Tensor<E>, Vec<f64>) {
    let repeat = |vals: &[f64], f: &dyn Fn(usize, usize) -> usize| -> Vec<f64> {
        (0..r * c).map(|i| vals[f(i / c, i % c)]).collect()
    };
    match layout {
        Layout::RowBroadcast => {
            let row = rounded::<E>(&values(c, seed));
            let t = view::<E>(&row, &[1, c], Kind::Contiguous).broadcast_to(&[r, c]);
            (t, repeat(&row, &|_, j| j))
        }
        Layout::ColBroadcast => {
            let col = rounded::<E>(&values(r, seed));
            let t = view::<E>(&col, &[r, 1], Kind::Contiguous).broadcast_to(&[r, c]);
            (t, repeat(&col, &|i, _| i))
        }
        _ => {
            let vals = rounded::<E>(&values(r * c, seed));
            let t = match layout {
                Layout::Contiguous => view::<E>(&vals, &[r, c], Kind::Contiguous),
                Layout::Transposed => view::<E>(&vals, &[r, c], Kind::Contiguous)
                    .t()
                    .contiguous()
                    .t(),
                Layout::Narrowed => view::<E>(&vals, &[r, c], Kind::Narrowed),
                _ => view::<E>(&vals, &[r, c], Kind::PermutedNarrowed),
            };
            (t, vals)
        }
    }
}

/// One 2-D product: sizes, both layouts, a seed.
#[derive(Debug, Clone)]
struct LayoutCase {
    m: usize,
    k: usize,
    n: usize,
    layouts: (Layout, Layout),
    seed: u64,
}

fn layout_case() -> impl Strategy<Value = LayoutCase> {
    ((dim(), dim(), dim()), (layout(), layout()), any::<u64>()).prop_map(
        |((m, k, n), layouts, seed)| LayoutCase {
            m,
            k,
            n,
            layouts,
            seed,
        },
    )
}

/// `matmul` in `E` against the triple loop in f64, element by element
/// within `k eps Σ_p |a_ip b_pj|`: a dot product of length k summed in any
/// order (with or without FMA) is within `γ_k Σ|a b|` of the exact value,
/// `γ_k = k u / (1 - k u) ≈ k eps / 2`, and so is the f64 loop; their
/// difference is within the sum. k = 0 must give exact zeros.
fn check_layouts<E: Float>(c: &LayoutCase) -> Result<(), TestCaseError> {
    let (m, k, n) = (c.m, c.k, c.n);
    let (a, av) = laid_out::<E>(m, k, c.layouts.0, c.seed);
    let (b, bv) = laid_out::<E>(k, n, c.layouts.1, c.seed ^ 0x9e37);
    prop_assert_eq!(a.to_f64_vec(), av.clone(), "A's layout");
    let got = a.matmul(&b);
    prop_assert_eq!(got.shape(), &[m, n]);
    let got = got.to_f64_vec();
    let eps = E::EPSILON.to_f64();
    for i in 0..m {
        for j in 0..n {
            let terms = (0..k).map(|p| av[i * k + p] * bv[p * n + j]);
            let want: f64 = terms.clone().sum();
            let bound = k as f64 * eps * terms.map(f64::abs).sum::<f64>();
            let g = got[i * n + j];
            prop_assert!(
                (g - want).abs() <= bound,
                "{}x{}x{} {:?}: C[{}, {}] = {}, loop {}, bound {}",
                m,
                k,
                n,
                c.layouts,
                i,
                j,
                g,
                want,
                bound
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4 * CASES))]

    #[test]
    fn matmul_in_every_layout_matches_loop_f32(c in layout_case()) {
        check_layouts::<f32>(&c)?;
    }

    #[test]
    fn matmul_in_every_layout_matches_loop_f64(c in layout_case()) {
        check_layouts::<f64>(&c)?;
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn batched_strided_matmul_matches_loop_f64(c in case()) {
        check::<f64>(&c, 1e-14)?;
    }

    #[test]
    fn batched_strided_matmul_matches_loop_f32(c in case()) {
        check::<f32>(&c, 2e-6)?;
    }

    #[test]
    fn vector_operands_drop_their_dimension(
        (k, n, batch) in (1..=6usize, 1..=6usize, shape(0, 2, 3)),
        seed in any::<u64>(),
    ) {
        // [k] x [.., k, n] -> [.., n]  and  [.., n, k] x [k] -> [.., n].
        let v = values(k, seed);
        let mut m_shape = batch.clone();
        m_shape.extend([k, n]);
        let mv = values(numel(&m_shape), seed ^ 1);
        let vt = Tensor::<f64>::from_vec(v.clone(), &[k]);
        let mt = Tensor::<f64>::from_vec(mv.clone(), &m_shape);
        let (want, mut want_shape) = matmul_ref(&v, &[1, k], &mv, &m_shape);
        want_shape.remove(want_shape.len() - 2);
        let got = vt.matmul(&mt);
        prop_assert_eq!(got.shape(), want_shape.as_slice());
        assert_close(&got.to_vec(), &want, 1e-13, "vector x matrix");

        let mt_t = mt.transpose(-1, -2); // [.., n, k], a strided view
        let (want, mut want_shape) = matmul_ref(&mt_t.to_vec(), mt_t.shape(), &v, &[k, 1]);
        want_shape.pop();
        let got = mt_t.matmul(&vt);
        prop_assert_eq!(got.shape(), want_shape.as_slice());
        assert_close(&got.to_vec(), &want, 1e-13, "matrix x vector");
    }
}

#[test]
fn dot_product_of_vectors_is_a_scalar() {
    let a = values(7, 1);
    let b = values(7, 2);
    let got = Tensor::<f64>::from_vec(a.clone(), &[7]).matmul(&Tensor::from_vec(b.clone(), &[7]));
    assert_eq!(got.shape(), &[] as &[usize]);
    assert_close(&[got.item()], &[dot(&a, &b)], 1e-14, "dot");
}

#[test]
fn empty_inner_dimension_gives_zeros() {
    let a = Tensor::<f32>::zeros(&[2, 0]);
    let b = Tensor::<f32>::zeros(&[0, 3]);
    let got = a.matmul(&b);
    assert_eq!(got.shape(), &[2, 3]);
    assert_eq!(got.to_vec(), vec![0.0; 6]);
    assert_eq!(
        Tensor::<f32>::zeros(&[0, 4])
            .matmul(&Tensor::zeros(&[4, 5]))
            .shape(),
        &[0, 5]
    );
}

/// Products above `MATMUL_PARALLEL_FLOPS`, split into row or column blocks
/// over rayon's threads, on transposed and sliced operands.
#[test]
fn large_products_on_the_parallel_path_match_loop() {
    let cases: [(&[usize], &[usize], Kind, Kind); 5] = [
        (&[200, 150], &[150, 190], Kind::Permuted, Kind::Contiguous),
        (
            &[3, 100, 70],
            &[1, 70, 130],
            Kind::Contiguous,
            Kind::PermutedNarrowed,
        ),
        (&[1000, 50], &[50, 20], Kind::Narrowed, Kind::Permuted),
        (&[20, 50], &[50, 1000], Kind::Contiguous, Kind::Narrowed),
        (
            &[97, 129],
            &[129, 33],
            Kind::PermutedNarrowed,
            Kind::PermutedNarrowed,
        ),
    ];
    for (i, (a_shape, b_shape, ka, kb)) in cases.into_iter().enumerate() {
        let a_vals = values(numel(a_shape), i as u64);
        let b_vals = values(numel(b_shape), 100 + i as u64);
        let (want, want_shape) = matmul_ref(&a_vals, a_shape, &b_vals, b_shape);
        let k = a_shape[a_shape.len() - 1] as f64;
        let got = view::<f64>(&a_vals, a_shape, ka).matmul(&view(&b_vals, b_shape, kb));
        assert_eq!(got.shape(), want_shape.as_slice(), "case {i}");
        assert_close(&got.to_vec(), &want, 1e-14 * k, &format!("f64 case {i}"));
        let (a32, b32) = (rounded::<f32>(&a_vals), rounded::<f32>(&b_vals));
        let (want, _) = matmul_ref(&a32, a_shape, &b32, b_shape);
        let got = view::<f32>(&a32, a_shape, ka).matmul(&view(&b32, b_shape, kb));
        assert_close(&got.to_f64_vec(), &want, 2e-6 * k, &format!("f32 case {i}"));
    }
}

#[test]
fn broadcast_operand_with_zero_strides_multiplies_like_its_copy() {
    // A [1, 4] row broadcast to [5, 4] (row stride 0) times [4, 3].
    let row = Tensor::<f64>::from_vec(values(4, 7), &[1, 4]);
    let rhs = Tensor::<f64>::from_vec(values(12, 8), &[4, 3]);
    let wide = row.broadcast_to(&[5, 4]);
    let got = wide.matmul(&rhs);
    let want = wide.contiguous().matmul(&rhs);
    assert_close(&got.to_vec(), &want.to_vec(), 1e-15, "broadcast lhs");
}

#[test]
fn every_combination_of_unit_sizes_matches_loop() {
    // m, k and n each 1 or not, with every operand layout.
    for (m, k, n) in size_triples([1, 2, 5]) {
        for (ka, kb) in [
            (Kind::Contiguous, Kind::Permuted),
            (Kind::PermutedNarrowed, Kind::Narrowed),
        ] {
            let (sa, sb) = ([m, k], [k, n]);
            let a = values(m * k, (m * 100 + k * 10 + n) as u64);
            let b = values(k * n, (n * 100 + k) as u64);
            let (want, want_shape) = matmul_ref(&a, &sa, &b, &sb);
            let got = view::<f64>(&a, &sa, ka).matmul(&view(&b, &sb, kb));
            assert_eq!(got.shape(), want_shape.as_slice());
            assert_close(&got.to_vec(), &want, 1e-14, &format!("{m}x{k}x{n}"));
        }
    }
}

/// All triples drawn from `sizes`.
fn size_triples(sizes: [usize; 3]) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    for &m in &sizes {
        for &k in &sizes {
            for &n in &sizes {
                out.push((m, k, n));
            }
        }
    }
    out
}
