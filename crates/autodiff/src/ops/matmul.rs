//! Matrix product, 2-D and batched: `g_lhs = g rhsᵀ`, `g_rhs = lhsᵀ g`.

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
        let (lhs, rhs, g) = (&c.x[0], &c.x[1], c.g);
        let g_lhs = c.needs(0).then(|| {
            if stored_transposed(&lhs.value()) {
                t(&rhs.matmul(&t(g)))
            } else {
                g.matmul(&t(rhs))
            }
        });
        let g_rhs = c.needs(1).then(|| {
            if stored_transposed(&rhs.value()) {
                t(&t(g).matmul(lhs))
            } else {
                t(lhs).matmul(g)
            }
        });
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
