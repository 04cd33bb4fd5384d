//! `RNN`: the Elman cell `h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)`, and
//! its functional form [`rnn_cell`].

use super::cell::{check_step, unroll_sequence, CellParams, CellWeights, RecurrentCell};
use crate::module::Module;
use crate::param::Param;
use rand::Rng;
use tapegrad_autodiff::{Tape, Var};
use tapegrad_tensor::{Float, Tensor};

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

/// A tanh (Elman) RNN cell ([`rnn_cell`]) with PyTorch's `RNNCell`
/// parameters: `"weight_ih"` `[H, input]`, `"weight_hh"` `[H, H]`,
/// `"bias_ih"` and `"bias_hh"` `[H]`, all initialised `U(-1/√H, 1/√H)`.
///
/// [`step`](RecurrentCell::step) runs one step; `forward` runs a whole
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
#[derive(Clone, Debug)]
pub struct RNN<E: Float = f32> {
    params: CellParams<E>,
}

impl<E: Float> RNN<E> {
    /// `input -> hidden` with biases and PyTorch's initialisation.
    ///
    /// # Panics
    /// If 1 · `hidden` overflows `usize`.
    #[track_caller]
    pub fn new(input: usize, hidden: usize, rng: &mut impl Rng) -> Self {
        Self::with_bias(input, hidden, true, rng)
    }

    /// `input -> hidden`, with or without biases.
    ///
    /// # Panics
    /// As [`new`](Self::new).
    #[track_caller]
    pub fn with_bias(input: usize, hidden: usize, bias: bool, rng: &mut impl Rng) -> Self {
        RNN {
            params: CellParams::new("RNN", (input, hidden), 1, bias, rng),
        }
    }

    /// A cell with the given weights `[H, input]`, `[H, H]` and biases `[H]`.
    ///
    /// # Panics
    /// If the shapes do not fit together.
    #[track_caller]
    pub fn from_tensors(
        weight_ih: Tensor<E>,
        weight_hh: Tensor<E>,
        bias: Option<(Tensor<E>, Tensor<E>)>,
    ) -> Self {
        RNN {
            params: CellParams::from_tensors("RNN", 1, weight_ih, weight_hh, bias),
        }
    }

    /// The weights bound to `tape` (for [`rnn_cell`]).
    pub fn weights<'t>(&self, tape: &'t Tape<E>) -> CellWeights<'t, E> {
        self.params.bind(tape)
    }
}

impl<E: Float> RecurrentCell<E> for RNN<E> {
    type State<'t> = Var<'t, E>;

    fn input_size(&self) -> usize {
        self.params.input_size()
    }

    fn hidden_size(&self) -> usize {
        self.params.hidden_size()
    }

    fn zero_state<'t>(&self, tape: &'t Tape<E>, batch: usize) -> Var<'t, E> {
        self.params.zeros(tape, batch)
    }

    #[track_caller]
    fn step<'t>(&self, x: Var<'t, E>, h: Var<'t, E>) -> Var<'t, E> {
        rnn_cell(x, h, &self.params.bind(x.tape()))
    }

    fn hidden<'t>(h: Self::State<'t>) -> Var<'t, E> {
        h
    }
}

impl<E: Float> Module<E> for RNN<E> {
    /// Every hidden state `[T, N, H]` of the sequence `x: [T, N, input]`
    /// from a zero state.
    #[track_caller]
    fn forward<'t>(&self, x: Var<'t, E>) -> Var<'t, E> {
        unroll_sequence(self, x, None).0
    }

    fn visit_params(&self, f: &mut dyn FnMut(&str, &Param<E>)) {
        self.params.visit(f);
    }

    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&str, &mut Param<E>)) {
        self.params.visit_mut(f);
    }

    fn describe(&self) -> String {
        format!("RNN({} -> {})", self.input_size(), self.hidden_size())
    }
}
