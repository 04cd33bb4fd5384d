//! The tape: an append-only list of recorded nodes. Index order is
//! topological order, so every walk over it is a loop, never recursion.

use crate::nonfinite::{describe_bad, Anomaly, AnomalyInput, Phase};
use crate::ops::DynOp;
use crate::var::Var;
use smallvec::SmallVec;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::panic::Location;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use tapegrad_tensor::{Float, Tensor};

/// Index of a node on its tape.
pub type NodeId = usize;

/// A gradient hook: sees the gradient flowing into a node during backward and
/// may return a replacement.
pub type Hook<E> = Rc<dyn Fn(&Tensor<E>) -> Option<Tensor<E>>>;

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A trainable leaf made by [`Tape::var`].
    Var,
    /// A constant leaf made by [`Tape::constant`] (or a detached value).
    Constant,
    /// The output of an op.
    Op,
}

/// One recorded value and how it was made.
pub(crate) struct Node<E: Float> {
    pub value: Tensor<E>,
    pub op: Option<Rc<dyn DynOp<E>>>,
    pub parents: SmallVec<[NodeId; 3]>,
    pub kind: NodeKind,
    pub requires_grad: bool,
    pub location: &'static Location<'static>,
    /// What few nodes have (a label, hooks, a tangent, `retain_grad`), kept
    /// out of line so the node every op pushes stays small: a 10,000-op
    /// chain's nodes are then half the memory to move and to walk.
    pub extras: Option<Box<NodeExtras<E>>>,
    /// Whether `value` holds the value (see [`ValueState`]).
    pub state: ValueState,
    /// The checkpointed block this node belongs to, if any.
    pub segment: Option<usize>,
}

/// The rarely set parts of a [`Node`].
pub(crate) struct NodeExtras<E: Float> {
    pub label: Option<Rc<str>>,
    pub hooks: Vec<Hook<E>>,
    /// The forward-mode tangent of this value, if forward mode is on and
    /// it depends on a seeded var ([`Tape::seed_tangent`]).
    pub tangent: Option<crate::forward::Tangent<E>>,
    /// Keep this node's gradient after backward ([`Var::retain_grad`]).
    pub retain_grad: bool,
}

impl<E: Float> Default for NodeExtras<E> {
    fn default() -> Self {
        NodeExtras {
            label: None,
            hooks: Vec::new(),
            tangent: None,
            retain_grad: false,
        }
    }
}

impl<E: Float> Node<E> {
    /// The label, if one was set.
    pub fn label(&self) -> Option<&Rc<str>> {
        self.extras.as_ref()?.label.as_ref()
    }

    /// The gradient hooks, in the order they were added.
    pub fn hooks(&self) -> &[Hook<E>] {
        self.extras.as_ref().map_or(&[], |x| &x.hooks)
    }

    /// The forward-mode tangent, if any.
    pub fn tangent(&self) -> Option<&crate::forward::Tangent<E>> {
        self.extras.as_ref()?.tangent.as_ref()
    }

    /// Whether the gradient is kept after backward.
    pub fn retain_grad(&self) -> bool {
        self.extras.as_ref().is_some_and(|x| x.retain_grad)
    }

    /// The extras, made on first use.
    pub fn extras_mut(&mut self) -> &mut NodeExtras<E> {
        self.extras.get_or_insert_with(Box::default)
    }
}

/// Whether a node's value is held. A value that is not held is replaced by
/// a placeholder of the right shape (one zero, broadcast), so shapes stay
/// readable, and reading the value goes through [`Tape::value_of`], which
/// recomputes or refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValueState {
    /// The value is held.
    Held,
    /// Dropped inside a checkpointed block; recomputed from the block's
    /// inputs when needed ([`checkpoint`](crate::checkpoint)).
    Recomputable,
    /// Dropped for good by [`Var::backward_consuming`].
    Released,
}

/// A checkpointed block: nodes `start..end` (exclusive of its output `end`).
pub(crate) struct Segment {
    pub start: NodeId,
    pub end: NodeId,
    /// True while the block's values are recomputed and held.
    pub held: bool,
}

static NEXT_TAPE_UID: AtomicU64 = AtomicU64::new(1);

/// Records operations on [`Var`]s for reverse-mode differentiation.
///
/// A tape lives for one step (one forward and backward pass); dropping it
/// frees every recorded value, and [`Tape::clear`] empties it for reuse
/// while keeping its allocation.
///
/// ```
/// use tapegrad_autodiff::Tape;
/// use tapegrad_tensor::Tensor;
///
/// let tape = Tape::<f64>::new();
/// let x = tape.var(Tensor::scalar(3.0));
/// let y = x * x + x * 2.0; // y = x² + 2x
/// let grads = y.backward();
/// assert_eq!(grads[x].item(), 8.0); // dy/dx = 2x + 2
/// ```
pub struct Tape<E: Float = f32> {
    uid: Cell<u64>,
    pub(crate) nodes: RefCell<Vec<Node<E>>>,
    pub(crate) anomaly: Cell<bool>,
    /// Whether ops compute forward-mode tangents as they are recorded.
    pub(crate) forward: Cell<crate::forward::Mode>,
    /// Leaves registered under a caller's key ([`Tape::keyed_var`]).
    pub(crate) keyed: RefCell<HashMap<u64, NodeId>>,
    /// Checkpointed blocks, in recording order.
    pub(crate) segments: RefCell<Vec<Segment>>,
}

impl<E: Float> Default for Tape<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Float> Tape<E> {
    /// An empty tape.
    pub fn new() -> Self {
        Tape {
            uid: Cell::new(NEXT_TAPE_UID.fetch_add(1, Ordering::Relaxed)),
            nodes: RefCell::new(Vec::new()),
            anomaly: Cell::new(false),
            forward: Cell::new(crate::forward::Mode::Off),
            keyed: RefCell::new(HashMap::new()),
            segments: RefCell::new(Vec::new()),
        }
    }

    /// A unique id of this tape's current step (gradients and parameter
    /// bindings remember it). [`clear`](Self::clear) draws a new one.
    pub fn uid(&self) -> u64 {
        self.uid.get()
    }

    /// A trainable leaf: gradients flow to it.
    #[track_caller]
    pub fn var(&self, value: Tensor<E>) -> Var<'_, E> {
        self.leaf(value, NodeKind::Var, Location::caller())
    }

    /// The trainable leaf registered under `key` on this tape: made from
    /// `value()` the first time, the same var every time after.
    ///
    /// This is how a value that lives off the tape (a model parameter, see
    /// `tapegrad_nn::Param`) is bound: one leaf per key per tape, so its
    /// gradient is complete however often it is used, and binding it on
    /// another tape (evaluating the model elsewhere mid-step) changes
    /// nothing here. Find its gradient with [`Gradients::by_key`](crate::Gradients::by_key).
    ///
    /// ```
    /// use tapegrad_autodiff::Tape;
    /// use tapegrad_tensor::Tensor;
    ///
    /// let tape = Tape::<f64>::new();
    /// let w = tape.keyed_var(7, || Tensor::scalar(3.0));
    /// let again = tape.keyed_var(7, || unreachable!());
    /// assert_eq!(w.id(), again.id());
    /// let grads = (w * again).backward(); // w², d/dw = 2w
    /// assert_eq!(grads.by_key(7).unwrap().item(), 6.0);
    /// ```
    #[track_caller]
    pub fn keyed_var(&self, key: u64, value: impl FnOnce() -> Tensor<E>) -> Var<'_, E> {
        if let Some(v) = self.keyed(key) {
            return v;
        }
        let v = self.leaf(value(), NodeKind::Var, Location::caller());
        self.keyed.borrow_mut().insert(key, v.id());
        v
    }

    /// The leaf registered under `key` by [`keyed_var`](Self::keyed_var), if any.
    pub fn keyed(&self, key: u64) -> Option<Var<'_, E>> {
        let id = *self.keyed.borrow().get(&key)?;
        Some(Var::new(self, id))
    }

    /// A constant leaf: no gradient flows to it.
    #[track_caller]
    pub fn constant(&self, value: Tensor<E>) -> Var<'_, E> {
        self.leaf(value, NodeKind::Constant, Location::caller())
    }

    pub(crate) fn leaf(
        &self,
        value: Tensor<E>,
        kind: NodeKind,
        location: &'static Location<'static>,
    ) -> Var<'_, E> {
        let node = Node {
            value,
            op: None,
            parents: SmallVec::new(),
            kind,
            requires_grad: kind == NodeKind::Var,
            location,
            extras: None,
            state: ValueState::Held,
            segment: None,
        };
        self.push(node)
    }

    /// Records the output `value` of `op` applied to `parents`.
    pub(crate) fn record(
        &self,
        op: Rc<dyn DynOp<E>>,
        parents: &[NodeId],
        value: Tensor<E>,
        location: &'static Location<'static>,
    ) -> Var<'_, E> {
        let requires_grad = {
            let nodes = self.nodes.borrow();
            parents.iter().any(|&p| nodes[p].requires_grad)
        };
        let node = Node {
            value,
            op: Some(op),
            parents: parents.into(),
            kind: NodeKind::Op,
            requires_grad,
            location,
            extras: None,
            state: ValueState::Held,
            segment: None,
        };
        if self.anomaly.get() {
            self.check_forward(&node);
        }
        let var = self.push(node);
        if self.forward.get() != crate::forward::Mode::Off {
            crate::forward::propagate(self, var.id());
        }
        var
    }

    fn push(&self, node: Node<E>) -> Var<'_, E> {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(node);
        Var::new(self, nodes.len() - 1)
    }

    /// The var of node `id` (for tools that keep node ids).
    ///
    /// # Panics
    /// If there is no such node.
    #[track_caller]
    pub fn var_at(&self, id: NodeId) -> Var<'_, E> {
        if id >= self.len() {
            panic!(
                "var_at: node #{id} does not exist on a tape of {} nodes",
                self.len()
            );
        }
        Var::new(self, id)
    }

    /// Number of recorded nodes.
    pub fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// True if nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of tensor storage the tape's nodes keep alive (each shared
    /// buffer counted once; values dropped by checkpointing or
    /// `backward_consuming` count nothing).
    pub fn bytes(&self) -> usize {
        let nodes = self.nodes.borrow();
        let mut seen = std::collections::HashSet::new();
        nodes
            .iter()
            .filter(|n| n.state == ValueState::Held)
            .filter(|n| seen.insert(n.value.storage().as_ptr() as usize))
            .map(|n| n.value.storage_bytes())
            .sum()
    }

    /// Forgets every node, keeping the allocation for the next step.
    ///
    /// Takes `&mut self`, so no [`Var`] of the old step can outlive it.
    pub fn clear(&mut self) {
        self.nodes.get_mut().clear();
        self.keyed.get_mut().clear();
        self.segments.get_mut().clear();
        self.forward.set(crate::forward::Mode::Off);
        self.uid.set(NEXT_TAPE_UID.fetch_add(1, Ordering::Relaxed));
    }

    /// The value of node `id`, recomputed first if it was dropped inside a
    /// checkpointed block.
    ///
    /// # Panics
    /// If [`Var::backward_consuming`] released it.
    #[track_caller]
    pub(crate) fn value_of(&self, id: NodeId) -> Tensor<E> {
        self.ensure_held(id);
        self.nodes.borrow()[id].value.clone()
    }

    /// Makes sure node `id` holds its value: recomputes its checkpointed
    /// block if the value was dropped there.
    ///
    /// # Panics
    /// If the value was released for good by [`Var::backward_consuming`].
    #[track_caller]
    pub(crate) fn ensure_held(&self, id: NodeId) {
        let (state, segment) = {
            let n = &self.nodes.borrow()[id];
            (n.state, n.segment)
        };
        match state {
            ValueState::Held => {}
            ValueState::Recomputable => crate::memory::recompute_segment(
                self,
                segment.expect("recomputable nodes are in a block"),
            ),
            ValueState::Released => {
                let nodes = self.nodes.borrow();
                let n = &nodes[id];
                panic!(
                    "the value of node #{id} (`{}`, created at {}) was released by backward_consuming(); \
                     use backward() to keep the tape's values for inspection or reuse",
                    crate::inspect::op_name(n.op.as_ref().map(|o| o.name()), n.kind),
                    n.location
                );
            }
        }
    }

    /// Whether node `id` needs a gradient.
    pub(crate) fn requires_grad(&self, id: NodeId) -> bool {
        self.nodes.borrow()[id].requires_grad
    }
}

/// The NaN/Inf checks of anomaly mode, as values are recorded and as
/// backward rules produce gradients (the analysis afterwards is in
/// `anomaly.rs`).
impl<E: Float> Tape<E> {
    /// An [`Anomaly`] at recorded node `id`.
    pub(crate) fn anomaly_at(&self, id: NodeId, phase: Phase, detail: String) -> Anomaly {
        let nodes = self.nodes.borrow();
        self.describe_node(&nodes[id], id, phase, detail)
    }

    /// An [`Anomaly`] for `node` (id `id`, maybe not yet pushed on this tape).
    fn describe_node(&self, node: &Node<E>, id: NodeId, phase: Phase, detail: String) -> Anomaly {
        let nodes = self.nodes.try_borrow();
        let inputs = node
            .parents
            .iter()
            .map(|&p| {
                let parent = nodes.as_ref().ok().map(|n| &n[p]);
                AnomalyInput {
                    node: p,
                    op: parent.map_or("?", |n| node_name(n.op.as_ref().map(|o| o.name()), n.kind)),
                    label: parent.and_then(|n| n.label().map(|l| l.to_string())),
                }
            })
            .collect();
        Anomaly {
            phase,
            op: node_name(node.op.as_ref().map(|o| o.name()), node.kind),
            node: id,
            label: node.label().map(|l| l.to_string()),
            location: node.location,
            inputs,
            detail,
        }
    }

    /// Panics with an [`Anomaly`] if an op's output, about to be recorded
    /// as node `self.len()`, holds NaN or Inf.
    fn check_forward(&self, node: &Node<E>) {
        if let Some(detail) = describe_bad(&node.value) {
            panic!(
                "{}",
                self.describe_node(node, self.len(), Phase::Forward, detail)
            );
        }
    }

    /// Panics with an [`Anomaly`] if a gradient that the backward rule of
    /// node `id` produced holds NaN or Inf.
    pub(crate) fn check_backward(&self, id: NodeId, g: &Tensor<E>) {
        if let Some(detail) = describe_bad(g) {
            panic!("{}", self.anomaly_at(id, Phase::Backward, detail));
        }
    }
}

/// The name a node goes by: its op's, or `var` / `constant` for leaves.
pub(crate) fn node_name(op: Option<&'static str>, kind: NodeKind) -> &'static str {
    match (op, kind) {
        (Some(name), _) => name,
        (None, NodeKind::Var) => "var",
        (None, _) => "constant",
    }
}
