//! The reverse pass: one loop from the output back to the first node,
//! shared by first-order `backward()` (rules run on tensors) and higher-order
//! [`Tape::grad`] (rules run on vars and are recorded).

use crate::ops::{Ctx, DynOp, GradOps, Grads};
use crate::tape::{NodeId, Tape};
use crate::var::{check_tape, Var};
use smallvec::SmallVec;
use std::collections::HashMap;
use std::panic::Location;
use tapegrad_tensor::{Float, Tensor};

/// Gradients of a loss with respect to the nodes of one tape.
///
/// Look one up with [`wrt`](Gradients::wrt) or by indexing with the var.
pub struct Gradients<E: Float = f32> {
    tape_uid: u64,
    grads: Vec<Option<Tensor<E>>>,
    /// The tape's keyed leaves ([`Tape::keyed_var`]) when backward ran.
    keys: HashMap<u64, NodeId>,
}

impl<E: Float> Gradients<E> {
    /// The gradient with respect to `var`, if one flowed to it.
    ///
    /// # Panics
    /// If `var` belongs to another tape.
    #[track_caller]
    pub fn wrt(&self, var: Var<'_, E>) -> Option<&Tensor<E>> {
        if var.tape.uid() != self.tape_uid {
            panic!(
                "Gradients::wrt: {:?} is from another tape than these gradients",
                var
            );
        }
        self.grads.get(var.id).and_then(|g| g.as_ref())
    }

    /// The gradient with respect to `var`, or zeros of its shape if none flowed.
    pub fn wrt_or_zeros(&self, var: Var<'_, E>) -> Tensor<E> {
        self.wrt(var)
            .cloned()
            .unwrap_or_else(|| Tensor::zeros(&var.shape()))
    }

    /// The gradient of node `id` (for tools that walk the tape).
    pub fn by_id(&self, id: NodeId) -> Option<&Tensor<E>> {
        self.grads.get(id).and_then(|g| g.as_ref())
    }

    /// The gradient of the leaf registered under `key` with
    /// [`Tape::keyed_var`] (how a parameter that lives off the tape finds its
    /// gradient), if it was bound on this tape and the output depends on it.
    pub fn by_key(&self, key: u64) -> Option<&Tensor<E>> {
        self.keys.get(&key).and_then(|&id| self.by_id(id))
    }

    /// Number of nodes that received a gradient.
    pub fn count(&self) -> usize {
        self.grads.iter().filter(|g| g.is_some()).count()
    }

    /// Id of the tape these gradients belong to.
    pub fn tape_uid(&self) -> u64 {
        self.tape_uid
    }
}

impl<E: Float> std::fmt::Debug for Gradients<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Gradients(tape {}, {} of {} nodes)",
            self.tape_uid,
            self.count(),
            self.grads.len()
        )
    }
}

impl<'t, E: Float> std::ops::Index<Var<'t, E>> for Gradients<E> {
    type Output = Tensor<E>;
    #[track_caller]
    fn index(&self, var: Var<'t, E>) -> &Tensor<E> {
        self.wrt(var).unwrap_or_else(|| {
            panic!(
                "no gradient for {:?}: it does not require grad or does not affect the output",
                var
            )
        })
    }
}

/// How a walk treats values: as tensors or as recorded vars.
trait WalkMode<E: Float> {
    type V: GradOps<E>;
    fn node_value(&self, id: NodeId) -> Self::V;
    fn run_rule(&self, op: &dyn DynOp<E>, ctx: &Ctx<Self::V>) -> Grads<Self::V>;
    fn run_hooks(&self, id: NodeId, g: Self::V) -> Self::V;
}

struct TensorMode<'t, E: Float>(&'t Tape<E>);
struct VarMode<'t, E: Float>(&'t Tape<E>);

/// Applies the hooks of node `id` to a gradient tensor.
fn hooked_tensor<E: Float>(tape: &Tape<E>, id: NodeId, mut g: Tensor<E>) -> Tensor<E> {
    let hooks = tape.nodes.borrow()[id].hooks.clone();
    for hook in hooks {
        if let Some(replaced) = hook(&g) {
            g = replaced;
        }
    }
    g
}

impl<E: Float> WalkMode<E> for TensorMode<'_, E> {
    type V = Tensor<E>;
    fn node_value(&self, id: NodeId) -> Tensor<E> {
        self.0.value_of(id)
    }
    fn run_rule(&self, op: &dyn DynOp<E>, ctx: &Ctx<Tensor<E>>) -> Grads<Tensor<E>> {
        op.backward_tensor(ctx)
    }
    fn run_hooks(&self, id: NodeId, g: Tensor<E>) -> Tensor<E> {
        hooked_tensor(self.0, id, g)
    }
}

impl<'t, E: Float> WalkMode<E> for VarMode<'t, E> {
    type V = Var<'t, E>;
    fn node_value(&self, id: NodeId) -> Var<'t, E> {
        Var::new(self.0, id)
    }
    fn run_rule(&self, op: &dyn DynOp<E>, ctx: &Ctx<Var<'t, E>>) -> Grads<Var<'t, E>> {
        op.backward_var(ctx)
    }
    /// Hooks see the gradient's value; a replacement enters as a constant
    /// (so it is not differentiated further).
    fn run_hooks(&self, id: NodeId, g: Var<'t, E>) -> Var<'t, E> {
        if self.0.nodes.borrow()[id].hooks.is_empty() {
            return g;
        }
        let before = g.value();
        let after = hooked_tensor(self.0, id, before.clone());
        if after.shares_storage_with(&before) && after.layout() == before.layout() {
            g
        } else {
            self.0.constant(after)
        }
    }
}

/// Walks the tape backwards from `root`, seeding it with `seed` and sending
/// gradients only into nodes with `flows[id]`. Returns every node's gradient.
fn reverse_walk<E: Float, M: WalkMode<E>>(
    tape: &Tape<E>,
    mode: &M,
    root: NodeId,
    seed: M::V,
    flows: &[bool],
) -> Vec<Option<M::V>> {
    let mut grads: Vec<Option<M::V>> = vec![None; root + 1];
    grads[root] = Some(seed);
    for id in (0..=root).rev() {
        let Some(g) = grads[id].take() else { continue };
        let g = mode.run_hooks(id, g);
        let (op, parents) = {
            let nodes = tape.nodes.borrow();
            (
                nodes[id].op.clone(),
                SmallVec::<[NodeId; 3]>::from_slice(&nodes[id].parents),
            )
        };
        let needs: SmallVec<[bool; 3]> = parents.iter().map(|&p| flows[p]).collect();
        if let (Some(op), true) = (op, needs.iter().any(|&n| n)) {
            let x: SmallVec<[M::V; 3]> = parents.iter().map(|&p| mode.node_value(p)).collect();
            let out = mode.node_value(id);
            let ctx = Ctx {
                x: &x,
                out: &out,
                g: &g,
                needs: &needs,
            };
            let result = mode.run_rule(op.as_ref(), &ctx);
            for (k, &p) in parents.iter().enumerate() {
                if needs[k] {
                    let gp = checked_grad(tape, id, op.as_ref(), k, result.get(k).cloned(), &x[k]);
                    if tape.anomaly.get() {
                        crate::anomaly::check_backward(tape, id, &gp.value());
                    }
                    grads[p] = Some(match grads[p].take() {
                        None => gp,
                        Some(prev) => prev.add(&gp),
                    });
                }
            }
        }
        grads[id] = Some(g);
    }
    grads
}

/// A rule's gradient for input `k`, checked to exist and to match the input's shape.
fn checked_grad<E: Float, V: GradOps<E>>(
    tape: &Tape<E>,
    id: NodeId,
    op: &dyn DynOp<E>,
    k: usize,
    g: Option<V>,
    x: &V,
) -> V {
    let loc = tape.nodes.borrow()[id].location;
    let g = g.unwrap_or_else(|| {
        panic!("backward of `{}` (node #{id}, created at {loc}) gave no gradient for input {k}, which needs one", op.name())
    });
    let (gs, xs) = (g.shape(), x.shape());
    if gs != xs {
        panic!(
            "backward of `{}` (node #{id}, created at {loc}) returned a gradient of shape {:?} for input {k} of shape {:?}",
            op.name(),
            gs,
            xs
        );
    }
    g
}

impl<'t, E: Float> Var<'t, E> {
    /// Gradients of this scalar with respect to every node that needs one.
    ///
    /// Runs each backward rule on plain tensors: no graph is recorded.
    ///
    /// # Panics
    /// If this var has more than one element (use [`backward_with`](Self::backward_with)).
    #[track_caller]
    pub fn backward(self) -> Gradients<E> {
        let shape = self.shape();
        if shape.iter().product::<usize>() != 1 {
            panic!("backward: output has shape {:?}; backward() needs a single element (use backward_with(seed))", shape);
        }
        self.backward_with(Tensor::ones(&shape))
    }

    /// Gradients of `Σ seed ⊙ self` (a vector-Jacobian product with `seed`).
    ///
    /// # Panics
    /// If `seed`'s shape differs from this var's.
    #[track_caller]
    pub fn backward_with(self, seed: Tensor<E>) -> Gradients<E> {
        if seed.shape() != self.shape().as_slice() {
            panic!(
                "backward_with: seed of shape {:?} for an output of shape {:?}",
                seed.shape(),
                self.shape()
            );
        }
        let flows: Vec<bool> = {
            let nodes = self.tape.nodes.borrow();
            nodes[..=self.id].iter().map(|n| n.requires_grad).collect()
        };
        let grads = reverse_walk(self.tape, &TensorMode(self.tape), self.id, seed, &flows);
        Gradients {
            tape_uid: self.tape.uid(),
            grads,
            keys: self.tape.keyed.borrow().clone(),
        }
    }
}

impl<E: Float> Tape<E> {
    /// Gradients of the scalar `y` with respect to `xs`, as new vars on this
    /// tape that can be differentiated again (Hessian-vector products,
    /// gradient penalties). A var that `y` does not depend on gets zeros.
    ///
    /// ```
    /// use tapegrad_autodiff::Tape;
    /// use tapegrad_tensor::Tensor;
    ///
    /// let tape = Tape::<f64>::new();
    /// let x = tape.var(Tensor::scalar(2.0));
    /// let y = x * x * x;                 // y = x³
    /// let dy = tape.grad(y, &[x])[0];     // 3x² = 12
    /// let d2y = tape.grad(dy, &[x])[0];   // 6x = 12
    /// assert_eq!((dy.item(), d2y.item()), (12.0, 12.0));
    /// ```
    ///
    /// # Panics
    /// If `y` has more than one element, or `y` or one of `xs` lives on
    /// another tape.
    #[track_caller]
    pub fn grad<'t>(&'t self, y: Var<'t, E>, xs: &[Var<'t, E>]) -> Vec<Var<'t, E>> {
        check_tape(self, &[y], "grad (output y)");
        check_tape(self, xs, "grad (inputs xs)");
        let shape = y.shape();
        if shape.iter().product::<usize>() != 1 {
            panic!(
                "grad: output has shape {:?}; grad() needs a single element",
                shape
            );
        }
        let seed = self.leaf(
            Tensor::ones(&shape),
            crate::tape::NodeKind::Constant,
            Location::caller(),
        );
        self.grad_with(y, xs, seed)
    }

    /// Like [`grad`](Self::grad) for any `y`, seeded with `seed`: the
    /// gradients of `Σ seed ⊙ y` (a vector-Jacobian product).
    ///
    /// # Panics
    /// If `seed`'s shape differs from `y`'s, or `y`, `seed` or one of `xs`
    /// lives on another tape.
    #[track_caller]
    pub fn grad_with<'t>(
        &'t self,
        y: Var<'t, E>,
        xs: &[Var<'t, E>],
        seed: Var<'t, E>,
    ) -> Vec<Var<'t, E>> {
        check_tape(self, &[y], "grad_with (output y)");
        check_tape(self, &[seed], "grad_with (seed)");
        check_tape(self, xs, "grad_with (inputs xs)");
        let (ys, ss) = (y.shape(), seed.shape());
        if ys != ss {
            panic!("grad_with: seed of shape {ss:?} for an output of shape {ys:?}");
        }
        let flows = self.depends_on(y.id, xs);
        let grads = reverse_walk(self, &VarMode(self), y.id, seed, &flows);
        xs.iter()
            .map(|x| {
                grads
                    .get(x.id)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| self.constant(Tensor::zeros(&x.shape())))
            })
            .collect()
    }

    /// For nodes `0..=root`: whether the node is one of `xs` or depends on one.
    fn depends_on(&self, root: NodeId, xs: &[Var<'_, E>]) -> Vec<bool> {
        let mut dep = vec![false; root + 1];
        for x in xs {
            if x.id <= root {
                dep[x.id] = true;
            }
        }
        let nodes = self.nodes.borrow();
        for id in 0..=root {
            if !dep[id] && nodes[id].parents.iter().any(|&p| dep[p]) {
                dep[id] = true;
            }
        }
        dep
    }
}
