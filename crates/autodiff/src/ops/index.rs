//! Indexing ops and their adjoint pairs: index_select / index_add,
//! gather / scatter_add, im2col / col2im. Each is the other's gradient.

use super::{ConvParams, Ctx, GradOps, Grads, JvpCtx, Op};
use crate::var::Var;
use std::rc::Rc;
use tapegrad_tensor::{normalize_axis, Float, IndexTensor, Tensor};

/// `x[.., indices, ..]` along `axis`. Gradient: rows of `g` added back at `indices`.
pub struct IndexSelect {
    /// The axis.
    pub axis: usize,
    /// Selected positions (may repeat).
    pub indices: Rc<[usize]>,
}
/// Zeros of length `size` along `axis` with the rows of `x` added at `indices`.
/// Gradient: `index_select` of `g`.
pub struct IndexAddZeros {
    /// The axis.
    pub axis: usize,
    /// Target positions.
    pub indices: Rc<[usize]>,
    /// Output length along `axis`.
    pub size: usize,
}
/// `torch.gather`. Gradient: `g` scattered (added) back at `index`.
pub struct Gather {
    /// The axis.
    pub axis: usize,
    /// Index tensor (values are positions along `axis`).
    pub index: IndexTensor,
}
/// `x` plus `src` scattered (added) at `index` along `axis`.
/// Gradients: `g` for `x`, `gather(g)` for `src`.
pub struct ScatterAdd {
    /// The axis.
    pub axis: usize,
    /// Index tensor, shaped like `src`.
    pub index: IndexTensor,
}
/// Image patches to columns. Gradient: `col2im` of `g`.
pub struct Im2col {
    /// Window geometry.
    pub p: ConvParams,
}
/// Columns back to an image, summing overlaps. Gradient: `im2col` of `g`.
pub struct Col2im {
    /// Window geometry.
    pub p: ConvParams,
    /// Image height and width.
    pub hw: (usize, usize),
}

impl<E: Float> Op<E> for IndexSelect {
    fn name(&self) -> &'static str {
        "index_select"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        x[0].index_select(self.axis as isize, &self.indices)
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        let size = c.x[0].shape()[self.axis];
        [Some(c.g.index_add_zeros(self.axis, &self.indices, size))].into()
    }
    fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
        Some(c.tangent(0)?.index_select(self.axis, &self.indices))
    }
    fn preserves_batch(&self, _: &[&[usize]], _: &[bool]) -> bool {
        self.axis != 0
    }
}

impl<E: Float> Op<E> for IndexAddZeros {
    fn name(&self) -> &'static str {
        "index_add"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        index_add_zeros_tensor(x[0], self.axis, &self.indices, self.size)
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        [Some(c.g.index_select(self.axis, &self.indices))].into()
    }
    fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
        Some(
            c.tangent(0)?
                .index_add_zeros(self.axis, &self.indices, self.size),
        )
    }
    fn preserves_batch(&self, _: &[&[usize]], _: &[bool]) -> bool {
        self.axis != 0
    }
}

impl<E: Float> Op<E> for Gather {
    fn name(&self) -> &'static str {
        "gather"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        x[0].gather(self.axis as isize, &self.index)
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        let shape = c.x[0].shape();
        [Some(c.g.scatter_add_zeros(self.axis, &self.index, &shape))].into()
    }
    fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
        Some(c.tangent(0)?.gather(self.axis, &self.index))
    }
    fn preserves_batch(&self, shapes: &[&[usize]], _: &[bool]) -> bool {
        self.axis != 0 && self.index.shape().first() == shapes[0].first()
    }
}

impl<E: Float> Op<E> for ScatterAdd {
    fn name(&self) -> &'static str {
        "scatter_add"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        x[0].scatter_add(self.axis as isize, &self.index, x[1])
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        // `src` may be larger than `index` in any dim; only its leading
        // index-shaped block is read, so the rest of its gradient is zero.
        let g_src = c.needs(1).then(|| {
            let mut gs = c.g.gather(self.axis, &self.index);
            for (d, (&s, &i)) in c.x[1].shape().iter().zip(self.index.shape()).enumerate() {
                if s > i {
                    gs = gs.pad_axis(d, 0, s - i);
                }
            }
            gs
        });
        [c.needs(0).then(|| c.g.clone()), g_src].into()
    }
    fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
        // Linear in both inputs: ṫ = ẋ + scatter_add(0, index, ṡ).
        let shape = c.out.shape();
        let from_src = c
            .tangent(1)
            .map(|ts| ts.scatter_add_zeros(self.axis, &self.index, &shape));
        match (c.tangent(0).cloned(), from_src) {
            (Some(tx), Some(ts)) => Some(tx.add(&ts)),
            (tx, ts) => tx.or(ts),
        }
    }
    fn preserves_batch(&self, shapes: &[&[usize]], _: &[bool]) -> bool {
        self.axis != 0 && self.index.shape().first() == shapes[0].first()
    }
}

impl<E: Float> Op<E> for Im2col {
    fn name(&self) -> &'static str {
        "im2col"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        let p = &self.p;
        x[0].im2col(p.kernel, p.stride, p.padding, p.dilation)
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        let s = c.x[0].shape();
        [Some(c.g.col2im(&self.p, (s[2], s[3])))].into()
    }
    fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
        Some(c.tangent(0)?.im2col(&self.p))
    }
    fn preserves_batch(&self, _: &[&[usize]], _: &[bool]) -> bool {
        true
    }
}

impl<E: Float> Op<E> for Col2im {
    fn name(&self) -> &'static str {
        "col2im"
    }
    fn forward(&self, x: &[&Tensor<E>]) -> Tensor<E> {
        let p = &self.p;
        x[0].col2im(self.hw, p.kernel, p.stride, p.padding, p.dilation)
    }
    fn backward<V: GradOps<E>>(&self, c: &Ctx<V>) -> Grads<V> {
        [Some(c.g.im2col(&self.p))].into()
    }
    fn jvp<V: GradOps<E>>(&self, c: &JvpCtx<V>) -> Option<V> {
        Some(c.tangent(0)?.col2im(&self.p, self.hw))
    }
    fn preserves_batch(&self, _: &[&[usize]], _: &[bool]) -> bool {
        true
    }
}

/// Zeros of `shape` with `src` added at `indices` along `axis` (tensor side).
pub(crate) fn index_add_zeros_tensor<E: Float>(
    src: &Tensor<E>,
    axis: usize,
    indices: &[usize],
    size: usize,
) -> Tensor<E> {
    let mut shape: Vec<usize> = src.shape().to_vec();
    shape[axis] = size;
    Tensor::zeros(&shape).index_add(axis as isize, indices, src)
}

impl<'t, E: Float> Var<'t, E> {
    /// Picks positions `indices` along `axis` (repeats allowed), like
    /// `torch.index_select`; an embedding lookup is `weight.index_select(0, ids)`.
    #[track_caller]
    pub fn index_select(self, axis: isize, indices: &[usize]) -> Var<'t, E> {
        let axis = normalize_axis(axis, self.ndim(), "index_select");
        let op = IndexSelect {
            axis,
            indices: indices.into(),
        };
        Var::apply(op, &[self])
    }

    /// Zeros of length `size` along `axis`, with this var's rows added at `indices`.
    #[track_caller]
    pub fn index_add_zeros(self, axis: isize, indices: &[usize], size: usize) -> Var<'t, E> {
        let axis = normalize_axis(axis, self.ndim(), "index_add");
        let op = IndexAddZeros {
            axis,
            indices: indices.into(),
            size,
        };
        Var::apply(op, &[self])
    }

    /// `torch.gather` along `axis`: `out[.., j, ..] = x[.., index[.., j, ..], ..]`.
    #[track_caller]
    pub fn gather(self, axis: isize, index: &IndexTensor) -> Var<'t, E> {
        let axis_n = normalize_axis(axis, self.ndim(), "gather");
        let op = Gather {
            axis: axis_n,
            index: index.clone(),
        };
        Var::apply(op, &[self])
    }

    /// `x` with `src` added at `index` along `axis` (`torch.scatter_add`).
    #[track_caller]
    pub fn scatter_add(self, axis: isize, index: &IndexTensor, src: Var<'t, E>) -> Var<'t, E> {
        self.same_tape(src, "scatter_add");
        let axis_n = normalize_axis(axis, self.ndim(), "scatter_add");
        let op = ScatterAdd {
            axis: axis_n,
            index: index.clone(),
        };
        Var::apply(op, &[self, src])
    }

    /// Unfolds `[N, C, H, W]` into `[N, C·kh·kw, L]` columns (`F.unfold`).
    #[track_caller]
    pub fn im2col(self, p: ConvParams) -> Var<'t, E> {
        Var::apply(Im2col { p }, &[self])
    }

    /// Folds `[N, C·kh·kw, L]` columns into `[N, C, H, W]`, summing overlaps (`F.fold`).
    #[track_caller]
    pub fn col2im(self, p: ConvParams, hw: (usize, usize)) -> Var<'t, E> {
        Var::apply(Col2im { p, hw }, &[self])
    }
}
