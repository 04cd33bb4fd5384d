//! `RNN`: the Elman cell `h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)`, and
//! its functional form [`rnn_cell`].

use super::cell::{check_step, CellWeights};
use super::layer::{CellKind, Recurrent};
use tapegrad_autodiff::Var;
use tapegrad_tensor::Float;

/// One step of a tanh (Elman) RNN, as PyTorch's `RNNCell`:
///
/// `h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)`
///
/// with `x: [N, input]`, `h: [N, H]`, `W_ih: [H, input]`, `W_hh: [H, H]`.
/// Backpropagating through `k` steps multiplies the gradient by
/// `Π diag(1 - h_t²) W_hh`, which shrinks geometrically when the spectral
/// radius of `W_hh` times the typical `1 - h²` is below 1: the vanishing
/// gradient.
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::recurrent::{rnn_cell, CellWeights};
/// use tapegrad_tensor::Tensor;
///
/// let tape = Tape::<f64>::new();
/// let x = tape.constant(Tensor::from_vec(vec![1.0], &[1, 1]));
/// let h = tape.constant(Tensor::from_vec(vec![0.5], &[1, 1]));
/// let w = CellWeights::new(
///     tape.var(Tensor::from_vec(vec![2.0], &[1, 1])),
///     tape.var(Tensor::from_vec(vec![-1.0], &[1, 1])),
/// );
/// let h2 = rnn_cell(x, h, &w);
/// assert_eq!(h2.value().to_vec(), vec![1.5f64.tanh()]); // tanh(2 · 1 - 1 · 0.5)
/// ```
///
/// # Panics
/// If `x` is not `[N, input]` or `h` not `[N, H]`.
#[track_caller]
pub fn rnn_cell<'t, E: Float>(x: Var<'t, E>, h: Var<'t, E>, w: &CellWeights<'t, E>) -> Var<'t, E> {
    check_step("rnn_cell", &x, &h, w);
    (w.input_part(x) + w.hidden_part(h)).tanh()
}

/// The cell kind of [`RNN`]: [`rnn_cell`] as a [`CellKind`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Elman;

impl<E: Float> CellKind<E> for Elman {
    const NAME: &'static str = "RNN";
    const GATES: usize = 1;
    type State<'t> = Var<'t, E>;

    fn zero_state<'t>(zeros: impl Fn() -> Var<'t, E>) -> Self::State<'t> {
        zeros()
    }

    #[track_caller]
    fn step<'t>(x: Var<'t, E>, state: Var<'t, E>, w: &CellWeights<'t, E>) -> Var<'t, E> {
        rnn_cell(x, state, w)
    }

    fn hidden<'t>(state: Self::State<'t>) -> Var<'t, E> {
        state
    }
}

/// A tanh (Elman) RNN cell ([`rnn_cell`]) with PyTorch's `RNNCell`
/// parameters: `"weight_ih"` `[H, input]`, `"weight_hh"` `[H, H]`,
/// `"bias_ih"` and `"bias_hh"` `[H]`, all initialised `U(-1/√H, 1/√H)`.
///
/// [`step`](super::RecurrentCell::step) runs one step; `forward` runs a whole
/// sequence `[T, N, input]` from a zero state and returns every hidden
/// state, `[T, N, H]` (as a single-layer `nn.RNN`).
///
/// ```
/// use rand::SeedableRng;
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::recurrent::RNN;
/// use tapegrad_nn::Module;
/// use tapegrad_tensor::Tensor;
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let rnn = RNN::new(3, 5, &mut rng);
/// let tape = Tape::<f32>::new();
/// let hs = rnn.forward(tape.constant(Tensor::ones(&[7, 2, 3]))); // T = 7, N = 2
/// assert_eq!(hs.shape().as_slice(), &[7, 2, 5]);
/// assert_eq!(rnn.num_parameters(), 5 * 3 + 5 * 5 + 5 + 5);
/// ```
pub type RNN<E = f32> = Recurrent<Elman, E>;
