//! Shape rules on their own, without data: what `matmul`, `permute` and
//! `transpose` produce from their operands' shapes, and the errors they
//! raise. `Tensor` and the autodiff `Var` both call these, so the two agree
//! on every shape and every message.

use crate::layout::normalize_axis;

/// The NumPy broadcast of two shapes, or `None` if they are incompatible:
/// aligned on the right, each pair of sizes equal or one of them 1.
///
/// ```
/// use tapegrad_tensor::broadcast_shapes;
///
/// assert_eq!(broadcast_shapes(&[3, 1], &[4]), Some(vec![3, 4]));
/// assert_eq!(broadcast_shapes(&[3], &[4]), None);
/// ```
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    crate::layout::broadcast_shapes(a, b).map(|s| s.to_vec())
}

/// The output shape `[m, n]` of `addmm`: `input + a b` for 2-D `a` `[m, k]`
/// and `b` `[k, n]`, `input` broadcasting to `[m, n]`.
///
/// ```
/// use tapegrad_tensor::shape_rules::addmm_shape;
///
/// assert_eq!(addmm_shape(&[4], &[2, 3], &[3, 4]), [2, 4]);
/// ```
///
/// # Panics
/// If `a` or `b` is not 2-D, the inner dimensions differ, or `input` does
/// not broadcast to `[m, n]`:
/// `addmm: input [3] does not broadcast to the product's shape [2, 4]`.
#[track_caller]
pub fn addmm_shape(input: &[usize], a: &[usize], b: &[usize]) -> [usize; 2] {
    if a.len() != 2 || b.len() != 2 {
        panic!("addmm: {a:?} x {b:?}: both operands must be 2-D");
    }
    if a[1] != b[0] {
        panic!(
            "addmm: {a:?} x {b:?}: inner dimensions {} and {} differ",
            a[1], b[0]
        );
    }
    let out = [a[0], b[1]];
    if crate::layout::broadcast_shapes(input, &out).is_none_or(|s| s.as_slice() != out) {
        panic!("addmm: input {input:?} does not broadcast to the product's shape {out:?}");
    }
    out
}

/// How `matmul` reads its operands (NumPy's rules): a 1-D left operand is a
/// row `[1, k]`, a 1-D right operand a column `[k, 1]`, and the leading
/// (batch) dimensions broadcast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatmulShapes {
    /// The broadcast batch dimensions.
    pub batch: Vec<usize>,
    /// Rows of the left matrix.
    pub m: usize,
    /// The contracted dimension.
    pub k: usize,
    /// Columns of the right matrix.
    pub n: usize,
    /// The left operand was 1-D (its row axis is dropped from the output).
    pub lhs_vector: bool,
    /// The right operand was 1-D (its column axis is dropped).
    pub rhs_vector: bool,
}

impl MatmulShapes {
    /// The batch dimensions followed by `rows, cols`.
    fn with_matrix(&self, rows: usize, cols: usize) -> Vec<usize> {
        self.batch.iter().copied().chain([rows, cols]).collect()
    }

    /// `[batch.., m, k]`: the left operand after promotion and broadcast.
    pub fn lhs(&self) -> Vec<usize> {
        self.with_matrix(self.m, self.k)
    }

    /// `[batch.., k, n]`: the right operand after promotion and broadcast.
    pub fn rhs(&self) -> Vec<usize> {
        self.with_matrix(self.k, self.n)
    }

    /// `[batch.., m, n]`: the product before the promoted axes are dropped.
    pub fn product(&self) -> Vec<usize> {
        self.with_matrix(self.m, self.n)
    }

    /// The output shape: [`product`](Self::product) without the axes that
    /// 1-D operands gained.
    pub fn output(&self) -> Vec<usize> {
        let mut out = self.product();
        if self.rhs_vector {
            out.pop();
        }
        if self.lhs_vector {
            out.remove(out.len() - if self.rhs_vector { 1 } else { 2 });
        }
        out
    }
}

/// The shapes of `a @ b` (see [`MatmulShapes`]).
///
/// ```
/// use tapegrad_tensor::shape_rules::matmul_shapes;
///
/// let s = matmul_shapes(&[5, 1, 2, 3], &[4, 3, 7]);
/// assert_eq!((s.batch.as_slice(), s.output()), (&[5, 4][..], vec![5, 4, 2, 7]));
/// assert_eq!(matmul_shapes(&[3], &[3]).output(), Vec::<usize>::new()); // a dot product
/// ```
///
/// # Panics
/// If an operand is 0-D, the inner dimensions differ, or the batch
/// dimensions do not broadcast, naming both shapes:
/// `matmul: [2, 3] x [4, 5]: inner dimensions 3 and 4 differ`.
#[track_caller]
pub fn matmul_shapes(a: &[usize], b: &[usize]) -> MatmulShapes {
    if a.is_empty() || b.is_empty() {
        panic!("matmul: {a:?} x {b:?}: both operands need at least 1 dimension");
    }
    let (lhs_vector, rhs_vector) = (a.len() == 1, b.len() == 1);
    let (a_batch, m, k) = if lhs_vector {
        (&[][..], 1, a[0])
    } else {
        (&a[..a.len() - 2], a[a.len() - 2], a[a.len() - 1])
    };
    let (b_batch, k2, n) = if rhs_vector {
        (&[][..], b[0], 1)
    } else {
        (&b[..b.len() - 2], b[b.len() - 2], b[b.len() - 1])
    };
    if k != k2 {
        panic!("matmul: {a:?} x {b:?}: inner dimensions {k} and {k2} differ");
    }
    let batch = match broadcast_shapes(a_batch, b_batch) {
        Some(batch) => batch,
        None => panic!("matmul: {a:?} x {b:?}: batch dimensions do not broadcast"),
    };
    MatmulShapes {
        batch,
        m,
        k,
        n,
        lhs_vector,
        rhs_vector,
    }
}

/// `perm` as dimensions of a tensor of `shape` (negative entries count from
/// the end), checked to be a permutation of `0..ndim`.
///
/// ```
/// use tapegrad_tensor::shape_rules::permutation;
///
/// assert_eq!(permutation(&[-1, 0, 1], &[2, 3, 4], "permute"), vec![2, 0, 1]);
/// ```
///
/// # Panics
/// If `perm` is not a permutation of the dimensions, naming `op`, `perm`
/// and `shape`.
#[track_caller]
pub fn permutation(perm: &[isize], shape: &[usize], op: &str) -> Vec<usize> {
    let nd = shape.len();
    let fail = || -> ! {
        panic!("{op}: {perm:?} is not a permutation of the {nd} dimensions of {shape:?}")
    };
    if perm.len() != nd {
        fail();
    }
    let mut seen = vec![false; nd];
    perm.iter()
        .map(|&p| {
            let p = if p < 0 {
                p.checked_add_unsigned(nd)
            } else {
                Some(p)
            };
            match p.and_then(|p| usize::try_from(p).ok()) {
                Some(p) if p < nd && !std::mem::replace(&mut seen[p], true) => p,
                _ => fail(),
            }
        })
        .collect()
}

/// The permutation that swaps dimensions `a` and `b` (negative axes count
/// from the end) of an `ndim`-dimensional tensor.
///
/// # Panics
/// If an axis is out of range, naming `op`.
#[track_caller]
pub fn transposition(a: isize, b: isize, ndim: usize, op: &str) -> Vec<usize> {
    let (a, b) = (normalize_axis(a, ndim, op), normalize_axis(b, ndim, op));
    let mut perm: Vec<usize> = (0..ndim).collect();
    perm.swap(a, b);
    perm
}

/// A permutation of `0..n` as `isize` axes, for [`permutation`] callers
/// that hold dimensions as `usize`.
pub fn as_axes(perm: &[usize]) -> Vec<isize> {
    perm.iter()
        .map(|&p| isize::try_from(p).unwrap_or(isize::MAX))
        .collect()
}

/// The 4 sizes of `shape`, or a panic naming `op` and what was expected.
#[track_caller]
fn four(op: &str, what: &str, shape: &[usize]) -> [usize; 4] {
    match <[usize; 4]>::try_from(shape) {
        Ok(d) => d,
        Err(_) => panic!("{op}: expected {what}, got {shape:?}"),
    }
}

/// Output positions along one axis (see [`conv_output_size`](crate::conv_output_size)),
/// or a panic naming `op` when the kernel does not fit.
#[track_caller]
fn windows(
    op: &str,
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> usize {
    match crate::conv::checked_output_size(input, kernel, stride, padding, dilation) {
        Some(out) => out,
        None => panic!(
            "{op}: kernel {kernel} (stride {stride}, dilation {dilation}) does not fit \
             input {input} with padding {padding}"
        ),
    }
}

/// The output shape `[N, O, out_h, out_w]` of `conv2d` of an input `x:
/// [N, C, H, W]` with a weight `w: [O, C, kh, kw]`; along each axis
/// `out = floor((in + 2 padding - dilation (kernel - 1) - 1) / stride) + 1`.
/// `Tensor::conv2d` and the autodiff op both check with it.
///
/// ```
/// use tapegrad_tensor::shape_rules::conv2d_shape;
/// assert_eq!(conv2d_shape(&[8, 3, 32, 32], &[16, 3, 5, 5], (1, 1), (2, 2), (1, 1)), [8, 16, 32, 32]);
/// ```
///
/// # Panics
/// If either is not 4-D, the channels differ
/// (`conv2d: input [1, 3, 8, 8] has 3 channels but weight [4, 2, 3, 3] expects 2`),
/// or a kernel does not fit its padded axis.
#[track_caller]
pub fn conv2d_shape(
    x: &[usize],
    w: &[usize],
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
) -> [usize; 4] {
    let op = "conv2d";
    let [n, c, h, wd] = four(op, "an input [N, C, H, W]", x);
    let [o, wc, kh, kw] = four(op, "a weight [O, C, kh, kw]", w);
    if wc != c {
        panic!("{op}: input {x:?} has {c} channels but weight {w:?} expects {wc}");
    }
    let oh = windows(op, h, kh, stride.0, padding.0, dilation.0);
    let ow = windows(op, wd, kw, stride.1, padding.1, dilation.1);
    [n, o, oh, ow]
}

/// The output shape `[N, C, H, W]` of `conv_transpose2d` of a gradient
/// `g: [N, O, out_h, out_w]` with a weight `w: [O, C, kh, kw]` onto an
/// image of `input_hw = (H, W)`, which must give `out_h x out_w` positions.
///
/// # Panics
/// If either is not 4-D, the channels differ, a kernel does not fit, or
/// `input_hw` gives another number of positions.
#[track_caller]
pub fn conv_transpose2d_shape(
    g: &[usize],
    w: &[usize],
    input_hw: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
) -> [usize; 4] {
    let op = "conv_transpose2d";
    let [n, o, oh, ow] = four(op, "a gradient [N, O, out_h, out_w]", g);
    let [wo, c, kh, kw] = four(op, "a weight [O, C, kh, kw]", w);
    if wo != o {
        panic!("{op}: gradient {g:?} has {o} channels but weight {w:?} has {wo} outputs");
    }
    let expected = (
        windows(op, input_hw.0, kh, stride.0, padding.0, dilation.0),
        windows(op, input_hw.1, kw, stride.1, padding.1, dilation.1),
    );
    if expected != (oh, ow) {
        panic!(
            "{op}: gradient {g:?} does not match image {input_hw:?}: kernel {:?}, stride \
             {stride:?}, padding {padding:?} and dilation {dilation:?} give {}x{} positions",
            (kh, kw),
            expected.0,
            expected.1
        );
    }
    [n, c, input_hw.0, input_hw.1]
}

/// The output shape `[O, C, kh, kw]` of `conv2d_weight_grad` of an input
/// `x: [N, C, H, W]` and an output gradient `g: [N, O, out_h, out_w]`.
///
/// # Panics
/// If either is not 4-D, a kernel does not fit, or `g` is not the shape of
/// the convolution's output.
#[track_caller]
pub fn conv2d_weight_grad_shape(
    x: &[usize],
    g: &[usize],
    kernel: (usize, usize),
    stride: (usize, usize),
    padding: (usize, usize),
    dilation: (usize, usize),
) -> [usize; 4] {
    let op = "conv2d_weight_grad";
    let [n, c, h, w] = four(op, "an input [N, C, H, W]", x);
    let [gn, o, oh, ow] = four(op, "a gradient [N, O, out_h, out_w]", g);
    let expected = (
        windows(op, h, kernel.0, stride.0, padding.0, dilation.0),
        windows(op, w, kernel.1, stride.1, padding.1, dilation.1),
    );
    if gn != n || expected != (oh, ow) {
        panic!(
            "{op}: gradient {g:?} does not fit input {x:?}: kernel {kernel:?}, stride \
             {stride:?}, padding {padding:?} and dilation {dilation:?} give [{n}, O, {}, {}]",
            expected.0, expected.1
        );
    }
    [o, c, kernel.0, kernel.1]
}
