//! [`Recurrent`]: the one layer type behind [`RNN`](super::RNN),
//! [`LSTM`](super::LSTM) and [`GRU`](super::GRU). A cell kind
//! ([`CellKind`]) supplies the step equations, the number of gate blocks
//! and the state; the parameters, constructors, unrolling and the
//! [`Module`] plumbing are written once here.

use super::cell::{unroll_sequence, CellParams, CellWeights, RecurrentCell};
use crate::module::Module;
use crate::param::Param;
use rand::Rng;
use std::fmt::Debug;
use std::marker::PhantomData;
use tapegrad_autodiff::{Tape, Var};
use tapegrad_tensor::{Float, Tensor};

/// The equations of one kind of recurrent cell, for [`Recurrent`].
///
/// A kind is a zero-sized marker ([`Elman`](super::Elman),
/// [`Lstm`](super::Lstm), [`Gru`](super::Gru)); implement it for a marker
/// of your own to get a full layer (constructors with PyTorch's
/// initialisation, `forward` over `[T, N, input]`, parameters named as
/// PyTorch names them) from one step function:
///
/// ```
/// use rand::SeedableRng;
/// use tapegrad_autodiff::{Tape, Var};
/// use tapegrad_nn::recurrent::{CellKind, CellWeights, Recurrent};
/// use tapegrad_nn::Module;
/// use tapegrad_tensor::{Float, Tensor};
///
/// /// A minimal gated cell: h' = h + σ(a_u) ⊙ tanh(a_c), two gate blocks.
/// #[derive(Clone, Copy, Debug, Default)]
/// struct Additive;
///
/// impl<E: Float> CellKind<E> for Additive {
///     const NAME: &'static str = "Additive";
///     const GATES: usize = 2;
///     type State<'t> = Var<'t, E>;
///     fn zero_state<'t>(zeros: impl Fn() -> Var<'t, E>) -> Self::State<'t> {
///         zeros()
///     }
///     fn step<'t>(x: Var<'t, E>, h: Self::State<'t>, w: &CellWeights<'t, E>) -> Self::State<'t> {
///         let a = w.input_part(x) + w.hidden_part(h);
///         let n = w.hidden_size();
///         h + a.narrow(1, 0, n).sigmoid() * a.narrow(1, n, n).tanh()
///     }
///     fn hidden<'t>(h: Self::State<'t>) -> Var<'t, E> {
///         h
///     }
/// }
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let layer = Recurrent::<Additive, f64>::new(3, 4, &mut rng);
/// let tape = Tape::new();
/// let hs = layer.forward(tape.constant(Tensor::ones(&[5, 2, 3])));
/// assert_eq!(hs.shape().as_slice(), &[5, 2, 4]);
/// assert_eq!(layer.describe(), "Additive(3 -> 4)");
/// assert_eq!(layer.num_parameters(), 2 * 4 * (3 + 4) + 2 * 2 * 4);
/// ```
pub trait CellKind<E: Float>: Clone + Copy + Debug + Default + Send + Sync + 'static {
    /// The layer's name in errors and [`describe`](Module::describe)
    /// (`"RNN"`, `"LSTM"`, `"GRU"`).
    const NAME: &'static str;

    /// Gate blocks `G`: the weights are `[G H, input]` and `[G H, H]`.
    const GATES: usize;

    /// The recurrent state (`h`, or `h` and `c`) on a tape.
    type State<'t>: Copy;

    // The impls spell the state `Self::State<'t>` (not the concrete type)
    // so that `'t` is bound the same way as here.

    /// The all-zero state, built from `zeros()` (a fresh `[N, H]` zero
    /// constant per call).
    fn zero_state<'t>(zeros: impl Fn() -> Var<'t, E>) -> Self::State<'t>;

    /// One step: the next state from `x: [N, input]`, the current state and
    /// the weights. Check the shapes here (the functional forms
    /// [`rnn_cell`](super::rnn_cell) and the others do).
    fn step<'t>(x: Var<'t, E>, state: Self::State<'t>, w: &CellWeights<'t, E>) -> Self::State<'t>;

    /// The output `h: [N, H]` of a state.
    fn hidden<'t>(state: Self::State<'t>) -> Var<'t, E>;
}

/// A recurrent layer of cell kind `K`: parameters `"weight_ih"` `[G H,
/// input]`, `"weight_hh"` `[G H, H]`, `"bias_ih"` and `"bias_hh"` `[G H]`
/// (PyTorch's names), all initialised `U(-1/√H, 1/√H)` as PyTorch does.
///
/// [`step`](RecurrentCell::step) runs one step; `forward` runs a whole
/// sequence `[T, N, input]` from a zero state and returns every hidden
/// state, `[T, N, H]` (as a single-layer `nn.RNN` / `nn.LSTM` / `nn.GRU`).
/// Use it through [`RNN`](super::RNN), [`LSTM`](super::LSTM) and
/// [`GRU`](super::GRU), or with a [`CellKind`] of your own.
#[derive(Clone, Debug)]
pub struct Recurrent<K, E: Float = f32> {
    params: CellParams<E>,
    kind: PhantomData<K>,
}

impl<K: CellKind<E>, E: Float> Recurrent<K, E> {
    /// `input -> hidden` with biases and PyTorch's initialisation.
    ///
    /// # Panics
    /// If `G · hidden` overflows `usize`.
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
        Recurrent {
            params: CellParams::new(K::NAME, (input, hidden), K::GATES, bias, rng),
            kind: PhantomData,
        }
    }

    /// A layer with the given weights `[G H, input]`, `[G H, H]` and biases
    /// `[G H]`.
    ///
    /// # Panics
    /// If the shapes do not fit `G` gate blocks of one hidden size.
    #[track_caller]
    pub fn from_tensors(
        weight_ih: Tensor<E>,
        weight_hh: Tensor<E>,
        bias: Option<(Tensor<E>, Tensor<E>)>,
    ) -> Self {
        Recurrent {
            params: CellParams::from_tensors(K::NAME, K::GATES, weight_ih, weight_hh, bias),
            kind: PhantomData,
        }
    }

    /// The weights bound to `tape`, for the functional form of the cell.
    pub fn weights<'t>(&self, tape: &'t Tape<E>) -> CellWeights<'t, E> {
        self.params.bind(tape)
    }

    /// The parameters, for kinds that adjust them (e.g. the LSTM's forget
    /// bias).
    pub(crate) fn params_mut(&mut self) -> &mut CellParams<E> {
        &mut self.params
    }
}

impl<K: CellKind<E>, E: Float> RecurrentCell<E> for Recurrent<K, E> {
    type State<'t> = K::State<'t>;

    fn input_size(&self) -> usize {
        self.params.input_size()
    }

    fn hidden_size(&self) -> usize {
        self.params.hidden_size()
    }

    fn zero_state<'t>(&self, tape: &'t Tape<E>, batch: usize) -> K::State<'t> {
        K::zero_state(|| self.params.zeros(tape, batch))
    }

    #[track_caller]
    fn step<'t>(&self, x: Var<'t, E>, state: K::State<'t>) -> K::State<'t> {
        K::step(x, state, &self.params.bind(x.tape()))
    }

    fn hidden<'t>(state: K::State<'t>) -> Var<'t, E> {
        K::hidden(state)
    }
}

impl<K: CellKind<E>, E: Float> Module<E> for Recurrent<K, E> {
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
        format!(
            "{}({} -> {})",
            K::NAME,
            self.input_size(),
            self.hidden_size()
        )
    }
}
