//! Convolution as matrix multiplication: `im2col` unfolds every receptive
//! field of an `[N, C, H, W]` input into a column (PyTorch's `F.unfold`), and
//! `col2im` folds columns back, summing overlaps (`F.fold`, the adjoint).
//!
//! Along each spatial axis the number of output positions is
//! `out = floor((in + 2 padding - dilation (kernel - 1) - 1) / stride) + 1`
//! ([`conv_output_size`]). A 2-D convolution with weight `[O, C, kh, kw]` is
//! then `w.reshape([O, C kh kw]).matmul(x.im2col(..))`, shape `[N, O, out_h out_w]`.
//!
//! ```
//! use tapegrad_tensor::{conv_output_size, Tensor};
//! // One 3x3 image, 2x2 kernel, stride 1: four 2x2 windows.
//! let x = Tensor::<f32>::arange(0.0, 9.0, 1.0).reshape(&[1, 1, 3, 3]);
//! let cols = x.im2col((2, 2), (1, 1), (0, 0), (1, 1));
//! assert_eq!(conv_output_size(3, 2, 1, 0, 1), 2);
//! assert_eq!(cols.shape(), &[1, 4, 4]);
//! // Row (i, j) = (0, 0) holds the top-left element of each window.
//! assert_eq!(cols.narrow(1, 0, 1).to_vec(), vec![0.0, 1.0, 3.0, 4.0]);
//! // Summing 2x2 box filter = ones(1, 4) x cols.
//! let boxed = Tensor::ones(&[1, 4]).matmul(&cols);
//! assert_eq!(boxed.to_vec(), vec![8.0, 12.0, 20.0, 24.0]);
//! ```

use crate::alloc;
use crate::float::Float;
use crate::index::for_each_row_mut;
use crate::layout::try_numel;
use crate::tensor::Tensor;
use std::mem::MaybeUninit;

/// Number of positions a kernel takes along one axis:
/// `floor((input + 2 padding - dilation (kernel - 1) - 1) / stride) + 1`.
///
/// ```
/// use tapegrad_tensor::conv_output_size;
/// assert_eq!(conv_output_size(28, 5, 1, 0, 1), 24);
/// assert_eq!(conv_output_size(7, 3, 2, 1, 1), 4); // (7 + 2 - 2 - 1) / 2 + 1
/// assert_eq!(conv_output_size(7, 3, 1, 0, 2), 3); // dilated kernel spans 5
/// ```
///
/// # Panics
/// If `kernel`, `stride` or `dilation` is 0, or the dilated kernel
/// (`dilation (kernel - 1) + 1`) is wider than the padded input.
#[track_caller]
pub fn conv_output_size(
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> usize {
    // A `match`, not `unwrap_or_else`: a panic inside a closure would not
    // report the caller's line.
    match checked_output_size(input, kernel, stride, padding, dilation) {
        Some(out) => out,
        None => panic!(
            "conv_output_size: kernel {kernel} (stride {stride}, dilation {dilation}) \
             does not fit input {input} with padding {padding}"
        ),
    }
}

/// [`conv_output_size`], or `None` where it would panic.
pub(crate) fn checked_output_size(
    input: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> Option<usize> {
    if kernel == 0 || stride == 0 || dilation == 0 {
        return None;
    }
    // Checked: a padding or dilation near usize::MAX must not wrap into a
    // small, plausible size.
    let span = dilation.checked_mul(kernel - 1)?.checked_add(1)?;
    let padded = padding.checked_mul(2)?.checked_add(input)?;
    (padded >= span).then(|| (padded - span) / stride + 1)
}

/// Sizes of one unfold: input `[n, c, h, w]`, kernel, stride, padding,
/// dilation (each `(rows, cols)`), and the output grid `oh x ow`.
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    k: (usize, usize),
    s: (usize, usize),
    p: (usize, usize),
    d: (usize, usize),
    oh: usize,
    ow: usize,
}

impl Geometry {
    /// Validates the parameters for an input of `[n, c, h, w]`; panics naming `op`.
    #[track_caller]
    fn new(
        op: &str,
        [n, c, h, w]: [usize; 4],
        k: (usize, usize),
        s: (usize, usize),
        p: (usize, usize),
        d: (usize, usize),
    ) -> Geometry {
        if k.0 == 0 || k.1 == 0 || s.0 == 0 || s.1 == 0 || d.0 == 0 || d.1 == 0 {
            panic!("{op}: kernel {k:?}, stride {s:?} and dilation {d:?} must be positive");
        }
        let oh = checked_output_size(h, k.0, s.0, p.0, d.0);
        let ow = checked_output_size(w, k.1, s.1, p.1, d.1);
        let (Some(oh), Some(ow)) = (oh, ow) else {
            panic!(
                "{op}: kernel {k:?} with dilation {d:?} does not fit input {:?} with padding {p:?}",
                [n, c, h, w]
            );
        };
        // Every size the kernels derive (columns, output image) is checked
        // once here, so the index arithmetic below cannot overflow.
        for shape in [
            &[c, k.0, k.1][..],
            &[oh, ow],
            &[n, c, k.0, k.1, oh, ow],
            &[n, c, h, w],
        ] {
            if try_numel(shape).is_none() {
                panic!(
                    "{op}: input {:?} with kernel {k:?}, stride {s:?}, padding {p:?} and dilation {d:?} \
                     gives more elements than fit in memory",
                    [n, c, h, w]
                );
            }
        }
        Geometry {
            n,
            c,
            h,
            w,
            k,
            s,
            p,
            d,
            oh,
            ow,
        }
    }

    /// Rows of the column matrix: `c * kh * kw`.
    fn col_rows(&self) -> usize {
        self.c * self.k.0 * self.k.1
    }

    /// Output positions per image: `oh * ow`.
    fn positions(&self) -> usize {
        self.oh * self.ow
    }
}

/// For kernel tap `tap` along one axis: the range `lo..hi` of output
/// positions whose input coordinate `o * stride + tap * dilation - padding`
/// falls inside `0..size`, and that coordinate at `o = lo`.
fn valid_range(
    tap: usize,
    size: usize,
    out: usize,
    stride: usize,
    pad: usize,
    dil: usize,
) -> (usize, usize, usize) {
    let shift = tap * dil;
    // First o with o * stride + shift >= pad.
    let lo = pad.saturating_sub(shift).div_ceil(stride).min(out);
    // One past the last o with o * stride + shift <= pad + size - 1.
    let hi = if size == 0 || shift > pad + size - 1 {
        0
    } else {
        ((pad + size - 1 - shift) / stride + 1).min(out)
    };
    let hi = hi.max(lo);
    (lo, hi, (lo * stride + shift).saturating_sub(pad))
}

impl<E: Float> Tensor<E> {
    /// Unfolds the receptive fields of an `[N, C, H, W]` input into columns,
    /// as PyTorch's `F.unfold`: shape `[N, C kh kw, out_h out_w]` with
    ///
    /// `out[n, (c kh + i) kw + j, oy out_w + ox] = x[n, c, oy sh - ph + i dh, ox sw - pw + j dw]`
    ///
    /// (zero where that falls in the padding), and along each axis
    /// `out = floor((in + 2 padding - dilation (kernel - 1) - 1) / stride) + 1`.
    /// Each pair is `(rows, cols)`. Reads strided inputs without copying them;
    /// runs in parallel over rows of the result when it is large.
    ///
    /// # Panics
    /// If the input is not 4-D, a kernel, stride or dilation is 0, or the
    /// dilated kernel does not fit the padded input.
    #[track_caller]
    pub fn im2col(
        &self,
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
    ) -> Tensor<E> {
        let Ok(dims) = <[usize; 4]>::try_from(self.shape()) else {
            panic!(
                "im2col: expected an input of shape [N, C, H, W], got {:?}",
                self.shape()
            );
        };
        let g = Geometry::new("im2col", dims, kernel, stride, padding, dilation);
        let (rows, len) = (g.col_rows(), g.positions());
        let total = g.n * rows * len; // checked by `Geometry::new`
                                      // Not zero-filled first: `unfold_row` writes every element, padding
                                      // included (a zero-fill was 7% of a Conv2d step).
        let mut out: Vec<E> = alloc::with_capacity(total, "im2col");
        let taps = g.k.0 * g.k.1;
        for_each_row_mut(&mut out.spare_capacity_mut()[..total], len, |r, row| {
            let (image, tap) = (r / taps, r % taps);
            let (n, c) = (image / g.c, image % g.c);
            self.unfold_row(&g, n, c, (tap / g.k.1, tap % g.k.1), row);
        });
        // SAFETY: `out` has capacity `total` = rows x len per image (checked
        // arithmetic in `Geometry::new`); `for_each_row_mut` hands out every
        // `len`-element row of the first `total` exactly once (`len` divides
        // `total`; with `len` or `total` 0 there is nothing to initialise),
        // and `unfold_row` writes every element of its row: the valid range
        // from `valid_range` lies within `0..oh` and `0..ow`, and the rest of
        // the row is filled with zeros. Its reads are bounds-checked slice
        // indexing.
        unsafe { out.set_len(total) };
        Tensor::from_vec(out, &[g.n, rows, len])
    }

    /// Fills one row of `im2col`: kernel tap `(i, j)` of channel `c` of image
    /// `n`, over every output position. Writes every element of `row`: the
    /// image's values, and zeros where the tap sees padding.
    fn unfold_row(
        &self,
        g: &Geometry,
        n: usize,
        c: usize,
        (i, j): (usize, usize),
        row: &mut [MaybeUninit<E>],
    ) {
        let zero = MaybeUninit::new(E::ZERO);
        let st = self.strides();
        let data = self.storage();
        let base = self.offset() + n * st[0] + c * st[1];
        let (ylo, yhi, y0) = valid_range(i, g.h, g.oh, g.s.0, g.p.0, g.d.0);
        let (xlo, xhi, x0) = valid_range(j, g.w, g.ow, g.s.1, g.p.1, g.d.1);
        if xlo == xhi || ylo == yhi {
            // This tap only ever sees padding (and `x0`/`y0` are meaningless).
            row.fill(zero);
            return;
        }
        row[..ylo * g.ow].fill(zero);
        row[yhi * g.ow..].fill(zero);
        let step = g.s.1 * st[3];
        for oy in ylo..yhi {
            let line = &mut row[oy * g.ow..(oy + 1) * g.ow];
            line[..xlo].fill(zero);
            line[xhi..].fill(zero);
            let y = y0 + (oy - ylo) * g.s.0;
            let src = base + y * st[2] + x0 * st[3];
            let dst = &mut line[xlo..xhi];
            if step == 1 {
                let len = dst.len();
                for (d, &v) in dst.iter_mut().zip(&data[src..src + len]) {
                    d.write(v);
                }
            } else {
                for (t, d) in dst.iter_mut().enumerate() {
                    d.write(data[src + t * step]);
                }
            }
        }
    }

    /// Folds columns `[N, C kh kw, out_h out_w]` back into an `[N, C, H, W]`
    /// image, summing the values that land on the same pixel (PyTorch's
    /// `F.fold`). It is the adjoint of [`im2col`](Self::im2col) with the same
    /// parameters: `<im2col(x), y> = <x, col2im(y)>`, so it is im2col's
    /// gradient. `input_hw = (H, W)` is the image size; the column count must
    /// be `out_h out_w` with
    /// `out = floor((in + 2 padding - dilation (kernel - 1) - 1) / stride) + 1`.
    ///
    /// ```
    /// use tapegrad_tensor::Tensor;
    /// // Every pixel of a 3x3 image is covered by as many 2x2 windows as it
    /// // has neighbours-in-window: corners 1, edges 2, centre 4.
    /// let cols = Tensor::<f32>::ones(&[1, 4, 4]);
    /// let counts = cols.col2im((3, 3), (2, 2), (1, 1), (0, 0), (1, 1));
    /// assert_eq!(counts.to_vec(), vec![1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0]);
    /// ```
    ///
    /// # Panics
    /// If the columns are not 3-D, their sizes do not match the geometry, or
    /// the geometry is invalid (as for `im2col`).
    #[track_caller]
    pub fn col2im(
        &self,
        input_hw: (usize, usize),
        kernel: (usize, usize),
        stride: (usize, usize),
        padding: (usize, usize),
        dilation: (usize, usize),
    ) -> Tensor<E> {
        let shape = self.shape();
        let taps = kernel.0.saturating_mul(kernel.1);
        let (n, c) = match shape {
            &[n, rows, _] if taps > 0 && rows % taps == 0 => (n, rows / taps),
            _ => panic!(
                "col2im: columns {shape:?} do not fit kernel {kernel:?}: expected [N, C*{taps}, L]"
            ),
        };
        let dims = [n, c, input_hw.0, input_hw.1];
        let g = Geometry::new("col2im", dims, kernel, stride, padding, dilation);
        if shape[2] != g.positions() {
            panic!(
                "col2im: columns {shape:?} do not match output {input_hw:?}: kernel {kernel:?}, \
                 stride {stride:?}, padding {padding:?} and dilation {dilation:?} give {}x{} = {} positions",
                g.oh,
                g.ow,
                g.positions()
            );
        }
        let cols = self.contiguous();
        let cols = cols.as_slice().expect("contiguous");
        let plane = g.h * g.w;
        let mut out = alloc::zeroed(n * c * plane, "col2im"); // checked by `Geometry::new`
        for_each_row_mut(&mut out, plane, |image, img| {
            let first_row = image * taps;
            for tap in 0..taps {
                let row = &cols[(first_row + tap) * g.positions()..][..g.positions()];
                fold_row(&g, (tap / g.k.1, tap % g.k.1), row, img);
            }
        });
        Tensor::from_vec(out, &dims)
    }
}

/// Adds one row of columns (kernel tap `(i, j)`) into its `h x w` image plane.
fn fold_row<E: Float>(g: &Geometry, (i, j): (usize, usize), row: &[E], img: &mut [E]) {
    let (ylo, yhi, y0) = valid_range(i, g.h, g.oh, g.s.0, g.p.0, g.d.0);
    let (xlo, xhi, x0) = valid_range(j, g.w, g.ow, g.s.1, g.p.1, g.d.1);
    if xlo == xhi {
        return; // this tap only ever sees padding (and `x0` is meaningless)
    }
    for oy in ylo..yhi {
        let y = y0 + (oy - ylo) * g.s.0;
        let src = &row[oy * g.ow + xlo..oy * g.ow + xhi];
        let start = y * g.w + x0;
        if g.s.1 == 1 {
            // Unit stride: a plain slice add, which vectorises.
            for (d, &v) in img[start..start + src.len()].iter_mut().zip(src) {
                *d += v;
            }
        } else {
            for (t, &v) in src.iter().enumerate() {
                img[start + t * g.s.1] += v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_range_matches_brute_force() {
        for (size, stride, pad, dil, tap) in [(5, 1, 0, 1, 0), (5, 2, 1, 1, 2), (3, 3, 2, 2, 1)] {
            let span = dil * 2 + 1; // kernel 3
            let out = (size + 2 * pad - span) / stride + 1;
            let (lo, hi, first) = valid_range(tap, size, out, stride, pad, dil);
            let inside: Vec<usize> = (0..out)
                .filter(|&o| {
                    let x = (o * stride + tap * dil) as isize - pad as isize;
                    x >= 0 && (x as usize) < size
                })
                .collect();
            assert_eq!((lo..hi).collect::<Vec<_>>(), inside);
            if lo < hi {
                assert_eq!(first, lo * stride + tap * dil - pad);
            }
        }
    }

    /// `im2col` does not zero-fill its output first, so every padding
    /// element must be written. Freshly mapped memory is zero anyway; here
    /// the allocator is first handed a buffer full of NaN of the same size,
    /// which the output then (with glibc, typically) reuses.
    #[test]
    fn im2col_writes_padding_into_reused_memory() {
        for (pad, stride, dil) in [
            ((2, 1), (1, 2), (1, 1)),
            ((3, 3), (2, 1), (2, 1)),
            ((0, 4), (1, 1), (1, 3)),
        ] {
            let x = Tensor::<f64>::ones(&[2, 3, 4, 5]);
            let g = Geometry::new("test", [2, 3, 4, 5], (3, 2), stride, pad, dil);
            let total = 2 * g.col_rows() * g.positions();
            drop(std::hint::black_box(vec![f64::NAN; total]));
            let cols = x.im2col((3, 2), stride, pad, dil).to_vec();
            assert!(
                cols.iter().all(|v| *v == 0.0 || *v == 1.0),
                "{pad:?} {stride:?} {dil:?}"
            );
            assert!(cols.contains(&0.0), "the geometry has padding");
        }
    }

    #[test]
    fn taps_that_only_see_padding_give_zero_rows() {
        // Input 3x1, kernel 1x3 with column dilation 2 and column padding 2:
        // the taps sit at x = -2, 0, 2 for the single output column, so only
        // the middle tap (j = 1) reads the image: row 1 = [x0, x1, x2].
        let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[1, 1, 3, 1]);
        let cols = x.im2col((1, 3), (1, 1), (0, 2), (1, 2));
        assert_eq!(cols.shape(), &[1, 3, 3]);
        assert_eq!(
            cols.to_vec(),
            vec![0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 0.0]
        );
        // Folding back returns only the middle tap's contribution.
        let back = cols.col2im((3, 1), (1, 3), (1, 1), (0, 2), (1, 2));
        assert_eq!(back.to_vec(), x.to_vec());
    }

    #[test]
    #[should_panic(
        expected = "im2col: kernel (4, 4) with dilation (1, 1) does not fit input [1, 2, 3, 3] with padding (0, 0)"
    )]
    fn im2col_rejects_kernel_larger_than_input() {
        Tensor::<f32>::zeros(&[1, 2, 3, 3]).im2col((4, 4), (1, 1), (0, 0), (1, 1));
    }
}
