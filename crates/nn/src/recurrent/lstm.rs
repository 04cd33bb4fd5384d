//! `LSTM` (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et
//! al. 2000), and its functional form [`lstm_cell`].

use super::cell::{check_step, CellWeights};
use super::layer::{CellKind, Recurrent};
use tapegrad_autodiff::Var;
use tapegrad_tensor::{Float, Tensor};

/// The state of an LSTM: hidden `h` and cell `c`, both `[N, H]`.
pub struct LstmState<'t, E: Float> {
    /// Hidden state (the output).
    pub h: Var<'t, E>,
    /// Cell state (the memory).
    pub c: Var<'t, E>,
}

impl<E: Float> Clone for LstmState<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E: Float> Copy for LstmState<'_, E> {}

/// One LSTM step, as PyTorch's `LSTMCell` (gate blocks in the order
/// input, forget, cell, output):
///
/// ```text
/// [a_i, a_f, a_g, a_o] = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh
/// i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
/// c' = f ⊙ c + i ⊙ g
/// h' = o ⊙ tanh(c')
/// ```
///
/// with `W_ih: [4H, input]`, `W_hh: [4H, H]`. Along the cell state the
/// gradient is multiplied by `f` each step (`∂c'/∂c = diag(f)` plus paths
/// through `h`), so a forget gate near 1 carries it over long distances.
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::recurrent::{lstm_cell, CellWeights, LstmState};
/// use tapegrad_tensor::Tensor;
///
/// let tape = Tape::<f64>::new();
/// // H = 1, zero weights: every gate is σ(0) = 0.5 and g = tanh(0) = 0.
/// let w = CellWeights::new(tape.var(Tensor::zeros(&[4, 1])), tape.var(Tensor::zeros(&[4, 1])));
/// let state = LstmState {
///     h: tape.constant(Tensor::zeros(&[1, 1])),
///     c: tape.constant(Tensor::from_vec(vec![2.0], &[1, 1])),
/// };
/// let next = lstm_cell(tape.constant(Tensor::ones(&[1, 1])), state, &w);
/// assert_eq!(next.c.value().to_vec(), vec![1.0]); // 0.5 · 2 + 0.5 · 0
/// assert_eq!(next.h.value().to_vec(), vec![0.5 * 1f64.tanh()]);
/// ```
///
/// # Panics
/// If `x` is not `[N, input]` or the state not `[N, H]`.
#[track_caller]
pub fn lstm_cell<'t, E: Float>(
    x: Var<'t, E>,
    state: LstmState<'t, E>,
    w: &CellWeights<'t, E>,
) -> LstmState<'t, E> {
    check_step("lstm_cell", &x, &state.h, w);
    check_step("lstm_cell", &x, &state.c, w);
    let hidden = w.hidden_size();
    let gates = w.input_part(x) + w.hidden_part(state.h);
    let block = |k: usize| gates.narrow(1, k * hidden, hidden);
    let (i, f) = (block(0).sigmoid(), block(1).sigmoid());
    let (g, o) = (block(2).tanh(), block(3).sigmoid());
    let c = f * state.c + i * g;
    LstmState { h: o * c.tanh(), c }
}

/// The cell kind of [`LSTM`]: [`lstm_cell`] as a [`CellKind`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Lstm;

impl<E: Float> CellKind<E> for Lstm {
    const NAME: &'static str = "LSTM";
    const GATES: usize = 4;
    type State<'t> = LstmState<'t, E>;

    fn zero_state<'t>(zeros: impl Fn() -> Var<'t, E>) -> Self::State<'t> {
        LstmState {
            h: zeros(),
            c: zeros(),
        }
    }

    #[track_caller]
    fn step<'t>(
        x: Var<'t, E>,
        state: LstmState<'t, E>,
        w: &CellWeights<'t, E>,
    ) -> LstmState<'t, E> {
        lstm_cell(x, state, w)
    }

    fn hidden<'t>(state: Self::State<'t>) -> Var<'t, E> {
        state.h
    }
}

/// An LSTM cell ([`lstm_cell`]) with PyTorch's `LSTMCell` parameters:
/// `"weight_ih"` `[4H, input]`, `"weight_hh"` `[4H, H]`, `"bias_ih"` and
/// `"bias_hh"` `[4H]` (gate blocks i, f, g, o), all initialised
/// `U(-1/√H, 1/√H)`.
///
/// With that initialisation the forget gate starts near `σ(0) = 1/2`, so
/// at first the memory halves every step; [`set_forget_bias`](LSTM::set_forget_bias)
/// (e.g. 1, Gers et al. 2000; Jozefowicz et al. 2015) starts it closer to 1.
///
/// [`step`](super::RecurrentCell::step) runs one step; `forward` runs a sequence
/// `[T, N, input]` from a zero state and returns every `h`, `[T, N, H]`.
///
/// ```
/// use rand::SeedableRng;
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::recurrent::{RecurrentCell, LSTM};
/// use tapegrad_nn::Module;
/// use tapegrad_tensor::Tensor;
///
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// let mut lstm = LSTM::new(3, 4, &mut rng);
/// lstm.set_forget_bias(1.0);
/// let tape = Tape::<f32>::new();
/// let state = lstm.zero_state(&tape, 2);
/// let next = lstm.step(tape.constant(Tensor::ones(&[2, 3])), state);
/// assert_eq!(next.c.shape().as_slice(), &[2, 4]);
/// assert_eq!(lstm.num_parameters(), 4 * 4 * (3 + 4) + 2 * 4 * 4);
/// ```
pub type LSTM<E = f32> = Recurrent<Lstm, E>;

impl<E: Float> LSTM<E> {
    /// Sets the forget gate's total bias to `value`: its block of `bias_ih`
    /// to `value` and of `bias_hh` to 0, so the gate starts at about
    /// `σ(value)`.
    ///
    /// # Panics
    /// If the cell has no biases.
    #[track_caller]
    pub fn set_forget_bias(&mut self, value: f64) {
        let params = self.params_mut();
        let h = params.hidden_size();
        let (Some(bi), Some(bh)) = (&mut params.bias_ih, &mut params.bias_hh) else {
            panic!("LSTM::set_forget_bias: the cell has no biases");
        };
        for (bias, v) in [(bi, value), (bh, 0.0)] {
            let mut data = bias.value().to_vec();
            data[h..2 * h].fill(E::from_f64(v));
            bias.set(Tensor::from_vec(data, &[4 * h]));
        }
    }
}
