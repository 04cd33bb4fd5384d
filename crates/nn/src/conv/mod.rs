//! Convolutional layers: [`Conv2d`], pooling ([`MaxPool2d`], [`AvgPool2d`],
//! [`AdaptiveAvgPool2d`]) and [`BatchNorm2d`], each a [`Module`](crate::Module)
//! generic over the element type, with a functional form taking its weights
//! as vars (what `forward` calls, and what gradient checks use).
//!
//! Images are `[N, C, H, W]`. Along each spatial axis a window of `kernel`
//! taps, `dilation` apart, moved by `stride` over the input padded with
//! `padding` on both sides takes
//!
//! `out = floor((in + 2 padding - dilation (kernel - 1) - 1) / stride) + 1`
//!
//! positions ([`conv_output_size`](tapegrad_tensor::conv_output_size)), for
//! convolution and pooling alike. The layers compute it with checked
//! arithmetic before unfolding anything: a padding or dilation so large
//! that a size overflows, or an output too large to hold, is a panic naming
//! the op and the parameters.
//!
//! | layer | functional form | forward |
//! |---|---|---|
//! | [`Conv2d`] | [`conv2d`] | `im2col`, then one batched matmul per group |
//! | [`MaxPool2d`] | [`max_pool2d`] | `im2col` windows, `max` over the window |
//! | [`AvgPool2d`] | [`avg_pool2d`] | `im2col` windows, mean over the window |
//! | [`AdaptiveAvgPool2d`] | [`adaptive_avg_pool2d`] | `A_h x A_wᵀ` with bin-averaging matrices |
//! | [`BatchNorm2d`] | [`batch_norm`] | per-channel batch (training) or running (evaluation) statistics |
//!
//! A small CNN for 8x8 digits:
//!
//! ```
//! use rand::SeedableRng;
//! use tapegrad_autodiff::Tape;
//! use tapegrad_nn::conv::{BatchNorm2d, Conv2d, Conv2dConfig, MaxPool2d};
//! use tapegrad_nn::layers::{Flatten, Linear, ReLU};
//! use tapegrad_nn::{Module, Sequential};
//! use tapegrad_tensor::Tensor;
//!
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let model = Sequential::new()
//!     .add(Conv2d::with_config(1, 8, Conv2dConfig::new(3).padding(1), &mut rng))
//!     .add(BatchNorm2d::new(8))
//!     .add(ReLU)
//!     .add(MaxPool2d::new(2)) // 8x8 -> 4x4
//!     .add(Flatten)
//!     .add(Linear::new(8 * 4 * 4, 10, &mut rng));
//! let tape = Tape::<f32>::new();
//! let logits = model.forward(tape.constant(Tensor::ones(&[5, 1, 8, 8])));
//! assert_eq!(logits.shape().as_slice(), &[5, 10]);
//! ```

mod batch_norm;
mod conv2d;
mod geometry;
mod pool;

pub use batch_norm::{batch_norm, BatchNorm2d, NormStats};
pub use conv2d::{conv2d, Conv2d, Conv2dConfig};
pub use pool::{
    adaptive_avg_pool2d, avg_pool2d, max_pool2d, AdaptiveAvgPool2d, AvgPool2d, MaxPool2d,
};
pub use tapegrad_autodiff::ConvParams;
