//! The loop under [`Param::update_elementwise`](crate::Param::update_elementwise):
//! `(p, s) ← f(p, g, s)` element by element, in place or from a shared value
//! into a fresh buffer, in one pass over memory, and split over rayon's
//! threads in fixed chunks when the parameter is large.
//!
//! The split follows the tensor crate's elementwise ops
//! ([`PARALLEL_THRESHOLD`], [`CHUNK`]): each element's update depends on that
//! element alone, so the result is the same bits however it is split.

use rayon::prelude::*;
use std::mem::MaybeUninit;
use tapegrad_tensor::tuning::{CHUNK, PARALLEL_THRESHOLD};
use tapegrad_tensor::Float;

/// Panics unless `grad` and every state buffer have `n` elements (the
/// caller's message is better; this keeps the loops sound for any input).
fn check_lengths<E, const N: usize>(n: usize, grad: &[E], state: &[&mut [E]; N]) {
    assert!(
        grad.len() == n && state.iter().all(|s| s.len() == n),
        "elementwise update: lengths differ"
    );
}

/// Whether an update of `n` elements is split over threads.
fn parallel(n: usize) -> bool {
    n >= PARALLEL_THRESHOLD && rayon::current_num_threads() > 1
}

/// The state buffers cut into consecutive `CHUNK`-element pieces: entry `c`
/// holds piece `c` of every buffer (each buffer has `n` elements).
fn state_chunks<E, const N: usize>(state: [&mut [E]; N], n: usize) -> Vec<[&mut [E]; N]> {
    let mut pieces = state.map(|s| s.chunks_mut(CHUNK));
    (0..n.div_ceil(CHUNK))
        .map(|_| {
            pieces
                .each_mut()
                .map(|it| it.next().expect("every buffer has n elements"))
        })
        .collect()
}

/// Element `i` of every state buffer.
fn state_at<E: Float, const N: usize>(state: &[&mut [E]; N], i: usize) -> [E; N] {
    std::array::from_fn(|k| state[k][i])
}

/// Writes `s` back as element `i` of every state buffer.
fn store_state<E: Float, const N: usize>(state: &mut [&mut [E]; N], i: usize, s: [E; N]) {
    for (buffer, v) in state.iter_mut().zip(s) {
        buffer[i] = v;
    }
}

/// `(values[i], state[..][i]) ← f(values[i], grad[i], state[..][i])` for one
/// chunk (all slices of the same length).
fn chunk_in_place<E: Float, const N: usize>(
    values: &mut [E],
    grad: &[E],
    mut state: [&mut [E]; N],
    f: &impl Fn(E, E, [E; N]) -> (E, [E; N]),
) {
    let n = values.len();
    // Every slice cut to exactly `n`, so the loop has no bounds checks left
    // and vectorises.
    let (values, grad) = (&mut values[..n], &grad[..n]);
    for s in state.iter_mut() {
        let whole = std::mem::take(s);
        *s = &mut whole[..n];
    }
    for i in 0..n {
        let (p, s) = f(values[i], grad[i], state_at(&state, i));
        values[i] = p;
        store_state(&mut state, i, s);
    }
}

/// As [`chunk_in_place`], reading the old values from `src` and writing the
/// new ones to `dst`, every element of it.
fn chunk_into<E: Float, const N: usize>(
    dst: &mut [MaybeUninit<E>],
    src: &[E],
    grad: &[E],
    mut state: [&mut [E]; N],
    f: &impl Fn(E, E, [E; N]) -> (E, [E; N]),
) {
    let n = dst.len();
    let (dst, src, grad) = (&mut dst[..n], &src[..n], &grad[..n]);
    for s in state.iter_mut() {
        let whole = std::mem::take(s);
        *s = &mut whole[..n];
    }
    for i in 0..n {
        let (p, s) = f(src[i], grad[i], state_at(&state, i));
        dst[i].write(p);
        store_state(&mut state, i, s);
    }
}

/// Updates `values` in place.
///
/// # Panics
/// If `grad` or a state buffer does not have `values.len()` elements.
pub(crate) fn update_in_place<E: Float, const N: usize>(
    values: &mut [E],
    grad: &[E],
    state: [&mut [E]; N],
    f: impl Fn(E, E, [E; N]) -> (E, [E; N]) + Sync,
) {
    let n = values.len();
    check_lengths(n, grad, &state);
    if !parallel(n) {
        return chunk_in_place(values, grad, state, &f);
    }
    let chunks: Vec<_> = values
        .chunks_mut(CHUNK)
        .zip(grad.chunks(CHUNK))
        .zip(state_chunks(state, n))
        .collect();
    chunks
        .into_par_iter()
        .for_each(|((v, g), s)| chunk_in_place(v, g, s, &f));
}

/// The updated values of `src` in a fresh buffer (the state buffers updated
/// in place), without copying `src` first.
///
/// # Panics
/// If `grad` or a state buffer does not have `src.len()` elements.
pub(crate) fn update_into<E: Float, const N: usize>(
    src: &[E],
    grad: &[E],
    state: [&mut [E]; N],
    f: impl Fn(E, E, [E; N]) -> (E, [E; N]) + Sync,
) -> Vec<E> {
    let n = src.len();
    check_lengths(n, grad, &state);
    let mut fresh = Vec::with_capacity(n);
    let dst = &mut fresh.spare_capacity_mut()[..n];
    if parallel(n) {
        let chunks: Vec<_> = dst
            .chunks_mut(CHUNK)
            .zip(src.chunks(CHUNK))
            .zip(grad.chunks(CHUNK))
            .zip(state_chunks(state, n))
            .collect();
        chunks
            .into_par_iter()
            .for_each(|(((d, v), g), s)| chunk_into(d, v, g, s, &f));
    } else {
        chunk_into(dst, src, grad, state, &f);
    }
    // SAFETY: `fresh` has capacity of at least `n` and its first `n` slots
    // are `dst`. Whichever branch ran, the pieces given to `chunk_into`
    // cover `dst` exactly once: one whole slice, or its `chunks_mut` zipped
    // with chunks of `src`, `grad` and the state buffers, which all have `n`
    // elements (checked above), so the zip ends with `dst`'s last chunk.
    // and `chunk_into` writes every element of its piece: its loop runs
    // over the piece's whole length with no early exit. If `f` panics, the
    // panic leaves this function before `set_len`, and `fresh` is dropped
    // with length 0 (reading nothing).
    unsafe { fresh.set_len(n) };
    fresh
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Adam-like update with two state buffers, nonlinear enough that a
    /// misplaced element would show.
    fn step(p: f32, g: f32, [m, v]: [f32; 2]) -> (f32, [f32; 2]) {
        let m = 0.9 * m + 0.1 * g;
        let v = 0.999 * v + 0.001 * g * g;
        (p - 0.01 * m / (v.sqrt() + 1e-8), [m, v])
    }

    fn inputs(n: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) {
        let f = |k: usize| (0..n).map(move |i| ((i * 7 + k) % 97) as f32 / 13.0 - 3.0);
        // v, the second moment, is non-negative.
        (
            f(0).collect(),
            f(1).collect(),
            f(2).collect(),
            f(3).map(f32::abs).collect(),
        )
    }

    fn reference(n: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let (mut p, g, mut m, mut v) = inputs(n);
        for i in 0..n {
            let (q, [a, b]) = step(p[i], g[i], [m[i], v[i]]);
            (p[i], m[i], v[i]) = (q, a, b);
        }
        (p, m, v)
    }

    fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    }

    #[test]
    fn both_paths_match_a_plain_loop_on_any_thread_count() {
        // Below the threshold, at it, and above it with a partial last chunk.
        for n in [
            0,
            1,
            1000,
            PARALLEL_THRESHOLD,
            PARALLEL_THRESHOLD + CHUNK + 123,
        ] {
            let want = reference(n);
            for threads in [1, 2, 3] {
                let (mut p, g, mut m, mut v) = inputs(n);
                in_pool(threads, || {
                    update_in_place(&mut p, &g, [&mut m, &mut v], step)
                });
                assert_eq!(
                    (&p, &m, &v),
                    (&want.0, &want.1, &want.2),
                    "in place, n {n}, {threads} threads"
                );

                let (src, g, mut m, mut v) = inputs(n);
                let fresh = in_pool(threads, || update_into(&src, &g, [&mut m, &mut v], step));
                assert_eq!(
                    (&fresh, &m, &v),
                    (&want.0, &want.1, &want.2),
                    "into, n {n}, {threads} threads"
                );
                assert_eq!(src, inputs(n).0, "the source is left alone");
            }
        }
    }

    #[test]
    #[should_panic(expected = "lengths differ")]
    fn a_short_state_buffer_panics_before_anything_is_written() {
        let (src, g) = (
            vec![1.0f32; PARALLEL_THRESHOLD],
            vec![1.0f32; PARALLEL_THRESHOLD],
        );
        let mut short = vec![0.0f32; PARALLEL_THRESHOLD - 1];
        in_pool(2, || {
            update_into(&src, &g, [&mut short], |p, g, [s]| (p - g, [s]))
        });
    }
}
