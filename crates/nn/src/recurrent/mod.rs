//! Recurrent cells: [`RNN`] (tanh Elman), [`LSTM`] and [`GRU`], each a
//! [`RecurrentCell`] (one step on `[N, input]`) and a [`Module`](crate::Module)
//! (a whole sequence `[T, N, input] -> [T, N, H]` from a zero state), with
//! PyTorch's equations, gate order, parameter names and initialisation, and
//! a functional form taking the weights as [`CellWeights`].
//!
//! | cell | functional form | state | gate blocks |
//! |---|---|---|---|
//! | [`RNN`] | [`rnn_cell`] | `h` | 1: `tanh` |
//! | [`LSTM`] | [`lstm_cell`] | [`LstmState`] `(h, c)` | 4: i, f, g, o |
//! | [`GRU`] | [`gru_cell`] | `h` | 3: r, z, n |
//!
//! The three layers are one type, [`Recurrent`], over a [`CellKind`]
//! (the step equations, gate blocks and state): `RNN = Recurrent<Elman>`,
//! `LSTM = Recurrent<Lstm>`, `GRU = Recurrent<Gru>`. A new kind of cell is
//! one `CellKind` impl.
//!
//! [`unroll`] runs a cell over per-step vars (so the gradient with respect
//! to each step's input can be read back) and [`unroll_sequence`] over a
//! `[T, N, input]` var.
//!
//! ```
//! use rand::SeedableRng;
//! use tapegrad_autodiff::Tape;
//! use tapegrad_nn::layers::Linear;
//! use tapegrad_nn::recurrent::{unroll, LSTM};
//! use tapegrad_nn::{loss, Module};
//! use tapegrad_tensor::Tensor;
//!
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let (lstm, head) = (LSTM::new(2, 8, &mut rng), Linear::new(8, 3, &mut rng));
//! let tape = Tape::<f32>::new();
//! let xs: Vec<_> = (0..10).map(|_| tape.var(Tensor::ones(&[4, 2]))).collect();
//! let (_, last) = unroll(&lstm, &xs, None);
//! let loss = loss::cross_entropy(head.forward(last.h), &[0, 1, 2, 0]);
//! let grads = loss.backward();
//! assert_eq!(grads[xs[0]].shape(), &[4, 2]); // the gradient reached step 0
//! ```

mod cell;
mod gru;
mod layer;
mod lstm;
mod rnn;

pub use cell::{unroll, unroll_sequence, CellWeights, RecurrentCell};
pub use gru::{gru_cell, Gru, GRU};
pub use layer::{CellKind, Recurrent};
pub use lstm::{lstm_cell, Lstm, LstmState, LSTM};
pub use rnn::{rnn_cell, Elman, RNN};
