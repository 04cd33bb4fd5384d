//! Window geometry with checked arithmetic: the output size of a
//! convolution or pooling window along each axis, and a check that the
//! unfolded columns fit in memory, before anything is allocated.
//!
//! `out = floor((in + 2 padding - dilation (kernel - 1) - 1) / stride) + 1`,
//! with every product and sum checked: a padding or dilation near
//! `usize::MAX` would otherwise wrap around and give a wrong size (and
//! `im2col` would index out of its buffer).

use tapegrad_autodiff::ConvParams;

/// The output size along one axis, or why there is none.
fn axis_output(
    op: &str,
    shape: &[usize],
    input: usize,
    (kernel, stride, padding, dilation): (usize, usize, usize, usize),
    p: &ConvParams,
) -> Result<usize, String> {
    let (k, s, pad, d) = (p.kernel, p.stride, p.padding, p.dilation);
    if kernel == 0 || stride == 0 || dilation == 0 {
        return Err(format!(
            "{op}: kernel {k:?}, stride {s:?} and dilation {d:?} must be positive"
        ));
    }
    let Some(span) = dilation
        .checked_mul(kernel - 1)
        .and_then(|x| x.checked_add(1))
    else {
        return Err(format!(
            "{op}: dilation {d:?} with kernel {k:?} overflows usize"
        ));
    };
    let Some(padded) = padding.checked_mul(2).and_then(|x| x.checked_add(input)) else {
        return Err(format!(
            "{op}: padding {pad:?} overflows usize for input {shape:?}"
        ));
    };
    if padded < span {
        return Err(format!(
            "{op}: kernel {k:?} with dilation {d:?} does not fit input {shape:?} with padding {pad:?}"
        ));
    }
    Ok((padded - span) / stride + 1)
}

/// `(out_h, out_w)` for an input of `shape` (`[.., H, W]`), panicking in
/// the name of `op` with the parameters if a size overflows or the window
/// does not fit.
#[track_caller]
pub(crate) fn output_hw(
    op: &str,
    shape: &[usize],
    (h, w): (usize, usize),
    p: ConvParams,
) -> (usize, usize) {
    let axis = |input, i: usize| {
        let pick = |pair: (usize, usize)| if i == 0 { pair.0 } else { pair.1 };
        let geometry = (
            pick(p.kernel),
            pick(p.stride),
            pick(p.padding),
            pick(p.dilation),
        );
        axis_output(op, shape, input, geometry, &p)
    };
    match (axis(h, 0), axis(w, 1)) {
        (Ok(oh), Ok(ow)) => (oh, ow),
        (Err(e), _) | (_, Err(e)) => panic!("{e}"),
    }
}

/// `(out_h, out_w)` for `x: [N, C, H, W]`, after checking that the
/// `[N, C kh kw, out_h out_w]` columns `im2col` makes, and an output of
/// `out_channels` channels, fit in memory as elements of `elem_bytes` bytes.
///
/// # Panics
/// As [`output_hw`], or if those sizes overflow.
#[track_caller]
pub(crate) fn checked_windows(
    op: &str,
    x: &[usize],
    out_channels: usize,
    p: ConvParams,
    elem_bytes: usize,
) -> (usize, usize) {
    let (oh, ow) = output_hw(op, x, (x[2], x[3]), p);
    let limit = isize::MAX as usize / elem_bytes.max(1);
    let count = |factors: &[usize]| {
        factors
            .iter()
            .try_fold(1usize, |a, &f| a.checked_mul(f))
            .filter(|&n| n <= limit)
    };
    let cols = count(&[x[0], x[1], p.kernel.0, p.kernel.1, oh, ow]);
    let out = count(&[x[0], out_channels, oh, ow]);
    if cols.is_none() || out.is_none() {
        panic!(
            "{op}: padding {:?}, stride {:?} and dilation {:?} give a {oh} x {ow} output \
             for input {x:?}, too large to hold",
            p.padding, p.stride, p.dilation
        );
    }
    (oh, ow)
}
