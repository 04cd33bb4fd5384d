//! Direct kernels for the stride-1, dilation-1 convolution: no `im2col`
//! buffer and no gemm packing.
//!
//! Each image is first copied into zero-padded channel planes of row width
//! `wp = W + 2 pw`. On that grid the output position `q = oy wp + ox` reads
//! input `q + i wp + j` for kernel tap `(i, j)`, so consecutive output
//! positions read consecutive inputs, across row ends too: a tile of `W`
//! outputs is one vector load per tap. The `wp - ow` positions past each
//! output row's end are computed and dropped (2 of 30 for a 28-wide image
//! with padding 1).
//!
//! * [`forward`]: `y[o, q] = b[o] + Σ_tap w[o, tap] xp[tap + q]`, a register
//!   tile of `OB` output channels by `T` vectors of `W` positions; each
//!   input vector is used `OB` times and each broadcast weight `T` times.
//! * [`weight_grad`]: `dw[o, tap] = Σ_n Σ_q g[n, o, q] xp[n, tap + q]`, a
//!   tile of `OB` output channels by `TT` taps, summed over `q` in vectors.
//! * The input's gradient is the forward kernel run on the output gradient
//!   with the weight transposed and flipped (see `conv2d.rs`).
//!
//! On x86-64 (checked at run time) the tiles are 512-bit vectors with
//! AVX-512F (16 `f32` or 8 `f64`), or 256-bit ones with AVX2 and FMA;
//! both with fused multiply-adds (`lanes.rs`). Elsewhere the same loops
//! (`kernels.rs`) run on plain arrays, with a separate multiply and add. LLVM does not vectorise those, so
//! `conv2d.rs` uses them only where the vector kernels exist (tests compare
//! the two); other CPUs take `im2col` and `matrixmultiply`.

mod kernels;
mod lanes;

use crate::alloc;
use crate::cpu::{max_capability, Capability};
use crate::float::Float;
use crate::layout::try_numel;
use crate::tensor::Tensor;
use lanes::{Lanes, Portable};
use rayon::prelude::*;
use std::any::TypeId;
use std::mem::MaybeUninit;
use std::sync::OnceLock;

/// Output channels per register tile.
pub(crate) const OB: usize = 4;
/// Vectors of positions per forward tile.
pub(crate) const T: usize = 2;
/// Taps per weight-gradient tile.
pub(crate) const TT: usize = 3;

/// The sizes of one stride-1, dilation-1 convolution on padded planes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Plan {
    /// Images.
    pub n: usize,
    /// Input channels.
    pub c: usize,
    /// Output channels.
    pub o: usize,
    /// Input height and width.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Kernel height and width.
    pub kh: usize,
    /// Kernel width.
    pub kw: usize,
    /// Zero padding before and after each row (`ph`) and column (`pw`).
    pub ph: usize,
    /// Column padding.
    pub pw: usize,
}

/// Sizes derived from a [`Plan`] for a tile width of `lanes` elements.
pub(crate) struct Grid {
    /// Output height and width.
    pub(crate) oh: usize,
    pub(crate) ow: usize,
    /// Padded row width `w + 2 pw`.
    pub(crate) wp: usize,
    /// Output positions on the padded grid, rounded up to whole tiles.
    pub(crate) q_len: usize,
    /// Length of one padded input plane: holds every tap's reads.
    pub(crate) plane: usize,
    /// Taps per output channel: `c kh kw`.
    pub(crate) taps: usize,
    /// Output channels rounded up to whole `OB` blocks.
    pub(crate) o_pad: usize,
}

impl Plan {
    /// The grid for tiles of `tile` positions, or `None` when the kernel
    /// does not fit the padded input or a size overflows.
    fn grid(&self, tile: usize) -> Option<Grid> {
        let wp = self.pw.checked_mul(2)?.checked_add(self.w)?;
        let hp = self.ph.checked_mul(2)?.checked_add(self.h)?;
        if self.kh == 0 || self.kw == 0 || hp < self.kh || wp < self.kw {
            return None;
        }
        let (oh, ow) = (hp - self.kh + 1, wp - self.kw + 1);
        let q_len = oh.checked_mul(wp)?.checked_next_multiple_of(tile)?;
        // The last tap of the last tile reads `q_len - 1 + (kh - 1) wp + kw - 1`.
        let reach = (self.kh - 1)
            .checked_mul(wp)?
            .checked_add(self.kw - 1)?
            .checked_add(q_len)?;
        let plane = reach.max(hp.checked_mul(wp)?);
        let taps = try_numel(&[self.c, self.kh, self.kw])?;
        let o_pad = self.o.checked_next_multiple_of(OB)?;
        // Scratch per image and the packed weights must be countable.
        try_numel(&[self.c, plane])?;
        try_numel(&[o_pad, q_len])?;
        try_numel(&[o_pad, taps])?;
        Some(Grid {
            oh,
            ow,
            wp,
            q_len,
            plane,
            taps,
            o_pad,
        })
    }
}

/// Copies image `img` of `x` (`[N, C, H, W]`, any strides) into zeroed
/// planes of `plane` elements: `xp[c plane + (y + ph) wp + x + pw] = x[img, c, y, x]`.
fn pad_image<E: Float>(x: &Tensor<E>, img: usize, p: &Plan, g: &Grid) -> Vec<E> {
    let mut xp = alloc::zeroed(p.c * g.plane, "conv2d");
    let st = x.strides();
    let data = x.storage();
    for c in 0..p.c {
        let plane = &mut xp[c * g.plane..(c + 1) * g.plane];
        for y in 0..p.h {
            let src = x.offset() + img * st[0] + c * st[1] + y * st[2];
            let dst = &mut plane[(y + p.ph) * g.wp + p.pw..][..p.w];
            copy_row(dst, data, src, st[3]);
        }
    }
    xp
}

/// Fills `dst` with `data[src + k step]` for each of its positions `k`: a
/// block copy for a contiguous row, a fill for a broadcast one (stride 0,
/// as the gradient of a sum is).
///
/// # Panics
/// If the row's last index overflows `usize` or lies past `data` (a
/// tensor's layout rules both out; the check keeps the loop below exact).
fn copy_row<E: Float>(dst: &mut [E], data: &[E], src: usize, step: usize) {
    let Some(last) = dst.len().checked_sub(1) else {
        return;
    };
    let end = last.checked_mul(step).and_then(|o| o.checked_add(src));
    assert!(
        end.is_some_and(|e| e < data.len()),
        "conv2d: row at {src} with stride {step} runs past the storage"
    );
    // Every index below is at most `end`: no overflow.
    match step {
        1 => dst.copy_from_slice(&data[src..src + dst.len()]),
        0 => dst.fill(data[src]),
        _ => {
            for (k, d) in dst.iter_mut().enumerate() {
                *d = data[src + k * step];
            }
        }
    }
}

/// The weight `[O, C, kh, kw]` (any strides) as blocks of `OB` output
/// channels, tap-major: `wpk[(ob taps + tap) OB + u] = w[ob OB + u, tap]`,
/// zero for the channels past `O`.
fn pack_weight<E: Float>(w: &Tensor<E>, p: &Plan, g: &Grid) -> Vec<E> {
    let mut wpk = alloc::zeroed(g.o_pad * g.taps, "conv2d");
    let st = w.strides();
    let data = w.storage();
    for o in 0..p.o {
        let (ob, u) = (o / OB, o % OB);
        for c in 0..p.c {
            for i in 0..p.kh {
                for j in 0..p.kw {
                    let tap = (c * p.kh + i) * p.kw + j;
                    let src = w.offset() + o * st[0] + c * st[1] + i * st[2] + j * st[3];
                    wpk[(ob * g.taps + tap) * OB + u] = data[src];
                }
            }
        }
    }
    wpk
}

/// Where each tap reads in the padded planes: `c plane + i wp + j`.
fn tap_offsets(p: &Plan, g: &Grid) -> Vec<usize> {
    let mut offs = Vec::with_capacity(g.taps);
    for c in 0..p.c {
        for i in 0..p.kh {
            for j in 0..p.kw {
                offs.push(c * g.plane + i * g.wp + j);
            }
        }
    }
    offs
}

/// Which code computes a stride-1, dilation-1 `conv2d` in this process:
/// `"avx512"` or `"avx2"` for the direct kernels, `"im2col"` where the CPU
/// has no vector unit they are compiled for (im2col + `matrixmultiply`).
/// Benchmarks print it beside their figures; `TAPEGRAD_CPU_CAPABILITY`
/// caps it.
///
/// ```
/// let k = tapegrad_tensor::tuning::conv2d_kernel();
/// assert!(["avx512", "avx2", "im2col"].contains(&k));
/// ```
pub fn conv2d_kernel() -> &'static str {
    match Kernel::detect() {
        Kernel::Portable => "im2col",
        k => k.name(),
    }
}

/// Which compilation of the kernels runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// Plain arrays, any CPU.
    Portable,
    /// 256-bit vectors with fused multiply-adds (x86-64 with AVX2 and FMA).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// 512-bit vectors (x86-64 with AVX-512F): twice the elements per
    /// load and per instruction of [`Kernel::Avx2`]. Cores with two 512-bit
    /// FMA units gain from it; AMD Zen 4 splits each 512-bit instruction
    /// into two 256-bit halves, and there it runs at the AVX2 kernel's
    /// speed (within 2% in `cargo bench --bench conv`, 2026-12-04).
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Kernel {
    /// The fastest this CPU runs, within the cap of
    /// `TAPEGRAD_CPU_CAPABILITY` (see `cpu.rs`).
    ///
    /// Decided once per process (the CPU and the cap do not change), not
    /// on each of the several calls every convolution makes.
    pub(crate) fn detect() -> Kernel {
        static KERNEL: OnceLock<Kernel> = OnceLock::new();
        *KERNEL.get_or_init(|| {
            let cap = max_capability();
            Kernel::available()
                .into_iter()
                .rfind(|k| k.capability() <= cap)
                .unwrap_or(Kernel::Portable)
        })
    }

    /// A short name for reports: `portable`, `avx2` or `avx512`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => "avx512",
        }
    }

    /// The instruction set this kernel needs.
    fn capability(self) -> Capability {
        match self {
            Kernel::Portable => Capability::Default,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => Capability::Avx2,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => Capability::Avx512,
        }
    }

    /// Every kernel this CPU can run, narrowest first.
    pub(crate) fn available() -> Vec<Kernel> {
        let mut all = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                all.push(Kernel::Avx2);
            }
            if std::is_x86_feature_detected!("avx512f") {
                all.push(Kernel::Avx512);
            }
        }
        all
    }

    /// True for the kernels compiled for vector units (not [`Kernel::Portable`]).
    pub(crate) fn is_vectorised(self) -> bool {
        self != Kernel::Portable
    }

    /// Elements of `E` per vector: 8 `f32` or 4 `f64` for the 256-bit
    /// kernels (and the portable ones, which mirror them), twice that for
    /// AVX-512.
    fn lanes<E>(self) -> usize {
        let bytes = match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => 64,
            _ => 32,
        };
        bytes / size_of::<E>()
    }

    /// Runs `work` with this kernel's lanes for `E`.
    fn run<E: Float, K: ImageWork<E>>(self, work: K) {
        let is_f32 = TypeId::of::<E>() == TypeId::of::<f32>();
        match self {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Kernel::Avx2` is only chosen on a CPU with AVX2 and
            // FMA (`detect`, `available`).
            Kernel::Avx2 => unsafe {
                if is_f32 {
                    x86::avx2::<lanes::Avx2F32, E, K>(work)
                } else {
                    x86::avx2::<lanes::Avx2F64, E, K>(work)
                }
            },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Kernel::Avx512` is only chosen on a CPU with
            // AVX-512F (`detect`, `available`).
            Kernel::Avx512 => unsafe {
                if is_f32 {
                    x86::avx512::<lanes::Avx512F32, E, K>(work)
                } else {
                    x86::avx512::<lanes::Avx512F64, E, K>(work)
                }
            },
            // SAFETY: the portable lanes need no CPU feature.
            Kernel::Portable => unsafe {
                if is_f32 {
                    work.run::<Portable<E, 8>>()
                } else {
                    work.run::<Portable<E, 4>>()
                }
            },
        }
    }
}

/// `s` as a slice of `F`, which must be the type `E` (checked).
fn same<E: 'static, F: 'static>(s: &[E]) -> &[F] {
    assert_eq!(TypeId::of::<E>(), TypeId::of::<F>());
    // SAFETY: `E` and `F` are the same type (asserted), so this is the
    // same slice.
    unsafe { std::slice::from_raw_parts(s.as_ptr().cast(), s.len()) }
}

/// [`same`] for a mutable slice.
fn same_mut<E: 'static, F: 'static>(s: &mut [E]) -> &mut [F] {
    assert_eq!(TypeId::of::<E>(), TypeId::of::<F>());
    // SAFETY: as in `same`; the borrow of `s` moves into the result.
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr().cast(), s.len()) }
}

/// One image's kernel call, written once for any [`Lanes`] whose element
/// is `E` (the `run` implementations cast their slices with [`same`]).
trait ImageWork<E: Float> {
    /// Runs the kernel with the lanes `L`.
    ///
    /// # Safety
    /// The CPU must have the features `L` is compiled for.
    unsafe fn run<L: Lanes>(self);
}

/// The entry points compiled with each x86 feature set: each instantiates
/// the kernels (`#[inline(always)]`) inside a function built for the
/// features, so the lanes' intrinsics inline there.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{ImageWork, Lanes};
    use crate::float::Float;

    /// [`ImageWork::run`] with AVX2 and FMA.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA, and `L` be compiled for no more.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn avx2<L: Lanes, E: Float, K: ImageWork<E>>(work: K) {
        // SAFETY: this function's contract.
        unsafe { work.run::<L>() }
    }

    /// [`ImageWork::run`] with AVX-512F.
    ///
    /// # Safety
    /// The CPU must have AVX-512F, and `L` be compiled for no more.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn avx512<L: Lanes, E: Float, K: ImageWork<E>>(work: K) {
        // SAFETY: this function's contract.
        unsafe { work.run::<L>() }
    }
}

/// The forward kernel's arguments for one image (see
/// [`kernels::forward_image`]).
struct ForwardImage<'a, E> {
    xp: &'a [E],
    wpk: &'a [E],
    offs: &'a [usize],
    bias: Option<&'a [E]>,
    p: &'a Plan,
    g: &'a Grid,
    wide: &'a mut [E],
    y_img: &'a mut [E],
}

impl<E: Float> ImageWork<E> for ForwardImage<'_, E> {
    #[inline(always)]
    unsafe fn run<L: Lanes>(self) {
        // SAFETY: the caller's contract.
        unsafe {
            kernels::forward_image::<L>(
                same(self.xp),
                same(self.wpk),
                self.offs,
                self.bias.map(same::<E, L::E>),
                self.p,
                self.g,
                same_mut(self.wide),
                same_mut(self.y_img),
            )
        }
    }
}

/// The weight-gradient kernel's arguments for one image (see
/// [`kernels::weight_grad_image`]).
struct WeightGradImage<'a, E> {
    xp: &'a [E],
    gw: &'a [E],
    offs: &'a [usize],
    g: &'a Grid,
    dw: &'a mut [E],
}

impl<E: Float> ImageWork<E> for WeightGradImage<'_, E> {
    #[inline(always)]
    unsafe fn run<L: Lanes>(self) {
        // SAFETY: the caller's contract.
        unsafe {
            kernels::weight_grad_image::<L>(
                same(self.xp),
                same(self.gw),
                self.offs,
                self.g,
                same_mut(self.dw),
            )
        }
    }
}

/// Pads image `img` of `x` and runs the forward kernel on it.
#[allow(clippy::too_many_arguments)]
fn forward_one<E: Float>(
    kernel: Kernel,
    x: &Tensor<E>,
    img: usize,
    wpk: &[E],
    offs: &[usize],
    bias: Option<&[E]>,
    p: &Plan,
    g: &Grid,
    y_img: &mut [E],
) {
    let xp = pad_image(x, img, p, g);
    let mut wide = vec![E::ZERO; OB * g.q_len];
    kernel.run(ForwardImage {
        xp: &xp,
        wpk,
        offs,
        bias,
        p,
        g,
        wide: &mut wide,
        y_img,
    });
}

/// Pads image `img` of `x`, widens its output gradient and adds its weight
/// gradient into `dw`.
#[allow(clippy::too_many_arguments)]
fn weight_grad_one<E: Float>(
    kernel: Kernel,
    x: &Tensor<E>,
    gy: &Tensor<E>,
    img: usize,
    offs: &[usize],
    p: &Plan,
    g: &Grid,
    dw: &mut [E],
) {
    let xp = pad_image(x, img, p, g);
    let gw = widen_grad(gy, img, p, g);
    kernel.run(WeightGradImage {
        xp: &xp,
        gw: &gw,
        offs,
        g,
        dw,
    });
}

/// The output gradient of image `img` (`[N, O, oh, ow]`, any strides) on
/// the padded grid: `gw[o q_len + oy wp + ox]`, zero past each row's end
/// and for the channels past `O`.
fn widen_grad<E: Float>(gy: &Tensor<E>, img: usize, p: &Plan, g: &Grid) -> Vec<E> {
    let mut gw = alloc::zeroed(g.o_pad * g.q_len, "conv2d_weight_grad");
    let st = gy.strides();
    let data = gy.storage();
    for o in 0..p.o {
        for oy in 0..g.oh {
            let src = gy.offset() + img * st[0] + o * st[1] + oy * st[2];
            let dst = &mut gw[o * g.q_len + oy * g.wp..][..g.ow];
            copy_row(dst, data, src, st[3]);
        }
    }
    gw
}

/// The grid for `kernel`'s tile of `E`, or a panic naming `op`.
#[track_caller]
fn grid_for<E: Float>(kernel: Kernel, p: &Plan, op: &str) -> Grid {
    match p.grid(T * kernel.lanes::<E>()) {
        Some(g) => g,
        None => panic!("{op}: the padded planes of {p:?} do not fit in memory"),
    }
}

/// Calls `f(k, chunk)` on each `len`-element chunk of `out`, in parallel:
/// each chunk is a whole image's worth of arithmetic, so even two chunks
/// are worth two threads.
fn for_each_chunk<E: Float>(out: &mut [E], len: usize, f: impl Fn(usize, &mut [E]) + Sync) {
    if len == 0 {
        return;
    }
    out.par_chunks_mut(len)
        .enumerate()
        .for_each(|(k, c)| f(k, c));
}

/// A `total`-element buffer built by `f(k, chunk)` on each `len`-element
/// chunk in parallel, each chunk zeroed by the thread that then fills it:
/// no serial zero pass over the whole output first (for the forward's
/// `[64, 32, 28, 28]` output, 6.4 MB that one thread cleared while the
/// other waited), and the chunk is in that core's cache when `f` writes it.
#[track_caller]
fn zeroed_chunks<E: Float>(
    total: usize,
    len: usize,
    op: &str,
    f: impl Fn(usize, &mut [E]) + Sync,
) -> Vec<E> {
    assert!(len > 0 || total == 0, "{op}: chunks of 0 elements");
    let mut out = alloc::with_capacity(total, op);
    if total > 0 {
        out.spare_capacity_mut()[..total]
            .par_chunks_mut(len)
            .enumerate()
            .for_each(|(k, chunk)| {
                chunk.fill(MaybeUninit::new(E::ZERO));
                // SAFETY: every element of `chunk` was written on the line
                // above, and `MaybeUninit<E>` has the layout of `E`.
                let chunk = unsafe { &mut *(chunk as *mut [MaybeUninit<E>] as *mut [E]) };
                f(k, chunk)
            });
    }
    // SAFETY: `out` has capacity `total` (`with_capacity` reserved it
    // exactly) and the chunks of `par_chunks_mut`, which cover `0..total`
    // (the last may be shorter), were each zeroed in full before `f` ran;
    // with `total == 0` there is nothing to initialise. If `f` panics, the
    // panic propagates before this line and `out` drops empty.
    unsafe { out.set_len(total) };
    out
}

/// `y = conv2d(x, w) + b`, stride 1, dilation 1: `x` `[N, C, H, W]`, `w`
/// `[O, C, kh, kw]`, `bias` `[O]`, all of the sizes in `p`; returns
/// `[N, O, oh, ow]` (contiguous). Parallel over images.
#[track_caller]
pub(crate) fn forward<E: Float>(
    x: &Tensor<E>,
    w: &Tensor<E>,
    bias: Option<&[E]>,
    p: &Plan,
) -> Tensor<E> {
    forward_with(Kernel::detect(), x, w, bias, p)
}

/// [`forward`] with the given kernel.
#[track_caller]
pub(crate) fn forward_with<E: Float>(
    kernel: Kernel,
    x: &Tensor<E>,
    w: &Tensor<E>,
    bias: Option<&[E]>,
    p: &Plan,
) -> Tensor<E> {
    let g = grid_for::<E>(kernel, p, "conv2d");
    let per_image = try_numel(&[p.o, g.oh, g.ow]).expect("at most o_pad q_len");
    let Some(total) = per_image.checked_mul(p.n) else {
        panic!("conv2d: the output of {p:?} has too many elements")
    };
    let wpk = pack_weight(w, p, &g);
    let offs = tap_offsets(p, &g);
    let y = zeroed_chunks(total, per_image, "conv2d", |img, y_img| {
        forward_one(kernel, x, img, &wpk, &offs, bias, p, &g, y_img)
    });
    Tensor::from_vec(y, &[p.n, p.o, g.oh, g.ow])
}

/// Images per partial sum of the weight gradient: fixed by the sizes, not
/// the thread count, so the result does not depend on the pool.
const IMAGES_PER_PARTIAL: usize = 4;

/// `dw[o, c, i, j] = Σ_{n, oy, ox} gy[n, o, oy, ox] x[n, c, oy + i - ph, ox + j - pw]`
/// (zero outside the image), stride 1, dilation 1: the weight gradient,
/// `[O, C, kh, kw]`. Parallel over groups of images, summed in a fixed order.
#[track_caller]
pub(crate) fn weight_grad<E: Float>(x: &Tensor<E>, gy: &Tensor<E>, p: &Plan) -> Tensor<E> {
    weight_grad_with(Kernel::detect(), x, gy, p)
}

/// [`weight_grad`] with the given kernel.
#[track_caller]
pub(crate) fn weight_grad_with<E: Float>(
    kernel: Kernel,
    x: &Tensor<E>,
    gy: &Tensor<E>,
    p: &Plan,
) -> Tensor<E> {
    let g = grid_for::<E>(kernel, p, "conv2d_weight_grad");
    let offs = tap_offsets(p, &g);
    let len = g.o_pad * g.taps;
    let groups = p.n.div_ceil(IMAGES_PER_PARTIAL).max(1);
    let Some(total) = len.checked_mul(groups) else {
        panic!("conv2d_weight_grad: the partial sums of {p:?} have too many elements")
    };
    let mut partial = alloc::zeroed(total, "conv2d_weight_grad");
    for_each_chunk(&mut partial, len, |group, dw| {
        let first = group * IMAGES_PER_PARTIAL;
        for img in first..(first + IMAGES_PER_PARTIAL).min(p.n) {
            weight_grad_one(kernel, x, gy, img, &offs, p, &g, dw)
        }
    });
    let mut dw = alloc::zeroed(p.o * g.taps, "conv2d_weight_grad");
    for part in partial.chunks_exact(len) {
        for (d, &v) in dw.iter_mut().zip(&part[..p.o * g.taps]) {
            *d += v;
        }
    }
    Tensor::from_vec(dw, &[p.o, p.c, p.kh, p.kw])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tensor of `shape` with values spread over `[-1, 1)` by a hash of the index.
    fn ramp<E: Float>(shape: &[usize], seed: u64) -> Tensor<E> {
        let n: usize = shape.iter().product();
        let v = (0..n as u64)
            .map(|i| {
                let h = (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seed;
                E::from_f64((h >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0)
            })
            .collect();
        Tensor::from_vec(v, shape)
    }

    /// Every kernel this CPU has gives what the portable one (what a CPU
    /// without vector kernels runs) gives, for both element types, a
    /// partial block of output channels, and a tap count that is no
    /// multiple of `TT`.
    fn kernels_match_the_portable_one<E: Float>(tol: f64) {
        let p = Plan {
            n: 3,
            c: 2,
            o: 6,
            h: 7,
            w: 11,
            kh: 2,
            kw: 3,
            ph: 1,
            pw: 2,
        };
        let x = ramp::<E>(&[p.n, p.c, p.h, p.w], 1);
        let w = ramp::<E>(&[p.o, p.c, p.kh, p.kw], 2);
        let b = ramp::<E>(&[p.o], 3).to_vec();
        let close = |a: &Tensor<E>, b: &Tensor<E>, what: &str| {
            for (u, v) in a.to_vec().into_iter().zip(b.to_vec()) {
                let (u, v) = (u.to_f64(), v.to_f64());
                assert!(
                    (u - v).abs() <= tol * v.abs().max(1.0),
                    "{what}: {u} vs {v}"
                );
            }
        };
        let slow = forward_with(Kernel::Portable, &x, &w, Some(&b), &p);
        assert_eq!(slow.shape(), &[3, 6, 8, 13]);
        let gy = ramp::<E>(slow.shape(), 4);
        let slow_dw = weight_grad_with(Kernel::Portable, &x, &gy, &p);
        for kernel in Kernel::available() {
            let what = format!("{kernel:?}");
            close(&forward_with(kernel, &x, &w, Some(&b), &p), &slow, &what);
            close(&weight_grad_with(kernel, &x, &gy, &p), &slow_dw, &what);
        }
    }

    #[test]
    fn every_kernel_matches_the_portable_one() {
        kernels_match_the_portable_one::<f64>(1e-13);
        kernels_match_the_portable_one::<f32>(1e-5);
    }

    #[test]
    fn detect_picks_an_available_kernel() {
        assert!(Kernel::available().contains(&Kernel::detect()));
    }

    #[test]
    fn plans_that_do_not_fit_have_no_grid() {
        let p = Plan {
            n: 1,
            c: 1,
            o: 1,
            h: 2,
            w: 2,
            kh: 5,
            kw: 1,
            ph: 1,
            pw: 0,
        };
        assert!(
            p.grid(8).is_none(),
            "a 5-tall kernel on a 4-tall padded image"
        );
        let huge = Plan {
            w: usize::MAX / 2,
            kh: 1,
            ..p
        };
        assert!(huge.grid(8).is_none(), "sizes that overflow");
    }
}
