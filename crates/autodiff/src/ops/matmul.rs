//! Matrix product, 2-D and batched: `g_lhs = g rhsᵀ`, `g_rhs = lhsᵀ g`;
//! and `addmm`, a bias plus a 2-D product in one node (a linear layer).

use super::{Ctx, GradOps, Grads, JvpCtx, Op};
use crate::var::Var;
use tapegrad_tensor::shape_rules::matmul_shapes;
use tapegrad_tensor::{Float, Tensor};

/// `[.., m, k] x [.., k, n] -> [.., m, n]` with equal batch dimensions
/// (broadcast batch dims and 1-D operands are made explicit first).
pub struct Matmul;

/// The transpose of the last two dimensions, in rule vocabulary.
fn t<E: Float, V: GradOps<E>>(v: &V) -> V {
    let nd = v.shape().len();
    let mut perm: Vec<usize> = (0..nd).collect();
    perm.swap(nd - 2, nd - 1);
    v.permute(&perm)
}

/// True if the last two dimensions of `x` are stored column-major (the
/// transpose of a contiguous matrix).
fn stored_transposed<E: Float>(x: &Tensor<E>) -> bool {
    let (shape, strides) = (x.shape(), x.strides());
    let nd = shape.len();
    nd >= 2
        && shape[nd - 2] > 1
        && shape[nd - 1] > 1
        && strides[nd - 2] == 1
        && strides[nd - 1] != 1
}

/// The gradients of `lhs rhs` for the incoming `g`, for the operands that
/// need one: `g rhsᵀ` and `lhsᵀ g`.
///
/// Each gradient is computed in its operand's memory order: for an
/// operand stored transposed (`Linear` multiplies by `weightᵀ`, a view), as
/// the transpose of the product in the other order (`lhsᵀ g = (gᵀ lhs)ᵀ`),
/// so the gradient that reaches the stored tensor is contiguous and the
/// optimiser's pass over it is a plain loop, not a strided one.
fn product_grads<E: Float, V: GradOps<E>>(
    lhs: &V,
    rhs: &V,
    g: &V,
    lhs_needs: bool,
    rhs_needs: bool,
) -> (Option<V>, Option<V>) {
    let g_lhs = lhs_needs.then(|| {
        if stored_transposed(&lhs.value()) {
            t(&rhs.matmul(&t(g)))
        } else {
            g.matmul(&t(rhs))
        }
    });
    let g_rhs = rhs_needs.then(|| {
        if stored_transposed(&rhs.value()) {
            t(&t(g).matmul(lhs))
        } else {
            t(lhs).matmul(g)
        }
    });
    (g_lhs, g_rhs)
}

impl<E: Float> Op<E> for Matmul {
    fn name(&self) -> &'static str {
        "matmul"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        x[0].matmul(x[1])
    }
    /// Each gradient is computed in its operand's memory order: for an
    /// operand stored transposed (`Linear` multiplies by `weightᵀ`, a view),
    /// as the transpose of the product in the other order (`lhsᵀ g =
    /// (gᵀ lhs)ᵀ`), so the gradient that reaches the stored tensor is
    /// contiguous and the optimiser's pass over it is a plain loop, not a
    /// strided one.
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        let (g_lhs, g_rhs) = product_grads(&c.x[0], &c.x[1], c.g, c.needs(0), c.needs(1));
        [g_lhs, g_rhs].into()
    }
    fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
        // d(A B) = dA B + A dB
        let (lhs, rhs) = (&c.x[0], &c.x[1]);
        let da = c.tangent(0).map(|ta| ta.matmul(rhs));
        let db = c.tangent(1).map(|tb| lhs.matmul(tb));
        match (da, db) {
            (Some(da), Some(db)) => Some(da.add(&db)),
            (da, db) => da.or(db),
        }
    }
    /// Rows of a batched 2-D left operand, or leading batch dimensions.
    fn preserves_batch(&self, shapes: &[&[usize]], batched: &[bool]) -> bool {
        if shapes[0].len() >= 3 {
            return true; // axis 0 is a batch dimension of both operands
        }
        // 2-D: the batch is the rows of the left operand; a batched right
        // operand would be contracted over its examples.
        !batched[1]
    }
}

impl<'t, E: Float> Var<'t, E> {
    /// Matrix product with NumPy `matmul` semantics (batched, broadcast batch
    /// dimensions, 1-D operands as row / column vectors).
    ///
    /// # Panics
    /// If the inner dimensions differ or the batch dimensions do not broadcast:
    /// `matmul: [2, 3] x [4, 5]: inner dimensions 3 and 4 differ`.
    #[track_caller]
    pub fn matmul(self, rhs: Var<'t, E>) -> Var<'t, E> {
        self.same_tape(rhs, "matmul");
        let (sa, sb) = (self.shape(), rhs.shape());
        let shapes = matmul_shapes(&sa, &sb);
        let a = if shapes.lhs_vector {
            self.unsqueeze(0)
        } else {
            self
        };
        let b = if shapes.rhs_vector {
            rhs.unsqueeze(1)
        } else {
            rhs
        };
        let (a, b) = (a.broadcast_to(&shapes.lhs()), b.broadcast_to(&shapes.rhs()));
        let mut out = Var::apply(Matmul, &[a, b]);
        if shapes.rhs_vector {
            out = out.squeeze(-1);
        }
        if shapes.lhs_vector {
            out = out.squeeze(if shapes.rhs_vector { -1 } else { -2 });
        }
        out
    }
}

/// `bias + a b` for 2-D `a` `[m, k]` and `b` `[k, n]`, `bias` broadcasting
/// to `[m, n]` (PyTorch's `addmm`): a linear layer's `x Wᵀ + b` as one node,
/// whose forward adds the bias in the product's own pass
/// ([`Tensor::addmm`]). Gradients: `g_bias = Σ g` over the broadcast axes,
/// `g_a = g bᵀ`, `g_b = aᵀ g`.
pub struct Addmm;

impl<E: Float> Op<E> for Addmm {
    fn name(&self) -> &'static str {
        "addmm"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        x[0].addmm(x[1], x[2])
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        let (bias, g) = (&c.x[0], c.g);
        let g_bias = c.needs(0).then(|| g.sum_to(&bias.shape()));
        let (g_a, g_b) = product_grads(&c.x[1], &c.x[2], g, c.needs(1), c.needs(2));
        [g_bias, g_a, g_b].into()
    }
    fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
        // d(bias + A B) = dbias + dA B + A dB
        let (a, b) = (&c.x[1], &c.x[2]);
        let shape = c.out.shape();
        let terms = [
            c.tangent(0).map(|tb| tb.broadcast_to(&shape)),
            c.tangent(1).map(|ta| ta.matmul(b)),
            c.tangent(2).map(|tb| a.matmul(tb)),
        ];
        terms.into_iter().flatten().reduce(|acc, t| acc.add(&t))
    }
    /// The batch is the rows of `a`; the bias and `b` are shared by every
    /// row, so a batched bias or `b` would mix examples (or is not known not to).
    fn preserves_batch(&self, _: &[&[usize]], batched: &[bool]) -> bool {
        !batched[0] && !batched[2]
    }
}

impl<'t, E: Float> Var<'t, E> {
    /// `self + a b`: the 2-D product of `a` `[m, k]` and `b` `[k, n]` plus
    /// `self` broadcast to `[m, n]`, in one node and one pass over the
    /// output (PyTorch's `torch.addmm(self, a, b)`). A linear layer is
    /// `bias.addmm(x, weight.t())`.
    ///
    /// ```
    /// use tapegrad_autodiff::Tape;
    /// use tapegrad_tensor::Tensor;
    ///
    /// let tape = Tape::<f64>::new();
    /// let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0], &[1, 2]));
    /// let w = tape.var(Tensor::from_vec(vec![3.0, 4.0], &[1, 2]));
    /// let b = tape.var(Tensor::from_vec(vec![0.5], &[1]));
    /// let y = b.addmm(x, w.t()); // 1·3 + 2·4 + 0.5
    /// assert_eq!(y.value().to_vec(), vec![11.5]);
    /// let grads = y.sum_all().backward();
    /// assert_eq!(grads[w].to_vec(), vec![1.0, 2.0]); // ∂y/∂w = x
    /// assert_eq!(grads[b].to_vec(), vec![1.0]);
    /// ```
    ///
    /// # Panics
    /// If `a` or `b` is not 2-D, the inner dimensions differ, `self` does
    /// not broadcast to `[m, n]`, or the vars live on different tapes:
    /// `addmm: input [3] does not broadcast to the product's shape [2, 4]`.
    #[track_caller]
    pub fn addmm(self, a: Var<'t, E>, b: Var<'t, E>) -> Var<'t, E> {
        self.same_tape(a, "addmm");
        self.same_tape(b, "addmm");
        tapegrad_tensor::shape_rules::addmm_shape(&self.shape(), &a.shape(), &b.shape());
        Var::apply(Addmm, &[self, a, b])
    }
}
