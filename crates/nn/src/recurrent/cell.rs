//! What every recurrent cell shares: the [`RecurrentCell`] trait, the
//! input-to-hidden and hidden-to-hidden weights ([`CellWeights`] as vars,
//! `CellParams` as parameters), and [`unroll`] / [`unroll_sequence`], which
//! run a cell over a sequence.

use crate::init;
use crate::layers::linear;
use crate::module::Module;
use crate::param::Param;
use rand::Rng;
use tapegrad_autodiff::{Tape, Var};
use tapegrad_tensor::{Float, Tensor};

/// A recurrent cell: one time step `state' = step(x, state)` on `[N, input]`
/// inputs, with a `[N, hidden]` output read from the state.
///
/// The state is a `Copy` bundle of vars on the step's tape (a var for
/// [`RNN`](super::RNN) and [`GRU`](super::GRU), `(h, c)` for
/// [`LSTM`](super::LSTM)). Run a cell over a sequence with [`unroll`].
pub trait RecurrentCell<E: Float>: Module<E> {
    /// The recurrent state (`h`, or `h` and `c`) on a tape.
    type State<'t>: Copy;

    /// Features per input step.
    fn input_size(&self) -> usize;

    /// Features of the hidden state.
    fn hidden_size(&self) -> usize;

    /// The all-zero state for a batch of `batch` sequences, as constants.
    fn zero_state<'t>(&self, tape: &'t Tape<E>, batch: usize) -> Self::State<'t>;

    /// One time step: the next state from the input `x: [N, input]` and the
    /// current state.
    fn step<'t>(&self, x: Var<'t, E>, state: Self::State<'t>) -> Self::State<'t>;

    /// The output `h: [N, hidden]` of a state.
    fn hidden<'t>(state: Self::State<'t>) -> Var<'t, E>;
}

/// Runs `cell` over the steps `xs[t]: [N, input]` from `initial` (zeros if
/// `None`): `s_t = step(x_t, s_{t-1})`. Returns every step's output `h_t`
/// and the final state.
///
/// Each step is its own var, so `grads[xs[t]]` is the gradient with respect
/// to the input at step `t` (how far back the loss reaches).
///
/// ```
/// use rand::SeedableRng;
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::recurrent::{unroll, RNN};
/// use tapegrad_tensor::Tensor;
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let rnn = RNN::<f64>::new(2, 4, &mut rng);
/// let tape = Tape::new();
/// let xs: Vec<_> = (0..5).map(|_| tape.var(Tensor::ones(&[3, 2]))).collect();
/// let (hs, last) = unroll(&rnn, &xs, None);
/// assert_eq!((hs.len(), last.shape().as_slice()), (5, &[3, 4][..]));
/// let grads = hs[4].sum_all().backward();
/// assert_eq!(grads[xs[0]].shape(), &[3, 2]); // the first input still matters
/// ```
///
/// # Panics
/// If `xs` is empty and there is no initial state, or a step's shape does
/// not fit the cell.
#[track_caller]
pub fn unroll<'t, E: Float, C: RecurrentCell<E> + ?Sized>(
    cell: &C,
    xs: &[Var<'t, E>],
    initial: Option<C::State<'t>>,
) -> (Vec<Var<'t, E>>, C::State<'t>) {
    let mut state = match (initial, xs.first()) {
        (Some(s), _) => s,
        (None, Some(x0)) => cell.zero_state(x0.tape(), x0.shape()[0]),
        (None, None) => panic!("unroll: an empty sequence needs an initial state"),
    };
    let mut outputs = Vec::with_capacity(xs.len());
    for &x in xs {
        state = cell.step(x, state);
        outputs.push(C::hidden(state));
    }
    (outputs, state)
}

/// Runs `cell` over a sequence `x: [T, N, input]` ([`unroll`] of its steps)
/// and returns the outputs stacked, `[T, N, hidden]`, and the final state.
///
/// Step `t` is `x.narrow(0, t, 1)`, whose gradient is padded back to the
/// full `[T, N, input]`: for long sequences, pass per-step vars to
/// [`unroll`] instead.
///
/// A sequence of no steps (`T = 0`) with an initial state gives the empty
/// output `[0, N, hidden]` (a constant) and the initial state unchanged.
///
/// # Panics
/// If `x` is not 3-D, has no steps and no initial state, or has no steps
/// and a batch `N` other than the initial state's.
#[track_caller]
pub fn unroll_sequence<'t, E: Float, C: RecurrentCell<E> + ?Sized>(
    cell: &C,
    x: Var<'t, E>,
    initial: Option<C::State<'t>>,
) -> (Var<'t, E>, C::State<'t>) {
    let s = x.shape();
    if s.len() != 3 || (s[0] == 0 && initial.is_none()) {
        panic!("unroll_sequence: expected a non-empty sequence [T, N, features], got {s:?}");
    }
    if let (0, Some(state)) = (s[0], initial) {
        let batch = C::hidden(state).shape()[0];
        if s[1] != batch {
            panic!("unroll_sequence: input {s:?} does not fit a state of batch {batch}");
        }
        let empty = Tensor::zeros(&[0, batch, cell.hidden_size()]);
        return (x.constant_like(empty), state);
    }
    let steps: Vec<Var<'t, E>> = (0..s[0])
        .map(|t| x.narrow(0, t, 1).reshape(&[s[1], s[2]]))
        .collect();
    let (outputs, last) = unroll(cell, &steps, initial);
    (Var::stack(&outputs, 0), last)
}

/// A cell's weights as vars: `weight_ih: [G H, input]`, `weight_hh:
/// [G H, H]` and optional biases `[G H]`, for `G` gate blocks (1 for RNN,
/// 4 for LSTM, 3 for GRU) stacked along the first axis.
#[derive(Clone, Copy)]
pub struct CellWeights<'t, E: Float> {
    /// Input-to-hidden weight `[G H, input]`.
    pub weight_ih: Var<'t, E>,
    /// Hidden-to-hidden weight `[G H, H]`.
    pub weight_hh: Var<'t, E>,
    /// Input-to-hidden bias `[G H]`.
    pub bias_ih: Option<Var<'t, E>>,
    /// Hidden-to-hidden bias `[G H]`.
    pub bias_hh: Option<Var<'t, E>>,
}

impl<'t, E: Float> CellWeights<'t, E> {
    /// Weights without biases.
    pub fn new(weight_ih: Var<'t, E>, weight_hh: Var<'t, E>) -> Self {
        CellWeights {
            weight_ih,
            weight_hh,
            bias_ih: None,
            bias_hh: None,
        }
    }

    /// Adds the biases.
    pub fn with_bias(mut self, bias_ih: Var<'t, E>, bias_hh: Var<'t, E>) -> Self {
        self.bias_ih = Some(bias_ih);
        self.bias_hh = Some(bias_hh);
        self
    }

    /// `x W_ihᵀ + b_ih`, `[N, G H]`.
    #[track_caller]
    pub fn input_part(&self, x: Var<'t, E>) -> Var<'t, E> {
        linear(x, self.weight_ih, self.bias_ih)
    }

    /// `h W_hhᵀ + b_hh`, `[N, G H]`.
    #[track_caller]
    pub fn hidden_part(&self, h: Var<'t, E>) -> Var<'t, E> {
        linear(h, self.weight_hh, self.bias_hh)
    }

    /// Features of the hidden state (`H`).
    pub fn hidden_size(&self) -> usize {
        self.weight_hh.shape()[1]
    }
}

/// A cell's parameters, named `"weight_ih"`, `"weight_hh"`, `"bias_ih"`,
/// `"bias_hh"` (PyTorch's `RNNCell` / `LSTMCell` / `GRUCell` names).
#[derive(Clone, Debug)]
pub(crate) struct CellParams<E: Float> {
    pub(crate) weight_ih: Param<E>,
    pub(crate) weight_hh: Param<E>,
    pub(crate) bias_ih: Option<Param<E>>,
    pub(crate) bias_hh: Option<Param<E>>,
}

impl<E: Float> CellParams<E> {
    /// PyTorch's initialisation: every weight and bias `U(-1/√H, 1/√H)`.
    ///
    /// # Panics
    /// If `gates · hidden` (the rows of the weights) overflows, naming `cell`.
    #[track_caller]
    pub(crate) fn new(
        cell: &str,
        (input, hidden): (usize, usize),
        gates: usize,
        bias: bool,
        rng: &mut impl Rng,
    ) -> Self {
        if gates.checked_mul(hidden).is_none() {
            panic!("{cell}: {gates} gates of hidden size {hidden} overflow the weight's rows");
        }
        let k = if hidden > 0 {
            1.0 / (hidden as f64).sqrt()
        } else {
            0.0
        };
        let mut draw = |shape: &[usize]| Param::new(init::uniform(shape, -k, k, rng));
        let weight_ih = draw(&[gates * hidden, input]);
        let weight_hh = draw(&[gates * hidden, hidden]);
        let (bias_ih, bias_hh) = if bias {
            (Some(draw(&[gates * hidden])), Some(draw(&[gates * hidden])))
        } else {
            (None, None)
        };
        CellParams {
            weight_ih,
            weight_hh,
            bias_ih,
            bias_hh,
        }
    }

    /// Parameters from tensors, checked against `gates` blocks.
    #[track_caller]
    pub(crate) fn from_tensors(
        cell: &str,
        gates: usize,
        weight_ih: Tensor<E>,
        weight_hh: Tensor<E>,
        bias: Option<(Tensor<E>, Tensor<E>)>,
    ) -> Self {
        let (wi, wh) = (weight_ih.shape(), weight_hh.shape());
        let h = wh.get(1).copied().unwrap_or(0);
        // An existing [G H, H] weight cannot overflow G H; a mismatch can only fail.
        let rows = gates.saturating_mul(h);
        if wi.len() != 2 || wh != [rows, h] || wi[0] != rows {
            panic!("{cell}: weights must be [{gates} H, input] and [{gates} H, H], got {wi:?} and {wh:?}");
        }
        if let Some((bi, bh)) = &bias {
            if bi.shape() != [rows] || bh.shape() != [rows] {
                panic!(
                    "{cell}: biases must be [{rows}], got {:?} and {:?}",
                    bi.shape(),
                    bh.shape()
                );
            }
        }
        let (bias_ih, bias_hh) = match bias {
            Some((bi, bh)) => (Some(Param::new(bi)), Some(Param::new(bh))),
            None => (None, None),
        };
        CellParams {
            weight_ih: Param::new(weight_ih),
            weight_hh: Param::new(weight_hh),
            bias_ih,
            bias_hh,
        }
    }

    /// The weights bound to `tape`.
    pub(crate) fn bind<'t>(&self, tape: &'t Tape<E>) -> CellWeights<'t, E> {
        CellWeights {
            weight_ih: self.weight_ih.bind(tape),
            weight_hh: self.weight_hh.bind(tape),
            bias_ih: self.bias_ih.as_ref().map(|b| b.bind(tape)),
            bias_hh: self.bias_hh.as_ref().map(|b| b.bind(tape)),
        }
    }

    pub(crate) fn input_size(&self) -> usize {
        self.weight_ih.shape()[1]
    }

    pub(crate) fn hidden_size(&self) -> usize {
        self.weight_hh.shape()[1]
    }

    pub(crate) fn visit(&self, f: &mut dyn FnMut(&str, &Param<E>)) {
        f("weight_ih", &self.weight_ih);
        f("weight_hh", &self.weight_hh);
        if let (Some(bi), Some(bh)) = (&self.bias_ih, &self.bias_hh) {
            f("bias_ih", bi);
            f("bias_hh", bh);
        }
    }

    pub(crate) fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut Param<E>)) {
        f("weight_ih", &mut self.weight_ih);
        f("weight_hh", &mut self.weight_hh);
        if let (Some(bi), Some(bh)) = (&mut self.bias_ih, &mut self.bias_hh) {
            f("bias_ih", bi);
            f("bias_hh", bh);
        }
    }

    /// `[N, H]` zeros on `tape`.
    pub(crate) fn zeros<'t>(&self, tape: &'t Tape<E>, batch: usize) -> Var<'t, E> {
        tape.constant(Tensor::zeros(&[batch, self.hidden_size()]))
    }
}

/// Checks a step's input `x: [N, input]` and state `h: [N, H]` against a cell.
#[track_caller]
pub(crate) fn check_step<E: Float>(
    cell: &str,
    x: &Var<'_, E>,
    h: &Var<'_, E>,
    w: &CellWeights<'_, E>,
) {
    let (xs, hs) = (x.shape(), h.shape());
    let input = w.weight_ih.shape()[1];
    let hidden = w.hidden_size();
    if xs.len() != 2 || xs[1] != input || hs.as_slice() != [xs[0], hidden] {
        panic!(
            "{cell}: expected input [N, {input}] and state [N, {hidden}], got {xs:?} and {hs:?}"
        );
    }
}
