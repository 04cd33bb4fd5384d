//! Gradient-flow diagnostics: why gradients vanish or explode, measured.
//!
//! 1. [`FlowProbe`] taps layer outputs during the forward pass (labels on the
//!    tape, gradient hooks for the backward pass); [`forward_traced`] taps
//!    every child of a [`Sequential`](crate::Sequential).
//! 2. [`FlowReport::collect`] turns the taps and the model's parameter
//!    gradients into per-layer statistics: activation mean and std, the
//!    fraction of saturated sigmoid/tanh outputs, the fraction of dead ReLU
//!    units, the gradient norm and RMS with respect to each layer's output,
//!    and per parameter the gradient norm and std; after an optimiser step,
//!    [`FlowReport::record_update`] adds the update-to-weight ratio.
//! 3. A [`Verdict`] flags vanishing or exploding gradients and names the
//!    layers (see [`verdict`] for the thresholds and why).
//! 4. The report prints as terminal tables; [`LineChart`] draws SVG charts.
//!
//! ```
//! use rand::SeedableRng;
//! use tapegrad_autodiff::Tape;
//! use tapegrad_nn::diagnostics::{forward_traced, FlowProbe, FlowReport, Thresholds};
//! use tapegrad_nn::{Module, Param, Sequential};
//! use tapegrad_tensor::Tensor;
//!
//! /// y = x w (a layer written from scratch: diagnostics need nothing from it).
//! struct Scale(Param<f64>);
//! impl Module<f64> for Scale {
//!     fn forward<'t>(&self, x: tapegrad_autodiff::Var<'t, f64>) -> tapegrad_autodiff::Var<'t, f64> {
//!         x.matmul(self.0.bind(x.tape())).tanh()
//!     }
//!     fn visit_params(&self, f: &mut dyn FnMut(&str, &Param<f64>)) { f("w", &self.0) }
//!     fn visit_params_mut(&mut self, f: &mut dyn FnMut(&str, &mut Param<f64>)) { f("w", &mut self.0) }
//! }
//!
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let model = Sequential::new()
//!     .add(Scale(Param::new(Tensor::rand_normal(&[4, 4], 0.0, 0.5, &mut rng))))
//!     .add(Scale(Param::new(Tensor::rand_normal(&[4, 4], 0.0, 0.5, &mut rng))));
//! let tape = Tape::new();
//! let probe = FlowProbe::new();
//! let x = tape.constant(Tensor::rand_normal(&[8, 4], 0.0, 1.0, &mut rng));
//! let loss = forward_traced(&model, x, &probe).square().mean_all();
//! let grads = loss.backward();
//! let report = FlowReport::collect(&probe, &model, &grads, &Thresholds::default());
//! assert_eq!(report.layers.len(), 2);
//! assert_eq!(report.layers[0].op, "tanh");
//! println!("{report}");
//! ```

#[cfg(feature = "charts")]
mod chart;
mod probe;
mod report;
mod table;
pub mod verdict;

#[cfg(feature = "charts")]
pub use chart::{ChartError, LineChart, Series};
pub use probe::{forward_traced, FlowProbe, Tap};
pub use report::{FlowReport, LayerStats, ParamStats};
pub use table::{fmt_num, render_table};
pub use verdict::{judge, Thresholds, Verdict};
