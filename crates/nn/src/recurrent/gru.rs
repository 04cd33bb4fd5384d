//! `GRU` (Cho et al. 2014), and its functional form [`gru_cell`].

use super::cell::{check_step, CellWeights};
use super::layer::{CellKind, Recurrent};
use tapegrad_autodiff::Var;
use tapegrad_tensor::Float;

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

/// The cell kind of [`GRU`]: [`gru_cell`] as a [`CellKind`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Gru;

impl<E: Float> CellKind<E> for Gru {
    const NAME: &'static str = "GRU";
    const GATES: usize = 3;
    type State<'t> = Var<'t, E>;

    fn zero_state<'t>(zeros: impl Fn() -> Var<'t, E>) -> Self::State<'t> {
        zeros()
    }

    #[track_caller]
    fn step<'t>(x: Var<'t, E>, state: Var<'t, E>, w: &CellWeights<'t, E>) -> Var<'t, E> {
        gru_cell(x, state, w)
    }

    fn hidden<'t>(state: Self::State<'t>) -> Var<'t, E> {
        state
    }
}

/// A GRU cell ([`gru_cell`]) with PyTorch's `GRUCell` parameters:
/// `"weight_ih"` `[3H, input]`, `"weight_hh"` `[3H, H]`, `"bias_ih"` and
/// `"bias_hh"` `[3H]` (gate blocks r, z, n), all initialised `U(-1/√H, 1/√H)`.
///
/// [`step`](super::RecurrentCell::step) runs one step; `forward` runs a sequence
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
pub type GRU<E = f32> = Recurrent<Gru, E>;
