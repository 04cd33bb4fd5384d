//! Per-sample gradients in one backward pass.
//!
//! For a batch of `B` independent examples with losses `ℓ_b`, the gradient
//! of each `ℓ_b` with respect to a parameter `W` is what the batch gradient
//! sums over `b`. For a linear layer `y = x Wᵀ` it is the outer product
//! `g_b ⊗ x_b` of example `b`'s output gradient and input (Goodfellow 2015);
//! for a weight broadcast across the batch (a convolution, a bias) it is
//! example `b`'s slice of the gradient before the broadcast is summed away.
//! [`per_sample_grads`] runs one ordinary backward pass from `Σ_b ℓ_b` and,
//! where a parameter meets the batch, keeps the examples apart instead of
//! summing them; from there the per-sample gradients flow down to the
//! parameter through the ops that only reshape it.
//!
//! It needs every op between the batch and the losses to keep examples
//! apart along axis 0 ([`Op::preserves_batch`](crate::Op::preserves_batch));
//! anything that mixes them (a batch norm in training mode, a sum over the
//! batch) is reported as [`PerSampleError::MixesBatch`], never silently
//! mixed.

use crate::ops::{Ctx, DynOp, Grads};
use crate::tape::{NodeId, NodeKind, Tape};
use crate::var::{check_tape, Var};
use smallvec::SmallVec;
use std::fmt;
use std::rc::Rc;
use tapegrad_tensor::{Float, Tensor};

/// Why per-sample gradients could not be computed in one pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PerSampleError {
    /// An op combines examples (or is not known to keep them apart).
    MixesBatch {
        /// The op's name.
        op: &'static str,
        /// Its node id.
        node: NodeId,
        /// Where it was created.
        location: String,
    },
    /// The losses are not a 1-D var of one loss per example.
    NotPerExample {
        /// The losses' shape.
        shape: Vec<usize>,
    },
}

impl fmt::Display for PerSampleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PerSampleError::MixesBatch { op, node, location } => write!(
                f,
                "per_sample_grads: `{op}` (node #{node}, created at {location}) may mix the examples of the batch (axis 0)"
            ),
            PerSampleError::NotPerExample { shape } => write!(
                f,
                "per_sample_grads: the losses must be a 1-D var with one loss per example, got shape {shape:?}"
            ),
        }
    }
}

impl std::error::Error for PerSampleError {}

/// How a node relates to the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Needs no gradient.
    Constant,
    /// A function of target parameter `k` alone (the parameter, or a view
    /// or transform of it): one value shared by every example.
    Pure(usize),
    /// Carries one example per index of axis 0.
    Batched,
}

/// The gradient of each example's loss in `losses` (shape `[B]`) with
/// respect to each of `params`, as tensors of shape `[B] ++ param.shape`,
/// from a single backward pass. The mean over `b` of these is the gradient
/// of the mean loss; their sum, the gradient of the summed loss.
///
/// ```
/// use tapegrad_autodiff::{per_sample_grads, Tape};
/// use tapegrad_tensor::Tensor;
///
/// let tape = Tape::<f64>::new();
/// let w = tape.var(Tensor::from_vec(vec![1.0, -1.0], &[1, 2]));
/// let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2]));
/// let losses = x.matmul(w.t()).square().reshape(&[2]); // ℓ_b = (x_b · w)²
/// let g = per_sample_grads(losses, &[w]).unwrap();
/// // ∂ℓ_b/∂w = 2 (x_b · w) x_b: example 0: 2·(-1)·[1, 2], example 1: 2·(-1)·[3, 4]
/// assert_eq!(g[0].shape(), &[2, 1, 2]);
/// assert_eq!(g[0].to_vec(), vec![-2.0, -4.0, -6.0, -8.0]);
/// ```
///
/// # Errors
/// [`PerSampleError::MixesBatch`] naming the first op (from the losses
/// back) that is not known to keep examples apart along axis 0, or
/// [`PerSampleError::NotPerExample`] if `losses` is not 1-D.
///
/// # Panics
/// If a var lives on another tape than `losses`.
#[track_caller]
pub fn per_sample_grads<'t, E: Float>(
    losses: Var<'t, E>,
    params: &[Var<'t, E>],
) -> Result<Vec<Tensor<E>>, PerSampleError> {
    let tape = losses.tape();
    check_tape(tape, params, "per_sample_grads (params)");
    let shape = losses.shape();
    if shape.len() != 1 {
        return Err(PerSampleError::NotPerExample {
            shape: shape.to_vec(),
        });
    }
    let batch = shape[0];
    let root = losses.id();
    let roles = roles(tape, root, params, batch);
    let mut grads: Vec<Option<Tensor<E>>> = vec![None; root + 1];
    let mut per_sample: Vec<Option<Tensor<E>>> = vec![None; root + 1];
    grads[root] = Some(Tensor::ones(&[batch]));
    for id in (0..=root).rev() {
        if let Some(ps) = per_sample[id].take() {
            transport(tape, id, ps, &roles, &mut per_sample);
            continue;
        }
        let Some(g) = grads[id].take() else { continue };
        step(tape, id, g, batch, &roles, &mut grads, &mut per_sample)?;
    }
    Ok(params
        .iter()
        .map(|p| {
            let mut full = vec![batch];
            full.extend_from_slice(&p.shape());
            per_sample[p.id()]
                .take()
                .unwrap_or_else(|| Tensor::zeros(&full))
        })
        .collect())
}

/// Each node's role for nodes `0..=root`. A broadcast of a parameter to a
/// shape led by the batch (a bias added to every example) is where the
/// parameter meets the batch: batched.
fn roles<E: Float>(tape: &Tape<E>, root: NodeId, params: &[Var<'_, E>], batch: usize) -> Vec<Role> {
    let nodes = tape.nodes.borrow();
    let mut roles = Vec::with_capacity(root + 1);
    for (id, n) in nodes[..=root].iter().enumerate() {
        let role = if let Some(k) = params.iter().position(|p| p.id() == id) {
            Role::Pure(k)
        } else if !n.requires_grad {
            Role::Constant
        } else if n.kind == NodeKind::Var {
            // A trainable leaf that is not a target: its gradient is not
            // wanted, but it may still carry batch data.
            Role::Batched
        } else {
            let mut pure = None;
            let mut mixed = false;
            for &p in &n.parents {
                match roles[p] {
                    // Data led by the batch (the inputs, a mask) makes
                    // whatever it meets per-example.
                    Role::Constant if nodes[p].value.shape().first() == Some(&batch) => {
                        mixed = true
                    }
                    Role::Constant => {}
                    Role::Pure(k) if pure.is_none_or(|q| q == k) => pure = Some(k),
                    _ => mixed = true,
                }
            }
            let op = n.op.as_ref().expect("an op node");
            let batching = n.parents.len() == 1
                && is_batching_broadcast(op.as_ref(), nodes[n.parents[0]].value.shape(), batch);
            match (pure, mixed) {
                (Some(k), false) if !batching => Role::Pure(k),
                _ => Role::Batched,
            }
        };
        roles.push(role);
    }
    roles
}

/// One batched node: checks its op keeps examples apart, runs its rule for
/// the batched inputs, and splits the gradient of each pure input per example.
fn step<E: Float>(
    tape: &Tape<E>,
    id: NodeId,
    g: Tensor<E>,
    batch: usize,
    roles: &[Role],
    grads: &mut [Option<Tensor<E>>],
    per_sample: &mut [Option<Tensor<E>>],
) -> Result<(), PerSampleError> {
    let (op, parents, location) = {
        let nodes = tape.nodes.borrow();
        let n = &nodes[id];
        (n.op.clone(), n.parents.clone(), n.location)
    };
    let Some(op) = op else { return Ok(()) };
    let x: SmallVec<[Tensor<E>; 3]> = parents.iter().map(|&p| tape.value_of(p)).collect();
    // Which inputs hold one example per row: batched nodes, and constants
    // led by the batch (the input data, a dropout mask, a detached shift).
    let batched: SmallVec<[bool; 3]> = parents
        .iter()
        .zip(&x)
        .map(|(&p, t)| match roles[p] {
            Role::Batched => true,
            Role::Constant => t.shape().first() == Some(&batch),
            Role::Pure(_) => false,
        })
        .collect();
    let shapes: SmallVec<[&[usize]; 3]> = x.iter().map(|t| t.shape()).collect();
    let mixes = || PerSampleError::MixesBatch {
        op: op.name(),
        node: id,
        location: location.to_string(),
    };
    let pure_inputs = parents.iter().any(|&p| matches!(roles[p], Role::Pure(_)));
    // An op whose only differentiable inputs are parameters, with a batched
    // output, adds the batch axis itself: it must be a broadcast.
    let batch_safe = op.preserves_batch(&shapes, &batched)
        || (pure_inputs && is_batching_broadcast(op.as_ref(), x[0].shape(), batch));
    if !batch_safe {
        return Err(mixes());
    }
    let out = tape.value_of(id);
    let needs: SmallVec<[bool; 3]> = parents.iter().map(|&p| roles[p] == Role::Batched).collect();
    if needs.iter().any(|&n| n) {
        let ctx = Ctx {
            x: &x,
            out: &out,
            g: &g,
            needs: &needs,
        };
        let mut result = op.backward_tensor(&ctx);
        for (k, &p) in parents.iter().enumerate() {
            if needs[k] {
                let gp = take_grad(&mut result, k, op.as_ref());
                grads[p] = Some(match grads[p].take() {
                    None => gp,
                    Some(prev) => prev.add(&gp),
                });
            }
        }
    }
    for (k, &p) in parents.iter().enumerate() {
        if let Role::Pure(_) = roles[p] {
            let ps = split(op.as_ref(), k, &x, &out, &g, &batched, batch);
            per_sample[p] = Some(match per_sample[p].take() {
                None => ps,
                Some(prev) => prev.add(&ps),
            });
        }
    }
    Ok(())
}

fn take_grad<E: Float>(result: &mut Grads<Tensor<E>>, k: usize, op: &dyn DynOp<E>) -> Tensor<E> {
    result.take(k).unwrap_or_else(|| {
        panic!(
            "backward of `{}` gave no gradient for input {k}, which needs one",
            op.name()
        )
    })
}

/// True if `op` broadcasts an input of shape `from` to a shape whose
/// leading axis is the batch of size `batch`, which `from` does not have.
fn is_batching_broadcast<E: Float>(op: &dyn DynOp<E>, from: &[usize], batch: usize) -> bool {
    let Some(b) = op.as_any().downcast_ref::<crate::ops::shape::BroadcastTo>() else {
        return false;
    };
    let to = &b.0;
    !to.is_empty() && to[0] == batch && (from.len() < to.len() || from[0] == 1)
}

/// Example `b`'s part of the gradient of pure input `k`, for every `b`:
/// shape `[B] ++ x[k].shape`.
fn split<E: Float>(
    op: &dyn DynOp<E>,
    k: usize,
    x: &[Tensor<E>],
    out: &Tensor<E>,
    g: &Tensor<E>,
    batched: &[bool],
    batch: usize,
) -> Tensor<E> {
    let xs = x[k].shape();
    let with_batch =
        |s: &[usize]| -> Vec<usize> { std::iter::once(batch).chain(s.iter().copied()).collect() };
    if let Some(b) = op.as_any().downcast_ref::<crate::ops::shape::BroadcastTo>() {
        // Example b's slice of g, summed over the other broadcast axes.
        let to = &b.0;
        let lead = to.len() - xs.len();
        let mut target: Vec<usize> = vec![batch];
        if lead == 0 {
            target.extend_from_slice(&xs[1..]);
        } else {
            target.extend(std::iter::repeat_n(1, lead - 1));
            target.extend_from_slice(xs);
        }
        return g.sum_to(&target).reshape(&with_batch(xs));
    }
    let addmm = op.as_any().is::<crate::ops::matmul::Addmm>();
    let bias_row = match xs {
        [n] | [1, n] => *n == g.shape()[1],
        _ => false,
    };
    if addmm && k == 0 && bias_row {
        // y = bias + a b with the bias a row ([n] or [1, n]): example b's
        // gradient of the bias is its row of g.
        return g.reshape(&with_batch(xs));
    }
    // The product's operands: (x, W) of a matmul, or of an addmm after its bias.
    let (mat_x, mat_w) = if addmm { (1, 2) } else { (0, 1) };
    let product = addmm || op.as_any().is::<crate::ops::matmul::Matmul>();
    if product && k == mat_w && x[mat_x].ndim() == 2 {
        // (A batched 2-D matmul keeps the batch only along the left
        // operand's rows: see `Matmul::preserves_batch`.)
        // y = x W (W pure, 2-D): ∂ℓ_b/∂W = x_bᵀ g_b, an outer product,
        // as a batched product with k = 1 (5x faster than a broadcasting
        // multiply). It is laid out like W's storage: when W is a transposed
        // view (`Linear` multiplies by `weightᵀ`), as `(g_bᵀ x_b)ᵀ`, so that
        // the per-sample gradient of the weight itself comes out contiguous.
        let (n_in, n_out) = (x[mat_x].shape()[1], g.shape()[1]);
        let (xb, gb) = (
            x[mat_x].reshape(&[batch, n_in, 1]),
            g.reshape(&[batch, n_out, 1]),
        );
        let w = &x[mat_w];
        let transposed = w.strides()[0] == 1 && w.shape()[1] > 1 && w.shape()[0] > 1;
        return if transposed {
            gb.matmul(&xb.t()).t()
        } else {
            xb.matmul(&gb.t())
        };
    }
    // Any other op that keeps examples apart: its rule on each example's rows.
    let rows: Vec<Tensor<E>> = (0..batch)
        .map(|b| {
            let row = |t: &Tensor<E>, is_batched: bool| {
                if is_batched {
                    t.narrow(0, b, 1)
                } else {
                    t.clone()
                }
            };
            let xb: SmallVec<[Tensor<E>; 3]> =
                x.iter().zip(batched).map(|(t, &bt)| row(t, bt)).collect();
            let needs: SmallVec<[bool; 3]> = (0..x.len()).map(|i| i == k).collect();
            let (out_b, g_b) = (out.narrow(0, b, 1), g.narrow(0, b, 1));
            let ctx = Ctx {
                x: &xb,
                out: &out_b,
                g: &g_b,
                needs: &needs,
            };
            take_grad(&mut op.backward_tensor(&ctx), k, op)
        })
        .collect();
    let refs: Vec<&Tensor<E>> = rows.iter().collect();
    Tensor::stack(&refs, 0)
}

/// Moves the per-sample gradients `ps` (`[B] ++ shape`) of pure node `id`
/// down to its pure inputs, example by example through the op's rule (one
/// batched call for reshapes and permutations).
fn transport<E: Float>(
    tape: &Tape<E>,
    id: NodeId,
    ps: Tensor<E>,
    roles: &[Role],
    per_sample: &mut [Option<Tensor<E>>],
) {
    let (op, parents) = {
        let nodes = tape.nodes.borrow();
        (nodes[id].op.clone(), nodes[id].parents.clone())
    };
    let Some(op) = op else {
        per_sample[id] = Some(ps); // a leaf: the answer
        return;
    };
    let batch = ps.shape()[0];
    let x: SmallVec<[Tensor<E>; 3]> = parents.iter().map(|&p| tape.value_of(p)).collect();
    for (k, &p) in parents.iter().enumerate() {
        if !matches!(roles[p], Role::Pure(_)) {
            continue;
        }
        let with_batch = |s: &[usize]| -> Vec<usize> {
            std::iter::once(batch).chain(s.iter().copied()).collect()
        };
        let moved = if op.as_any().is::<crate::ops::shape::Reshape>() {
            ps.reshape(&with_batch(x[k].shape()))
        } else if let Some(perm) = op.as_any().downcast_ref::<crate::ops::shape::Permute>() {
            let mut inverse = vec![0; perm.0.len() + 1];
            for (i, &q) in perm.0.iter().enumerate() {
                inverse[q + 1] = i + 1;
            }
            ps.permute(&tapegrad_tensor::shape_rules::as_axes(&inverse))
        } else {
            per_example_rule(op.clone(), k, &x, tape.value_of(id), &ps)
        };
        per_sample[p] = Some(match per_sample[p].take() {
            None => moved,
            Some(prev) => prev.add(&moved),
        });
    }
}

/// The rule of `op` for input `k`, applied to each example's gradient.
fn per_example_rule<E: Float>(
    op: Rc<dyn DynOp<E>>,
    k: usize,
    x: &[Tensor<E>],
    out: Tensor<E>,
    ps: &Tensor<E>,
) -> Tensor<E> {
    let batch = ps.shape()[0];
    let needs: SmallVec<[bool; 3]> = (0..x.len()).map(|i| i == k).collect();
    let rows: Vec<Tensor<E>> = (0..batch)
        .map(|b| {
            let g = ps.narrow(0, b, 1).squeeze(0);
            let ctx = Ctx {
                x,
                out: &out,
                g: &g,
                needs: &needs,
            };
            take_grad(&mut op.backward_tensor(&ctx), k, op.as_ref())
        })
        .collect();
    let refs: Vec<&Tensor<E>> = rows.iter().collect();
    Tensor::stack(&refs, 0)
}
