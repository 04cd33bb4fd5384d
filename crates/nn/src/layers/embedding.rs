//! `Embedding`: a table of vectors looked up by index.

use crate::init;
use crate::module::Module;
use crate::param::Param;
use rand::Rng;
use tapegrad_autodiff::{Tape, Var};
use tapegrad_tensor::{Float, Tensor};

/// A table `weight` of `num_embeddings` vectors of size `embedding_dim`,
/// initialised from `N(0, 1)` as PyTorch's `nn.Embedding`.
///
/// Looking up ids `i₁ .. iₙ` gives the rows `weight[iₖ]`
/// (`weight.index_select(0, ids)`); the gradient of the table adds each
/// row's incoming gradient at its id (repeated ids accumulate), and no
/// gradient flows to the ids.
///
/// Two ways in:
/// - [`forward_ids`](Embedding::forward_ids) takes the ids as `&[usize]`
///   and gives `[n, dim]`;
/// - [`Module::forward`] takes a var of any shape `[..]` holding whole
///   numbers (ids stored as floats, e.g. a column of a data batch) and
///   gives `[.., dim]`, so an embedding can open a [`Sequential`](crate::Sequential).
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_nn::{layers::Embedding, Module};
/// use tapegrad_tensor::Tensor;
///
/// let table = Tensor::<f32>::from_vec(vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.5], &[3, 2]);
/// let emb = Embedding::from_tensor(table);
/// let tape = Tape::new();
/// assert_eq!(emb.forward_ids(&tape, &[2, 0]).value().to_vec(), vec![2.0, 2.5, 0.0, 0.5]);
/// let ids = tape.constant(Tensor::from_vec(vec![1.0, 1.0], &[2, 1]));
/// assert_eq!(emb.forward(ids).shape().as_slice(), &[2, 1, 2]);
/// assert_eq!(emb.describe(), "Embedding(3, 2)");
/// ```
#[derive(Clone, Debug)]
pub struct Embedding<E: Float = f32> {
    weight: Param<E>,
}

impl<E: Float> Embedding<E> {
    /// `num_embeddings` vectors of size `embedding_dim`, drawn from `N(0, 1)`.
    pub fn new(num_embeddings: usize, embedding_dim: usize, rng: &mut impl Rng) -> Self {
        Self::from_tensor(init::normal(
            &[num_embeddings, embedding_dim],
            0.0,
            1.0,
            rng,
        ))
    }

    /// An embedding with the given table `[num_embeddings, embedding_dim]`.
    ///
    /// # Panics
    /// If `weight` is not 2-D.
    #[track_caller]
    pub fn from_tensor(weight: Tensor<E>) -> Self {
        if weight.ndim() != 2 {
            panic!(
                "Embedding: the table must be [num_embeddings, embedding_dim], got {:?}",
                weight.shape()
            );
        }
        Embedding {
            weight: Param::new(weight),
        }
    }

    /// Number of rows in the table.
    pub fn num_embeddings(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Size of each vector.
    pub fn embedding_dim(&self) -> usize {
        self.weight.shape()[1]
    }

    /// The table `[num_embeddings, embedding_dim]`.
    pub fn weight(&self) -> &Param<E> {
        &self.weight
    }

    /// The rows at `ids`, shape `[ids.len(), embedding_dim]`.
    ///
    /// # Panics
    /// If an id is not below `num_embeddings`.
    #[track_caller]
    pub fn forward_ids<'t>(&self, tape: &'t Tape<E>, ids: &[usize]) -> Var<'t, E> {
        let n = self.num_embeddings();
        if let Some(bad) = ids.iter().find(|&&i| i >= n) {
            panic!("Embedding: id {bad} is out of range for {n} embeddings");
        }
        self.weight.bind(tape).index_select(0, ids)
    }
}

impl<E: Float> Module<E> for Embedding<E> {
    /// Looks up the ids held (as whole numbers) in `x`: `[..] -> [.., dim]`.
    ///
    /// # Panics
    /// If a value of `x` is not a whole number in `0..num_embeddings`.
    #[track_caller]
    fn forward<'t>(&self, x: Var<'t, E>) -> Var<'t, E> {
        let n = self.num_embeddings();
        let ids: Vec<usize> = x
            .value()
            .to_f64_vec()
            .into_iter()
            .map(|v| {
                if v.fract() != 0.0 || !(0.0..n as f64).contains(&v) {
                    panic!("Embedding: {v} is not an id in 0..{n}");
                }
                v as usize
            })
            .collect();
        let mut shape = x.shape().to_vec();
        shape.push(self.embedding_dim());
        self.forward_ids(x.tape(), &ids).reshape(&shape)
    }

    fn visit_params(&self, f: &mut dyn FnMut(&str, &Param<E>)) {
        f("weight", &self.weight);
    }

    fn visit_params_mut(&mut self, f: &mut dyn FnMut(&str, &mut Param<E>)) {
        f("weight", &mut self.weight);
    }

    fn describe(&self) -> String {
        format!(
            "Embedding({}, {})",
            self.num_embeddings(),
            self.embedding_dim()
        )
    }
}
