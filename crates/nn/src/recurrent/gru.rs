//! `GRU` (Cho et al. 2014), and its functional form [`gru_cell`].

use super::cell::{check_step, unroll_sequence, CellParams, CellWeights, RecurrentCell};
use crate::module::Module;
use crate::param::Param;
use rand::Rng;
use tapegrad_autodiff::{Tape, Var};
use tapegrad_tensor::{Float, Tensor};

/// One GRU step, as PyTorch's `GRUCell` (gate blocks in the order reset,
/// update, new):
///
/// ```text
/// [x_r, x_z, x_n] = x W_ihᵀ + b_ih      [h_r, h_z, h_n] = h W_hhᵀ + b_hh
/// r = σ(x_r + h_r)   z = σ(x_z + h_z)   n = tanh(x_n + r ⊙ h_n)
/// h' = (1 - z) ⊙ n + z ⊙ h
/// ```
///
/// with `W_ih: [3H, input]`, `W_hh: [3H, H]`. The gradient along `h` is
/// multiplied by `z` each step (plus paths through the gates), so an update
/// gate near 1 keeps the state and its gradient.
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::recurrent::{gru_cell, CellWeights};
/// use tapegrad_tensor::Tensor;
///
/// let tape = Tape::<f64>::new();
/// // H = 1, zero weights: z = σ(0) = 0.5 and n = tanh(0) = 0, so h' = h / 2.
/// let w = CellWeights::new(tape.var(Tensor::zeros(&[3, 1])), tape.var(Tensor::zeros(&[3, 1])));
/// let h = tape.constant(Tensor::from_vec(vec![0.8], &[1, 1]));
/// let next = gru_cell(tape.constant(Tensor::ones(&[1, 1])), h, &w);
/// assert_eq!(next.value().to_vec(), vec![0.4]);
/// ```
///
/// # Panics
/// If `x` is not `[N, input]` or `h` not `[N, H]`.
#[track_caller]
pub fn gru_cell<'t, E: Float>(x: Var<'t, E>, h: Var<'t, E>, w: &CellWeights<'t, E>) -> Var<'t, E> {
    check_step("gru_cell", &x, &h, w);
    let hidden = w.hidden_size();
    let (gi, gh) = (w.input_part(x), w.hidden_part(h));
    let block = |v: Var<'t, E>, k: usize| v.narrow(1, k * hidden, hidden);
    let r = (block(gi, 0) + block(gh, 0)).sigmoid();
    let z = (block(gi, 1) + block(gh, 1)).sigmoid();
    let n = (block(gi, 2) + r * block(gh, 2)).tanh();
    n + z * (h - n) // = (1 - z) n + z h
}

/// A GRU cell ([`gru_cell`]) with PyTorch's `GRUCell` parameters:
/// `"weight_ih"` `[3H, input]`, `"weight_hh"` `[3H, H]`, `"bias_ih"` and
/// `"bias_hh"` `[3H]` (gate blocks r, z, n), all initialised `U(-1/√H, 1/√H)`.
///
/// [`step`](RecurrentCell::step) runs one step; `forward` runs a sequence
/// `[T, N, input]` from a zero state and returns every `h`, `[T, N, H]`.
///
/// ```
/// use rand::SeedableRng;
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::recurrent::GRU;
/// use tapegrad_nn::Module;
/// use tapegrad_tensor::Tensor;
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let gru = GRU::new(3, 4, &mut rng);
/// let tape = Tape::<f32>::new();
/// let hs = gru.forward(tape.constant(Tensor::ones(&[6, 2, 3])));
/// assert_eq!(hs.shape().as_slice(), &[6, 2, 4]);
/// assert_eq!(gru.describe(), "GRU(3 -> 4)");
/// ```
#[derive(Clone, Debug)]
pub struct GRU<E: Float = f32> {
    params: CellParams<E>,
}

impl<E: Float> GRU<E> {
    /// `input -> hidden` with biases and PyTorch's initialisation.
    ///
    /// # Panics
    /// If 3 · `hidden` overflows `usize`.
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
        GRU {
            params: CellParams::new("GRU", (input, hidden), 3, bias, rng),
        }
    }

    /// A cell with the given weights `[3H, input]`, `[3H, H]` and biases `[3H]`.
    ///
    /// # Panics
    /// If the shapes do not fit together.
    #[track_caller]
    pub fn from_tensors(
        weight_ih: Tensor<E>,
        weight_hh: Tensor<E>,
        bias: Option<(Tensor<E>, Tensor<E>)>,
    ) -> Self {
        GRU {
            params: CellParams::from_tensors("GRU", 3, weight_ih, weight_hh, bias),
        }
    }

    /// The weights bound to `tape` (for [`gru_cell`]).
    pub fn weights<'t>(&self, tape: &'t Tape<E>) -> CellWeights<'t, E> {
        self.params.bind(tape)
    }
}

impl<E: Float> RecurrentCell<E> for GRU<E> {
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
        gru_cell(x, h, &self.params.bind(x.tape()))
    }

    fn hidden<'t>(h: Self::State<'t>) -> Var<'t, E> {
        h
    }
}

impl<E: Float> Module<E> for GRU<E> {
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
        format!("GRU({} -> {})", self.input_size(), self.hidden_size())
    }
}
