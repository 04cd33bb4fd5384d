//! `Conv2d`: 2-D cross-correlation (PyTorch's `nn.Conv2d`), one `Var::conv2d`
//! node per group, and its functional form [`conv2d`].

use super::geometry::{checked_windows, output_hw};
use crate::init::{self, Init};
use crate::module::Module;
use crate::param::{bind_weight_bias, visit_weight_bias, visit_weight_bias_mut, Param};
use rand::Rng;
use tapegrad_autodiff::{ConvParams, Var};
use tapegrad_tensor::{Float, Tensor};

/// 2-D convolution (cross-correlation, as PyTorch's `F.conv2d`) of
/// `x: [N, C, H, W]` with `weight: [O, C / groups, kh, kw]` and an optional
/// `bias: [O]`:
///
/// `y[n, o, i, j] = b[o] + Σ_{c, p, q} w[o, c, p, q] · x[n, g(o) C/groups + c, i sh - ph + p dh, j sw - pw + q dw]`
///
/// where `g(o) = o / (O / groups)` is the group of output channel `o` and
/// `x` is zero outside the image. The output is `[N, O, out_h, out_w]` with,
/// along each axis,
///
/// `out = floor((in + 2 padding - dilation (kernel - 1) - 1) / stride) + 1`.
///
/// One group is one [`Var::conv2d`] node (a direct kernel at stride 1 and
/// dilation 1, else `im2col` and a product, rayon-parallel over images):
/// the input's gradient is `conv_transpose2d(g, w)`, the weight's
/// `conv2d_weight_grad(x, g)`, the bias's `Σ_{n, i, j} g`. Several groups
/// are `im2col` (`[N, C kh kw, L]` columns, `L = out_h out_w`) and one
/// batched product `[groups, O/groups, C/groups kh kw] x [N, groups, C/groups kh kw, L]`.
/// Derivatives of every order work either way.
///
/// ```
/// use tapegrad_autodiff::{ConvParams, Tape};
/// use tapegrad_nn::conv::conv2d;
/// use tapegrad_tensor::Tensor;
///
/// let tape = Tape::<f64>::new();
/// // A 3x3 image and a 2x2 kernel summing each window, bias 0.5.
/// let x = tape.constant(Tensor::arange(0.0, 9.0, 1.0).reshape(&[1, 1, 3, 3]));
/// let w = tape.var(Tensor::ones(&[1, 1, 2, 2]));
/// let b = tape.var(Tensor::from_vec(vec![0.5], &[1]));
/// let p = ConvParams::default().kernel(2);
/// let y = conv2d(x, w, Some(b), p, 1);
/// assert_eq!(y.shape().as_slice(), &[1, 1, 2, 2]);
/// // 0+1+3+4, 1+2+4+5, 3+4+6+7, 4+5+7+8, plus 0.5
/// assert_eq!(y.value().to_vec(), vec![8.5, 12.5, 20.5, 24.5]);
/// ```
///
/// # Panics
/// If `x` is not 4-D, the weight does not match `p.kernel` or the channels
/// (`C = weight[1] · groups`, `O` divisible by `groups`), the bias is not
/// `[O]`, the kernel does not fit the padded input, or the padding or
/// dilation is so large that a size overflows or the output cannot be held.
#[track_caller]
pub fn conv2d<'t, E: Float>(
    x: Var<'t, E>,
    weight: Var<'t, E>,
    bias: Option<Var<'t, E>>,
    p: ConvParams,
    groups: usize,
) -> Var<'t, E> {
    let (xs, ws) = (x.shape(), weight.shape());
    check_conv_shapes(&xs, &ws, bias.map(|b| b.shape().to_vec()), p, groups);
    let (n, c) = (xs[0], xs[1]);
    let o = ws[0];
    let (oh, ow) = checked_windows("conv2d", &xs, o, p, std::mem::size_of::<E>());
    if groups == 1 {
        return x.conv2d(weight, bias, p);
    }
    // Grouped: the columns `[N, C kh kw, L]` (rows ordered (c, i, j))
    // split into groups, one batched product per group.
    let k_group = c / groups * p.kernel.0 * p.kernel.1;
    let cols = x.im2col(p).reshape(&[n, groups, k_group, oh * ow]);
    let w = weight.reshape(&[groups, o / groups, k_group]);
    let y = w.matmul(cols).reshape(&[n, o, oh, ow]);
    match bias {
        Some(b) => y + b.reshape(&[1, o, 1, 1]),
        None => y,
    }
}

/// Panics with both shapes unless `x`, the weight and the bias fit together.
#[track_caller]
fn check_conv_shapes(
    xs: &[usize],
    ws: &[usize],
    bias: Option<Vec<usize>>,
    p: ConvParams,
    groups: usize,
) {
    if xs.len() != 4 || ws.len() != 4 {
        panic!("conv2d: expected input [N, C, H, W] and weight [O, C/groups, kh, kw], got {xs:?} and {ws:?}");
    }
    if (ws[2], ws[3]) != p.kernel {
        panic!("conv2d: weight {ws:?} does not match kernel {:?}", p.kernel);
    }
    if groups == 0 || !ws[0].is_multiple_of(groups) || xs[1] != ws[1] * groups {
        panic!(
            "conv2d: input {xs:?} and weight {ws:?} do not fit {groups} groups \
             (needs C = weight[1] * groups and O divisible by groups)"
        );
    }
    if let Some(bs) = bias {
        if bs != [ws[0]] {
            panic!(
                "conv2d: bias {bs:?} does not match weight {ws:?} (expects [{}])",
                ws[0]
            );
        }
    }
}

/// The shape of a [`Conv2d`]: kernel, stride, padding, dilation (each
/// `(rows, cols)`), groups and whether there is a bias. Builder methods
/// take one number for both axes; set the fields for rectangular ones.
///
/// ```
/// use tapegrad_nn::conv::Conv2dConfig;
/// let cfg = Conv2dConfig::new(3).stride(2).padding(1);
/// assert_eq!((cfg.kernel, cfg.stride, cfg.padding), ((3, 3), (2, 2), (1, 1)));
/// assert_eq!((cfg.dilation, cfg.groups, cfg.bias), ((1, 1), 1, true));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dConfig {
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Step between windows. Default 1.
    pub stride: (usize, usize),
    /// Zeros added on each side. Default 0.
    pub padding: (usize, usize),
    /// Spacing between kernel taps. Default 1.
    pub dilation: (usize, usize),
    /// Channel groups: each sees `in / groups` input channels. Default 1.
    pub groups: usize,
    /// Whether the layer has a bias. Default true.
    pub bias: bool,
}

impl Conv2dConfig {
    /// A square `kernel x kernel` window, stride 1, no padding, dilation 1,
    /// one group, with a bias.
    pub fn new(kernel: usize) -> Self {
        Conv2dConfig {
            kernel: (kernel, kernel),
            stride: (1, 1),
            padding: (0, 0),
            dilation: (1, 1),
            groups: 1,
            bias: true,
        }
    }

    /// Sets the stride along both axes.
    pub fn stride(mut self, stride: usize) -> Self {
        self.stride = (stride, stride);
        self
    }

    /// Sets the padding along both axes.
    pub fn padding(mut self, padding: usize) -> Self {
        self.padding = (padding, padding);
        self
    }

    /// Sets the dilation along both axes.
    pub fn dilation(mut self, dilation: usize) -> Self {
        self.dilation = (dilation, dilation);
        self
    }

    /// Sets the number of groups.
    pub fn groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// Sets whether there is a bias.
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// The window geometry as [`ConvParams`].
    pub fn params(&self) -> ConvParams {
        ConvParams {
            kernel: self.kernel,
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
        }
    }
}

/// A 2-D convolution layer ([`conv2d`]): weight `[out, in / groups, kh, kw]`,
/// bias `[out]`, named `"weight"` and `"bias"`.
///
/// Input `[N, in, H, W]`, output `[N, out, out_h, out_w]` with, per axis,
/// `out = floor((in + 2 padding - dilation (kernel - 1) - 1) / stride) + 1`.
///
/// The default initialisation is PyTorch's (`reset_parameters`): the weight
/// from `kaiming_uniform` with `a = √5`, i.e. `U(-1/√fan_in, 1/√fan_in)`
/// with `fan_in = in / groups · kh · kw` ([`Init::PYTORCH_DEFAULT`]), and the
/// bias from the same `U(-1/√fan_in, 1/√fan_in)`.
///
/// ```
/// use rand::SeedableRng;
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::conv::{Conv2d, Conv2dConfig};
/// use tapegrad_nn::Module;
/// use tapegrad_tensor::Tensor;
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let conv = Conv2d::with_config(3, 8, Conv2dConfig::new(3).stride(2).padding(1), &mut rng);
/// let tape = Tape::<f32>::new();
/// let y = conv.forward(tape.constant(Tensor::ones(&[2, 3, 7, 7])));
/// assert_eq!(y.shape().as_slice(), &[2, 8, 4, 4]); // (7 + 2 - 2 - 1) / 2 + 1 = 4
/// assert_eq!(conv.num_parameters(), 8 * 3 * 3 * 3 + 8);
/// assert_eq!(conv.describe(), "Conv2d(3 -> 8, kernel (3, 3), stride (2, 2), padding (1, 1))");
/// ```
#[derive(Clone, Debug)]
pub struct Conv2d<E: Float = f32> {
    weight: Param<E>,
    bias: Option<Param<E>>,
    params: ConvParams,
    groups: usize,
}

impl<E: Float> Conv2d<E> {
    /// `in_channels -> out_channels` with a square `kernel`, stride 1, no
    /// padding, and PyTorch's default initialisation.
    #[track_caller]
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize, rng: &mut impl Rng) -> Self {
        Self::with_config(in_channels, out_channels, Conv2dConfig::new(kernel), rng)
    }

    /// `in_channels -> out_channels` shaped by `config`, with PyTorch's
    /// default initialisation.
    ///
    /// # Panics
    /// If `groups` is 0 or does not divide both channel counts, or a kernel,
    /// stride or dilation is 0.
    #[track_caller]
    pub fn with_config(
        in_channels: usize,
        out_channels: usize,
        config: Conv2dConfig,
        rng: &mut impl Rng,
    ) -> Self {
        let g = config.groups;
        if g == 0 || !in_channels.is_multiple_of(g) || !out_channels.is_multiple_of(g) {
            panic!("Conv2d: {g} groups must divide in_channels {in_channels} and out_channels {out_channels}");
        }
        let (kh, kw) = config.kernel;
        let shape = [out_channels, in_channels / g, kh, kw];
        let weight = Init::PYTORCH_DEFAULT.tensor(&shape, rng);
        let bias = config.bias.then(|| {
            // The weight exists, so its fan in (a product of its dims) fits.
            let fan_in = in_channels / g * kh * kw;
            let bound = if fan_in > 0 {
                1.0 / (fan_in as f64).sqrt()
            } else {
                0.0
            };
            init::uniform(&[out_channels], -bound, bound, rng)
        });
        Self::from_tensors(weight, bias, config.params(), g)
    }

    /// A layer with the given weight `[out, in / groups, kh, kw]` and bias `[out]`.
    ///
    /// # Panics
    /// If the weight is not 4-D, its kernel differs from `params.kernel`, the
    /// bias is not `[out]`, `groups` does not divide `out`, or a kernel,
    /// stride or dilation is 0.
    #[track_caller]
    pub fn from_tensors(
        weight: Tensor<E>,
        bias: Option<Tensor<E>>,
        params: ConvParams,
        groups: usize,
    ) -> Self {
        let ws = weight.shape();
        let (k, s, d) = (params.kernel, params.stride, params.dilation);
        if ws.len() != 4 || (ws[2], ws[3]) != k || groups == 0 || !ws[0].is_multiple_of(groups) {
            panic!("Conv2d: weight {ws:?} must be [out, in/groups, kh, kw] with kernel {k:?} and out divisible by {groups} groups");
        }
        if [k.0, k.1, s.0, s.1, d.0, d.1].contains(&0) {
            panic!("Conv2d: kernel {k:?}, stride {s:?} and dilation {d:?} must be positive");
        }
        if let Some(b) = &bias {
            if b.shape() != [ws[0]] {
                panic!("Conv2d: the bias must be [{}], got {:?}", ws[0], b.shape());
            }
        }
        Conv2d {
            weight: Param::new(weight),
            bias: bias.map(Param::new),
            params,
            groups,
        }
    }

    /// Number of input channels.
    pub fn in_channels(&self) -> usize {
        self.weight.shape()[1] * self.groups
    }

    /// Number of output channels.
    pub fn out_channels(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Kernel, stride, padding and dilation.
    pub fn params(&self) -> ConvParams {
        self.params
    }

    /// Number of channel groups.
    pub fn groups(&self) -> usize {
        self.groups
    }

    /// The weight `[out, in / groups, kh, kw]`.
    pub fn weight(&self) -> &Param<E> {
        &self.weight
    }

    /// The bias `[out]`, if the layer has one.
    pub fn bias(&self) -> Option<&Param<E>> {
        self.bias.as_ref()
    }

    /// The output's spatial size for an `h x w` input:
    /// `floor((in + 2 padding - dilation (kernel - 1) - 1) / stride) + 1` per axis.
    ///
    /// # Panics
    /// If the kernel does not fit the padded input, or a size overflows.
    #[track_caller]
    pub fn output_size(&self, (h, w): (usize, usize)) -> (usize, usize) {
        output_hw("Conv2d::output_size", &[h, w], (h, w), self.params)
    }
}

impl<E: Float> Module<E> for Conv2d<E> {
    /// [`conv2d`] of `x: [N, in, H, W]` with this layer's weight and bias.
    #[track_caller]
    fn forward<'t>(&self, x: Var<'t, E>) -> Var<'t, E> {
        let (weight, bias) = bind_weight_bias(&self.weight, self.bias.as_ref(), x.tape());
        conv2d(x, weight, bias, self.params, self.groups)
    }

    fn visit_params(&self, f: &mut dyn FnMut(&str, &Param<E>)) {
        visit_weight_bias(Some(&self.weight), self.bias.as_ref(), f);
    }

    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&str, &mut Param<E>)) {
        visit_weight_bias_mut(Some(&mut self.weight), self.bias.as_mut(), f);
    }

    fn describe(&self) -> String {
        let p = self.params;
        let mut s = format!(
            "Conv2d({} -> {}, kernel {:?}",
            self.in_channels(),
            self.out_channels(),
            p.kernel
        );
        if p.stride != (1, 1) {
            s += &format!(", stride {:?}", p.stride);
        }
        if p.padding != (0, 0) {
            s += &format!(", padding {:?}", p.padding);
        }
        if p.dilation != (1, 1) {
            s += &format!(", dilation {:?}", p.dilation);
        }
        if self.groups != 1 {
            s += &format!(", groups {}", self.groups);
        }
        if self.bias.is_none() {
            s += ", no bias";
        }
        s + ")"
    }
}
