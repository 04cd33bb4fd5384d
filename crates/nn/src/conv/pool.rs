//! Pooling over 2-D windows: [`MaxPool2d`], [`AvgPool2d`] and
//! [`AdaptiveAvgPool2d`] (global average pooling included), with their
//! functional forms.
//!
//! Max and average pooling unfold each channel's windows with `im2col`
//! (`[N C, kh kw, L]`) and reduce over the window axis, so their gradients
//! are those of `max` / `mean` followed by `col2im`: the max gradient goes
//! to the window's maximum, split evenly among ties (the tapegrad rule for
//! `max` over an axis; PyTorch gives it all to the first maximum), and
//! overlapping windows add up.

use super::geometry::checked_windows;
use crate::module::Module;
use tapegrad_autodiff::{ConvParams, Var};
use tapegrad_tensor::{Float, Tensor};

/// The windows of every channel as columns `[N, C, kh kw, L]`, the output
/// shape `[N, C, out_h, out_w]` and, with padding, the `[1, kh kw, L]` mask
/// of taps inside the image.
#[track_caller]
fn windows<'t, E: Float>(
    x: Var<'t, E>,
    p: ConvParams,
    op: &str,
) -> (Var<'t, E>, [usize; 4], Option<Tensor<E>>) {
    let s = x.shape();
    if s.len() != 4 {
        panic!("{op}: expected an input [N, C, H, W], got {s:?}");
    }
    let (k, pad) = (p.kernel, p.padding);
    if pad.0 > k.0 / 2 || pad.1 > k.1 / 2 {
        panic!("{op}: padding {pad:?} must be at most half the kernel {k:?}");
    }
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    let (oh, ow) = checked_windows(op, &s, c, p, std::mem::size_of::<E>());
    // [N, C kh kw, L] -> [N, C, kh kw, L]: each example stays on axis 0, so
    // per-sample gradients flow through pooling.
    let kk = p.kernel.0 * p.kernel.1;
    let cols = x.im2col(p).reshape(&[n, c, kk, oh * ow]);
    let mask = (pad != (0, 0)).then(|| inside_mask::<E>((h, w), p));
    if let Some(m) = &mask {
        if m.sum(&[1]).to_vec().contains(&E::ZERO) {
            panic!("{op}: with dilation {:?} some window of kernel {k:?} on input {s:?} lies entirely in the padding {pad:?}", p.dilation);
        }
    }
    (cols, [n, c, oh, ow], mask)
}

/// 1 where a window tap reads the image, 0 where it reads padding: the
/// `[1, kh kw, L]` columns of an all-ones `h x w` image.
fn inside_mask<E: Float>(hw: (usize, usize), p: ConvParams) -> Tensor<E> {
    Tensor::ones(&[1, 1, hw.0, hw.1]).im2col(p.kernel, p.stride, p.padding, p.dilation)
}

/// 2-D max pooling of `x: [N, C, H, W]`:
///
/// `y[n, c, i, j] = max_{p, q} x[n, c, i sh - ph + p dh, j sw - pw + q dw]`
///
/// over the `kh x kw` window (padding never wins, as PyTorch's `-inf`
/// padding), shape `[N, C, out_h, out_w]` with, per axis,
/// `out = floor((in + 2 padding - dilation (kernel - 1) - 1) / stride) + 1`.
/// Gradient: `g` to each window's maximum, split evenly among ties.
///
/// ```
/// use tapegrad_autodiff::{ConvParams, Tape};
/// use tapegrad_nn::conv::max_pool2d;
/// use tapegrad_tensor::Tensor;
///
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::arange(0.0, 16.0, 1.0).reshape(&[1, 1, 4, 4]));
/// let p = ConvParams::default().kernel(2).stride(2);
/// let y = max_pool2d(x, p);
/// assert_eq!(y.value().to_vec(), vec![5.0, 7.0, 13.0, 15.0]);
/// let g = y.sum_all().backward();
/// assert_eq!(g[x].sum_all().item(), 4.0); // one 1 per window, at its maximum
/// ```
///
/// # Panics
/// If `x` is not 4-D, the padding exceeds half the kernel (as PyTorch), the
/// window does not fit the padded input, a size overflows, or some window
/// lies entirely in the padding (possible only with dilation; PyTorch
/// would give `-inf`).
#[track_caller]
pub fn max_pool2d<'t, E: Float>(x: Var<'t, E>, p: ConvParams) -> Var<'t, E> {
    let (cols, out, mask) = windows(x, p, "max_pool2d");
    let cols = match mask {
        None => cols,
        Some(mask) => {
            // Padding reads `fill`, below every input, so it is never a
            // maximum (every window has a tap inside the image) and gets no
            // gradient; finite, unlike PyTorch's -inf, so anomaly mode stays quiet.
            let lowest = x.value().min(&[]).item().to_f64();
            let fill = lowest - (1.0 + lowest.abs());
            let fill = cols.constant_like(Tensor::scalar(E::from_f64(fill)));
            Var::where_cond(&mask, cols, fill)
        }
    };
    cols.max(&[2]).reshape(&out)
}

/// 2-D average pooling of `x: [N, C, H, W]`:
///
/// `y[n, c, i, j] = (1 / d) Σ_{p, q} x[n, c, i sh - ph + p dh, j sw - pw + q dw]`
///
/// with padding read as 0 and `d = kh kw` if `count_include_pad` (PyTorch's
/// default), else the number of window taps inside the image. Shape
/// `[N, C, out_h, out_w]` with, per axis,
/// `out = floor((in + 2 padding - dilation (kernel - 1) - 1) / stride) + 1`.
/// Gradient: `g / d` to every tap of the window.
///
/// ```
/// use tapegrad_autodiff::{ConvParams, Tape};
/// use tapegrad_nn::conv::avg_pool2d;
/// use tapegrad_tensor::Tensor;
///
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::ones(&[1, 1, 2, 2]));
/// let p = ConvParams::default().kernel(2).padding(1);
/// // The corner windows see one pixel and three zeros of padding.
/// assert_eq!(avg_pool2d(x, p, true).value().get(&[0, 0, 0, 0]), 0.25);
/// assert_eq!(avg_pool2d(x, p, false).value().get(&[0, 0, 0, 0]), 1.0);
/// ```
///
/// # Panics
/// As [`max_pool2d`].
#[track_caller]
pub fn avg_pool2d<'t, E: Float>(
    x: Var<'t, E>,
    p: ConvParams,
    count_include_pad: bool,
) -> Var<'t, E> {
    let (cols, out, mask) = windows(x, p, "avg_pool2d");
    let y = match mask {
        Some(mask) if !count_include_pad => {
            let counts = mask.sum(&[1]); // taps inside each window, [1, L]
            cols.sum(&[2]) / cols.constant_like(counts)
        }
        _ => cols.mean(&[2]),
    };
    y.reshape(&out)
}

/// The `[out, size]` matrix averaging each adaptive bin: row `i` is
/// `1 / (end - start)` on `start..end` with `start = floor(i size / out)`
/// and `end = ceil((i + 1) size / out)` (PyTorch's bins).
fn bin_matrix<E: Float>(size: usize, out: usize) -> Tensor<E> {
    let mut m = vec![E::ZERO; out * size];
    for i in 0..out {
        let start = i * size / out;
        let end = ((i + 1) * size).div_ceil(out);
        let weight = E::from_f64(1.0 / (end - start) as f64);
        m[i * size + start..i * size + end].fill(weight);
    }
    Tensor::from_vec(m, &[out, size])
}

/// Adaptive average pooling of `x: [N, C, H, W]` to `[N, C, out_h, out_w]`
/// (PyTorch's `F.adaptive_avg_pool2d`): output cell `(i, j)` is the mean of
/// rows `floor(i H / out_h) .. ceil((i + 1) H / out_h)` and the columns
/// found the same way. `(1, 1)` is global average pooling.
///
/// Computed as `A_h x A_wᵀ` with the constant bin-averaging matrices
/// `A_h: [out_h, H]` and `A_w: [out_w, W]` (a mean over axes 2 and 3 for
/// `(1, 1)`); the gradient spreads `g` evenly over each bin.
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::conv::adaptive_avg_pool2d;
/// use tapegrad_tensor::Tensor;
///
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::arange(0.0, 9.0, 1.0).reshape(&[1, 1, 3, 3]));
/// assert_eq!(adaptive_avg_pool2d(x, (1, 1)).value().to_vec(), vec![4.0]);
/// // Bins of rows and columns {0, 1} and {1, 2}: overlapping 2x2 means.
/// assert_eq!(adaptive_avg_pool2d(x, (2, 2)).value().to_vec(), vec![2.0, 3.0, 5.0, 6.0]);
/// ```
///
/// # Panics
/// If `x` is not 4-D or an output size is 0.
#[track_caller]
pub fn adaptive_avg_pool2d<'t, E: Float>(x: Var<'t, E>, output: (usize, usize)) -> Var<'t, E> {
    let s = x.shape();
    if s.len() != 4 || output.0 == 0 || output.1 == 0 {
        panic!("adaptive_avg_pool2d: expected an input [N, C, H, W] and a positive output size, got {s:?} and {output:?}");
    }
    if output == (1, 1) {
        return x.mean_keepdim(&[2, 3]);
    }
    let rows = x.constant_like(bin_matrix(s[2], output.0));
    let cols = x.constant_like(bin_matrix::<E>(s[3], output.1).t().contiguous());
    rows.matmul(x).matmul(cols)
}

/// Max pooling ([`max_pool2d`]): a `kernel` window, by default square with
/// stride = kernel, no padding, dilation 1 (PyTorch's defaults).
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::conv::MaxPool2d;
/// use tapegrad_nn::Module;
/// use tapegrad_tensor::Tensor;
///
/// let pool = MaxPool2d::new(2);
/// let tape = Tape::<f32>::new();
/// let y = pool.forward(tape.constant(Tensor::zeros(&[8, 4, 6, 6])));
/// assert_eq!(y.shape().as_slice(), &[8, 4, 3, 3]);
/// assert_eq!(Module::<f32>::describe(&pool), "MaxPool2d(kernel (2, 2), stride (2, 2))");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2d {
    params: ConvParams,
}

/// Average pooling ([`avg_pool2d`]): a `kernel` window, by default square
/// with stride = kernel, no padding, counting padding in the divisor
/// (PyTorch's defaults).
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::conv::AvgPool2d;
/// use tapegrad_nn::Module;
/// use tapegrad_tensor::Tensor;
///
/// let pool = AvgPool2d::new(3).stride(1).padding(1);
/// let tape = Tape::<f32>::new();
/// let y = pool.forward(tape.constant(Tensor::ones(&[1, 2, 5, 5])));
/// assert_eq!(y.shape().as_slice(), &[1, 2, 5, 5]); // (5 + 2 - 2 - 1) / 1 + 1
/// assert_eq!(y.value().get(&[0, 0, 2, 2]), 1.0);
/// assert_eq!(y.value().get(&[0, 0, 0, 0]), 4.0 / 9.0); // 4 pixels, 5 zeros of padding
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvgPool2d {
    params: ConvParams,
    count_include_pad: bool,
}

/// Square window of `kernel`, stride `kernel`, no padding, dilation 1.
fn pool_params(kernel: usize) -> ConvParams {
    ConvParams::default().kernel(kernel).stride(kernel)
}

/// `kernel (..), stride (..)[, padding (..)][, dilation (..)]`.
fn describe_params(p: &ConvParams) -> String {
    let mut s = format!("kernel {:?}, stride {:?}", p.kernel, p.stride);
    if p.padding != (0, 0) {
        s += &format!(", padding {:?}", p.padding);
    }
    if p.dilation != (1, 1) {
        s += &format!(", dilation {:?}", p.dilation);
    }
    s
}

impl MaxPool2d {
    /// A `kernel x kernel` window with stride `kernel`.
    pub fn new(kernel: usize) -> Self {
        MaxPool2d {
            params: pool_params(kernel),
        }
    }

    /// Any window geometry, non-square included (padding at most half the
    /// kernel, checked at `forward`).
    ///
    /// ```
    /// use tapegrad_autodiff::{ConvParams, Tape};
    /// use tapegrad_nn::conv::MaxPool2d;
    /// use tapegrad_nn::Module;
    /// use tapegrad_tensor::Tensor;
    ///
    /// let p = ConvParams { kernel: (1, 3), stride: (1, 3), ..ConvParams::default() };
    /// let pool = MaxPool2d::from_params(p);
    /// let tape = Tape::<f64>::new();
    /// let x = tape.constant(Tensor::arange(0.0, 12.0, 1.0).reshape(&[1, 1, 2, 6]));
    /// let y = pool.forward(x);
    /// assert_eq!(y.value().to_vec(), vec![2.0, 5.0, 8.0, 11.0]); // rows of 3
    /// assert_eq!(pool.params(), p);
    /// ```
    pub fn from_params(params: ConvParams) -> Self {
        MaxPool2d { params }
    }

    /// Sets the stride along both axes.
    pub fn stride(mut self, stride: usize) -> Self {
        self.params.stride = (stride, stride);
        self
    }

    /// Sets the padding along both axes.
    pub fn padding(mut self, padding: usize) -> Self {
        self.params.padding = (padding, padding);
        self
    }

    /// Sets the dilation along both axes.
    pub fn dilation(mut self, dilation: usize) -> Self {
        self.params.dilation = (dilation, dilation);
        self
    }

    /// The window geometry.
    pub fn params(&self) -> ConvParams {
        self.params
    }
}

impl AvgPool2d {
    /// A `kernel x kernel` window with stride `kernel`.
    pub fn new(kernel: usize) -> Self {
        AvgPool2d {
            params: pool_params(kernel),
            count_include_pad: true,
        }
    }

    /// Any window geometry, non-square included (padding at most half the
    /// kernel, checked at `forward`).
    ///
    /// ```
    /// use tapegrad_autodiff::{ConvParams, Tape};
    /// use tapegrad_nn::conv::AvgPool2d;
    /// use tapegrad_nn::Module;
    /// use tapegrad_tensor::Tensor;
    ///
    /// let p = ConvParams { kernel: (2, 1), stride: (2, 1), ..ConvParams::default() };
    /// let tape = Tape::<f64>::new();
    /// let x = tape.constant(Tensor::arange(0.0, 4.0, 1.0).reshape(&[1, 1, 2, 2]));
    /// let y = AvgPool2d::from_params(p).forward(x);
    /// assert_eq!(y.value().to_vec(), vec![1.0, 2.0]); // columns of 2
    /// ```
    pub fn from_params(params: ConvParams) -> Self {
        AvgPool2d {
            params,
            count_include_pad: true,
        }
    }

    /// Sets the stride along both axes.
    pub fn stride(mut self, stride: usize) -> Self {
        self.params.stride = (stride, stride);
        self
    }

    /// Sets the padding along both axes.
    pub fn padding(mut self, padding: usize) -> Self {
        self.params.padding = (padding, padding);
        self
    }

    /// Whether padding counts in the divisor (default true).
    pub fn count_include_pad(mut self, include: bool) -> Self {
        self.count_include_pad = include;
        self
    }

    /// The window geometry.
    pub fn params(&self) -> ConvParams {
        self.params
    }
}

impl<E: Float> Module<E> for MaxPool2d {
    /// [`max_pool2d`] of `x: [N, C, H, W]`.
    #[track_caller]
    fn forward<'t>(&self, x: Var<'t, E>) -> Var<'t, E> {
        max_pool2d(x, self.params)
    }

    fn describe(&self) -> String {
        format!("MaxPool2d({})", describe_params(&self.params))
    }
}

impl<E: Float> Module<E> for AvgPool2d {
    /// [`avg_pool2d`] of `x: [N, C, H, W]`.
    #[track_caller]
    fn forward<'t>(&self, x: Var<'t, E>) -> Var<'t, E> {
        avg_pool2d(x, self.params, self.count_include_pad)
    }

    fn describe(&self) -> String {
        let pad = if self.count_include_pad {
            ""
        } else {
            ", count_include_pad false"
        };
        format!("AvgPool2d({}{pad})", describe_params(&self.params))
    }
}

/// Adaptive average pooling to a fixed output size ([`adaptive_avg_pool2d`]);
/// [`global`](AdaptiveAvgPool2d::global) is global average pooling.
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::conv::AdaptiveAvgPool2d;
/// use tapegrad_nn::Module;
/// use tapegrad_tensor::Tensor;
///
/// let tape = Tape::<f32>::new();
/// let x = tape.constant(Tensor::ones(&[2, 3, 7, 5]));
/// assert_eq!(AdaptiveAvgPool2d::new((2, 3)).forward(x).shape().as_slice(), &[2, 3, 2, 3]);
/// assert_eq!(AdaptiveAvgPool2d::global().forward(x).shape().as_slice(), &[2, 3, 1, 1]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptiveAvgPool2d {
    output: (usize, usize),
}

impl AdaptiveAvgPool2d {
    /// Pools to `output = (out_h, out_w)`.
    pub fn new(output: (usize, usize)) -> Self {
        AdaptiveAvgPool2d { output }
    }

    /// Global average pooling: output `(1, 1)`.
    pub fn global() -> Self {
        Self::new((1, 1))
    }

    /// The output size.
    pub fn output_size(&self) -> (usize, usize) {
        self.output
    }
}

impl<E: Float> Module<E> for AdaptiveAvgPool2d {
    /// [`adaptive_avg_pool2d`] of `x: [N, C, H, W]`.
    #[track_caller]
    fn forward<'t>(&self, x: Var<'t, E>) -> Var<'t, E> {
        adaptive_avg_pool2d(x, self.output)
    }

    fn describe(&self) -> String {
        format!("AdaptiveAvgPool2d({:?})", self.output)
    }
}
