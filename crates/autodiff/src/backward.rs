//! The reverse pass: one loop from the output back to the first node,
//! shared by first-order `backward()` (rules run on tensors) and higher-order
//! [`Tape::grad`] (rules run on vars and are recorded).

use crate::ops::{Ctx, DynOp, GradOps, Grads};
use crate::tape::{Hook, NodeId, Tape};
use crate::var::{check_tape, Var};
use smallvec::SmallVec;
use std::collections::HashMap;
use std::panic::Location;
use tapegrad_tensor::{Float, Tensor};

/// Gradients of a loss with respect to the nodes of one tape.
///
/// Look one up with [`wrt`](Gradients::wrt) or by indexing with the var.
/// [`Var::backward`] keeps the gradients of trainable leaves and of vars
/// marked [`retain_grad`](Var::retain_grad); [`Var::backward_retain_all`]
/// keeps every node's (what the inspection tools show).
pub struct Gradients<E: Float = f32> {
    tape_uid: u64,
    grads: Vec<Option<Tensor<E>>>,
    /// Nodes a gradient reached, kept or not.
    reached: Vec<bool>,
    /// Whether every reached node's gradient was kept.
    all_kept: bool,
    /// The tape's keyed leaves ([`Tape::keyed_var`]) when backward ran.
    keys: HashMap<u64, NodeId>,
}

impl<E: Float> Gradients<E> {
    /// The gradient with respect to `var`, if one flowed to it (`None` if
    /// `var` does not require grad or does not affect the output).
    ///
    /// # Panics
    /// If `var` belongs to another tape, or a gradient reached it but was
    /// freed by the lean backward (the message says how to keep it).
    #[track_caller]
    pub fn wrt(&self, var: Var<'_, E>) -> Option<&Tensor<E>> {
        if var.tape.uid() != self.tape_uid {
            panic!(
                "Gradients::wrt: {:?} is from another tape than these gradients",
                var
            );
        }
        let g = self.grads.get(var.id).and_then(|g| g.as_ref());
        if g.is_none() && self.was_freed(var.id) {
            panic!(
                "the gradient of {var:?} was freed during backward: backward() keeps only the \
                 gradients of trainable leaves; call .retain_grad() on the var before backward, \
                 or use backward_retain_all()"
            );
        }
        g
    }

    /// True if a gradient reached node `id` and was freed (not kept).
    pub fn was_freed(&self, id: NodeId) -> bool {
        self.reached.get(id).copied().unwrap_or(false)
            && self.grads.get(id).is_some_and(|g| g.is_none())
    }

    /// True if every node's gradient was kept ([`Var::backward_retain_all`]).
    pub fn has_all(&self) -> bool {
        self.all_kept
    }

    /// The gradient with respect to `var`, or zeros of its shape if none flowed.
    pub fn wrt_or_zeros(&self, var: Var<'_, E>) -> Tensor<E> {
        self.wrt(var)
            .cloned()
            .unwrap_or_else(|| Tensor::zeros(&var.shape()))
    }

    /// The gradient of node `id` (for tools that walk the tape), if it was
    /// kept.
    pub fn by_id(&self, id: NodeId) -> Option<&Tensor<E>> {
        self.grads.get(id).and_then(|g| g.as_ref())
    }

    /// The gradient of the leaf registered under `key` with
    /// [`Tape::keyed_var`] (how a parameter that lives off the tape finds its
    /// gradient), if it was bound on this tape and the output depends on it.
    pub fn by_key(&self, key: u64) -> Option<&Tensor<E>> {
        self.keys.get(&key).and_then(|&id| self.by_id(id))
    }

    /// Number of nodes whose gradient is held.
    pub fn count(&self) -> usize {
        self.grads.iter().filter(|g| g.is_some()).count()
    }

    /// Bytes of gradient storage held (each buffer counted once).
    pub fn bytes(&self) -> usize {
        let mut seen = std::collections::HashSet::new();
        self.grads
            .iter()
            .flatten()
            .filter(|g| seen.insert(g.storage().as_ptr() as usize))
            .map(|g| g.storage_bytes())
            .sum()
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
    /// # Panics
    /// If no gradient flowed to `var`, or it was freed (see [`Gradients::wrt`]).
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
    let hooks: Vec<Hook<E>> = {
        let nodes = tape.nodes.borrow();
        if nodes[id].hooks().is_empty() {
            return g;
        }
        nodes[id].hooks().to_vec()
    };
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
        if self.0.nodes.borrow()[id].hooks().is_empty() {
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

/// What a walk keeps and frees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct WalkPolicy {
    /// Keep the gradient of every node (else only trainable leaves and
    /// vars marked `retain_grad`).
    pub keep_all: bool,
    /// Release each node's value once no remaining rule needs it.
    pub release_values: bool,
}

/// Walks the tape backwards from `root`, seeding it with `seed` and sending
/// gradients only into nodes with `flows[id]`. Returns each node's
/// gradient (where `policy` keeps it) and which nodes a gradient reached.
fn reverse_walk<E: Float, M: WalkMode<E>>(
    tape: &Tape<E>,
    mode: &M,
    root: NodeId,
    seed: M::V,
    flows: &[bool],
    policy: WalkPolicy,
) -> (Vec<Option<M::V>>, Vec<bool>) {
    let mut grads: Vec<Option<M::V>> = vec![None; root + 1];
    let mut reached = vec![false; root + 1];
    grads[root] = Some(seed);
    // Checkpointed blocks to drop again once the walk has passed below them.
    let block_starts: Vec<(NodeId, usize)> = tape
        .segments
        .borrow()
        .iter()
        .enumerate()
        .filter(|(_, s)| s.start <= root)
        .map(|(i, s)| (s.start, i))
        .collect();
    for id in (0..=root).rev() {
        if let Some(g) = grads[id].take() {
            reached[id] = true;
            let g = mode.run_hooks(id, g);
            run_node_rule(tape, mode, id, &g, flows, &mut grads);
            if policy.keep_all || keeps_grad(tape, id) {
                grads[id] = Some(g);
            }
        }
        if policy.release_values {
            crate::memory::release_value(tape, id);
        }
        for &(_, s) in block_starts.iter().filter(|(start, _)| *start == id) {
            crate::memory::release_segment(tape, s);
        }
    }
    (grads, reached)
}

/// True if node `id`'s gradient outlives the walk by default: trainable
/// leaves and vars marked `retain_grad`.
fn keeps_grad<E: Float>(tape: &Tape<E>, id: NodeId) -> bool {
    let nodes = tape.nodes.borrow();
    nodes[id].kind == crate::tape::NodeKind::Var || nodes[id].retain_grad()
}

/// Runs node `id`'s backward rule on its incoming gradient `g` and adds
/// the results into its parents' gradients.
fn run_node_rule<E: Float, M: WalkMode<E>>(
    tape: &Tape<E>,
    mode: &M,
    id: NodeId,
    g: &M::V,
    flows: &[bool],
    grads: &mut [Option<M::V>],
) {
    let (op, parents) = {
        let nodes = tape.nodes.borrow();
        (
            nodes[id].op.clone(),
            SmallVec::<[NodeId; 3]>::from_slice(&nodes[id].parents),
        )
    };
    let needs: SmallVec<[bool; 3]> = parents.iter().map(|&p| flows[p]).collect();
    let Some(op) = op else { return };
    if !needs.iter().any(|&n| n) {
        return;
    }
    let x: SmallVec<[M::V; 3]> = parents.iter().map(|&p| mode.node_value(p)).collect();
    let out = mode.node_value(id);
    let ctx = Ctx {
        x: &x,
        out: &out,
        g,
        needs: &needs,
    };
    let result = mode.run_rule(op.as_ref(), &ctx);
    for (k, &p) in parents.iter().enumerate() {
        if needs[k] {
            let gp = checked_grad(tape, id, op.as_ref(), k, result.get(k).cloned(), &x[k]);
            if tape.anomaly.get() {
                tape.check_backward(id, &gp.value());
            }
            grads[p] = Some(match grads[p].take() {
                None => gp,
                Some(prev) => prev.add(&gp),
            });
        }
    }
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
    let loc = || tape.nodes.borrow()[id].location;
    let g = g.unwrap_or_else(|| {
        panic!("backward of `{}` (node #{id}, created at {}) gave no gradient for input {k}, which needs one", op.name(), loc())
    });
    if !g.same_shape(x) {
        let (gs, xs, loc) = (g.shape(), x.shape(), loc());
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
    /// Gradients of this scalar with respect to every trainable leaf it
    /// depends on (and every var marked [`retain_grad`](Self::retain_grad)).
    ///
    /// Runs each backward rule on plain tensors: no graph is recorded. The
    /// gradient of every other node is freed as soon as its rule has used
    /// it, so the walk holds no more gradients than it must; use
    /// [`backward_retain_all`](Self::backward_retain_all) to keep them all.
    ///
    /// # Panics
    /// If this var has more than one element (use [`backward_with`](Self::backward_with)).
    #[track_caller]
    pub fn backward(self) -> Gradients<E> {
        let seed = self.unit_seed("backward");
        self.backward_policy(seed, LEAN)
    }

    /// Like [`backward`](Self::backward), keeping the gradient of every
    /// node: what [`Tape::summary_with`], [`Tape::to_dot_with`] and
    /// [`Tape::check_gradients`] show.
    ///
    /// # Panics
    /// As [`backward`](Self::backward).
    #[track_caller]
    pub fn backward_retain_all(self) -> Gradients<E> {
        let seed = self.unit_seed("backward_retain_all");
        self.backward_policy(
            seed,
            WalkPolicy {
                keep_all: true,
                release_values: false,
            },
        )
    }

    /// Like [`backward`](Self::backward), also releasing each node's value
    /// as soon as no remaining backward rule needs it: for a training loop
    /// that does not look at the tape afterwards, the step's memory falls as
    /// backward proceeds. Reading a released value afterwards
    /// (`var.value()`, a new op on it) panics and says so; the tape's
    /// summary and DOT export mark such nodes as released.
    ///
    /// # Panics
    /// As [`backward`](Self::backward).
    #[track_caller]
    pub fn backward_consuming(self) -> Gradients<E> {
        let seed = self.unit_seed("backward_consuming");
        self.backward_policy(
            seed,
            WalkPolicy {
                keep_all: false,
                release_values: true,
            },
        )
    }

    /// Gradients of `Σ seed ⊙ self` (a vector-Jacobian product with
    /// `seed`), kept as by [`backward`](Self::backward).
    ///
    /// # Panics
    /// If `seed`'s shape differs from this var's.
    #[track_caller]
    pub fn backward_with(self, seed: Tensor<E>) -> Gradients<E> {
        self.backward_policy(seed, LEAN)
    }

    /// A one-element output's seed `1`.
    #[track_caller]
    fn unit_seed(self, op: &str) -> Tensor<E> {
        let shape = self.shape();
        if shape.iter().product::<usize>() != 1 {
            panic!("{op}: output has shape {:?}; {op}() needs a single element (use backward_with(seed))", shape);
        }
        Tensor::ones(&shape)
    }

    #[track_caller]
    pub(crate) fn backward_policy(self, seed: Tensor<E>, policy: WalkPolicy) -> Gradients<E> {
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
        let (grads, reached) = reverse_walk(
            self.tape,
            &TensorMode(self.tape),
            self.id,
            seed,
            &flows,
            policy,
        );
        Gradients {
            tape_uid: self.tape.uid(),
            grads,
            reached,
            all_kept: policy.keep_all,
            keys: self.tape.keyed.borrow().clone(),
        }
    }
}

/// The default policy of `backward`: keep leaves' and retained gradients.
const LEAN: WalkPolicy = WalkPolicy {
    keep_all: false,
    release_values: false,
};

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
        let all = WalkPolicy {
            keep_all: true,
            release_values: false,
        };
        let (grads, _) = reverse_walk(self, &VarMode(self), y.id, seed, &flows, all);
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
