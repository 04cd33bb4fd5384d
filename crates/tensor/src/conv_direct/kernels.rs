//! The two register-tiled loops, written once over [`Lanes`]: the forward
//! tile (`OB` output channels by `T` vectors of positions) and the weight
//! gradient tile (`OB` output channels by `TT` taps).

use super::lanes::Lanes;
use super::{Grid, Plan, OB, T, TT};
use crate::float::Float;

/// The forward convolution of one padded image `xp` into `y_img`
/// (`[O, oh, ow]`), with the packed weight `wpk` and the tap offsets
/// `offs`; `wide` (`OB q_len` elements) holds one block of output channels
/// on the padded grid before its rows are cut to `ow`.
///
/// # Safety
/// The CPU must have the features `L` is compiled for.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn forward_image<L: Lanes>(
    xp: &[L::E],
    wpk: &[L::E],
    offs: &[usize],
    bias: Option<&[L::E]>,
    p: &Plan,
    g: &Grid,
    wide: &mut [L::E],
    y_img: &mut [L::E],
) {
    let w = L::W;
    for ob in 0..g.o_pad / OB {
        let wblock = &wpk[ob * g.taps * OB..(ob + 1) * g.taps * OB];
        let mut init = [L::E::ZERO; OB];
        if let Some(b) = bias {
            for (u, v) in init.iter_mut().enumerate() {
                *v = b.get(ob * OB + u).copied().unwrap_or(L::E::ZERO);
            }
        }
        for q0 in (0..g.q_len).step_by(T * w) {
            // SAFETY (for every `L` call below): the caller checked the CPU.
            let mut acc = [[unsafe { L::splat(L::E::ZERO) }; T]; OB];
            for (a, &b) in acc.iter_mut().zip(&init) {
                *a = [unsafe { L::splat(b) }; T];
            }
            // Offsets grow with the tap, so the last reads furthest.
            let reach = q0 + offs.last().copied().unwrap_or(0) + T * w;
            assert!(
                reach <= xp.len(),
                "conv2d: tile reads past the padded planes"
            );
            for (wv, &off) in wblock.chunks_exact(OB).zip(offs) {
                let wv: &[L::E; OB] = wv.try_into().expect("OB weights");
                let mut xv = [unsafe { L::splat(L::E::ZERO) }; T];
                for (t, v) in xv.iter_mut().enumerate() {
                    // SAFETY: `off` is at most the last offset, so the W
                    // elements from `q0 + off + t w` end by `reach`, which
                    // is within `xp` (asserted above); and the CPU check.
                    *v = unsafe { L::load_ptr(xp.as_ptr().add(q0 + off + t * w)) };
                }
                for (a, &wu) in acc.iter_mut().zip(wv) {
                    let b = unsafe { L::splat(wu) };
                    for (at, &x) in a.iter_mut().zip(&xv) {
                        *at = unsafe { L::madd(b, x, *at) };
                    }
                }
            }
            for (u, a) in acc.iter().enumerate() {
                let dst = &mut wide[u * g.q_len + q0..][..T * w];
                for (t, &v) in a.iter().enumerate() {
                    unsafe { L::store(&mut dst[t * w..], v) };
                }
            }
        }
        // Drop the positions past each row's end.
        for u in 0..OB.min(p.o - ob * OB) {
            let o = ob * OB + u;
            let out = &mut y_img[o * g.oh * g.ow..(o + 1) * g.oh * g.ow];
            for (oy, row) in out.chunks_exact_mut(g.ow).enumerate() {
                row.copy_from_slice(&wide[u * g.q_len + oy * g.wp..][..g.ow]);
            }
        }
    }
}

/// Adds the weight gradient of one padded image `xp` and its widened output
/// gradient `gw` (`[o_pad, q_len]`, zero past each row's end) into `dw`
/// (`[o_pad, taps]`).
///
/// # Safety
/// The CPU must have the features `L` is compiled for.
#[inline(always)]
pub(crate) unsafe fn weight_grad_image<L: Lanes>(
    xp: &[L::E],
    gw: &[L::E],
    offs: &[usize],
    g: &Grid,
    dw: &mut [L::E],
) {
    let w = L::W;
    for ob in 0..g.o_pad / OB {
        let gblock = &gw[ob * OB * g.q_len..(ob + 1) * OB * g.q_len];
        for tap0 in (0..g.taps).step_by(TT) {
            // A short last block repeats its last tap and drops the copies.
            let mut off = [0; TT];
            for (tt, o) in off.iter_mut().enumerate() {
                *o = offs[(tap0 + tt).min(g.taps - 1)];
            }
            let rows: [&[L::E]; TT] = off.map(|o| &xp[o..o + g.q_len]);
            let grads: [&[L::E]; OB] =
                std::array::from_fn(|u| &gblock[u * g.q_len..(u + 1) * g.q_len]);
            assert!(g.q_len.is_multiple_of(w), "q_len is whole tiles");
            // SAFETY (for every `L` call below): the caller checked the CPU.
            let mut acc = [[unsafe { L::splat(L::E::ZERO) }; TT]; OB];
            for q0 in (0..g.q_len).step_by(w) {
                // SAFETY (for the loads): every row has `q_len` elements, a
                // multiple of W (asserted), and `q0 < q_len` steps by W, so
                // the W elements from `q0` are inside the row.
                let mut xv = [unsafe { L::splat(L::E::ZERO) }; TT];
                for (v, row) in xv.iter_mut().zip(&rows) {
                    *v = unsafe { L::load_ptr(row.as_ptr().add(q0)) };
                }
                for (a, grow) in acc.iter_mut().zip(&grads) {
                    let gv = unsafe { L::load_ptr(grow.as_ptr().add(q0)) };
                    for (at, &x) in a.iter_mut().zip(&xv) {
                        *at = unsafe { L::madd(gv, x, *at) };
                    }
                }
            }
            for (u, a) in acc.iter().enumerate() {
                for (tt, &v) in a.iter().enumerate().take(g.taps - tap0) {
                    let d = &mut dw[(ob * OB + u) * g.taps + tap0 + tt];
                    *d += unsafe { L::sum(v) };
                }
            }
        }
    }
}
