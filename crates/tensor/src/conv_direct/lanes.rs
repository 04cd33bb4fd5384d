//! The vector operations the direct kernels are written in ([`Lanes`]), on
//! 256-bit AVX2 + FMA registers ([`Avx2F32`], [`Avx2F64`]), on 512-bit
//! AVX-512 registers ([`Avx512F32`], [`Avx512F64`]) or on plain arrays
//! ([`Portable`]) where the CPU has neither.

use crate::float::Float;

/// A vector of `W` elements of `E` and the four operations the kernels use.
///
/// # Safety
/// The methods are `unsafe` only because an implementation may be compiled
/// for CPU features: callers must have checked that the CPU has them (see
/// each implementation). They never read or write outside the slices they
/// are given; a slice shorter than `W` panics.
pub(crate) trait Lanes: Copy {
    /// The element type.
    type E: Float;
    /// A vector of `W` elements.
    type V: Copy;
    /// Elements per vector.
    const W: usize;
    /// `[x; W]`.
    unsafe fn splat(x: Self::E) -> Self::V;
    /// The `W` elements from `p`, which must all be readable.
    unsafe fn load_ptr(p: *const Self::E) -> Self::V;
    /// Writes `v` over the first `W` elements of `s`.
    unsafe fn store(s: &mut [Self::E], v: Self::V);
    /// `a b + c` per element (one rounding where fused).
    unsafe fn madd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// The sum of the elements, left to right.
    unsafe fn sum(v: Self::V) -> Self::E;
}

/// Plain arrays of `W` elements: any CPU, multiply then add.
#[derive(Clone, Copy)]
pub(crate) struct Portable<E, const W: usize>(std::marker::PhantomData<E>);

impl<E: Float, const W: usize> Lanes for Portable<E, W> {
    type E = E;
    type V = [E; W];
    const W: usize = W;
    #[inline(always)]
    unsafe fn splat(x: E) -> [E; W] {
        [x; W]
    }
    #[inline(always)]
    unsafe fn load_ptr(p: *const E) -> [E; W] {
        // SAFETY: the caller guarantees `W` readable elements from `p`.
        unsafe { std::ptr::read_unaligned(p.cast()) }
    }
    #[inline(always)]
    unsafe fn store(s: &mut [E], v: [E; W]) {
        s[..W].copy_from_slice(&v);
    }
    #[inline(always)]
    unsafe fn madd(a: [E; W], b: [E; W], mut c: [E; W]) -> [E; W] {
        for l in 0..W {
            c[l] = a[l] * b[l] + c[l];
        }
        c
    }
    #[inline(always)]
    unsafe fn sum(v: [E; W]) -> E {
        v.iter().fold(E::ZERO, |s, &x| s + x)
    }
}

/// Eight `f32` in a `__m256`. Needs AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx2F32;

/// Four `f64` in a `__m256d`. Needs AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx2F64;

/// Implements [`Lanes`] with one set of x86 vector intrinsics, compiled for
/// the CPU features `$feature`.
#[cfg(target_arch = "x86_64")]
macro_rules! x86_lanes {
    ($feature:literal, $name:ident, $e:ty, $v:ty, $w:expr, $set1:ident, $loadu:ident, $storeu:ident, $fmadd:ident) => {
        impl Lanes for $name {
            type E = $e;
            type V = $v;
            const W: usize = $w;
            #[inline]
            #[target_feature(enable = $feature)]
            unsafe fn splat(x: $e) -> $v {
                std::arch::x86_64::$set1(x)
            }
            #[inline]
            #[target_feature(enable = $feature)]
            unsafe fn load_ptr(p: *const $e) -> $v {
                // SAFETY: the caller guarantees W readable elements from `p`.
                unsafe { std::arch::x86_64::$loadu(p) }
            }
            #[inline]
            #[target_feature(enable = $feature)]
            unsafe fn store(s: &mut [$e], v: $v) {
                assert!(s.len() >= $w);
                // SAFETY: `s` has at least W elements (asserted); the store
                // is unaligned.
                unsafe { std::arch::x86_64::$storeu(s.as_mut_ptr(), v) }
            }
            #[inline]
            #[target_feature(enable = $feature)]
            unsafe fn madd(a: $v, b: $v, c: $v) -> $v {
                std::arch::x86_64::$fmadd(a, b, c)
            }
            #[inline]
            #[target_feature(enable = $feature)]
            unsafe fn sum(v: $v) -> $e {
                let mut out = [0.0; $w];
                // SAFETY: `out` has W elements.
                unsafe { std::arch::x86_64::$storeu(out.as_mut_ptr(), v) };
                out.iter().fold(0.0, |s, &x| s + x)
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
x86_lanes!(
    "avx2,fma",
    Avx2F32,
    f32,
    std::arch::x86_64::__m256,
    8,
    _mm256_set1_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    _mm256_fmadd_ps
);

#[cfg(target_arch = "x86_64")]
x86_lanes!(
    "avx2,fma",
    Avx2F64,
    f64,
    std::arch::x86_64::__m256d,
    4,
    _mm256_set1_pd,
    _mm256_loadu_pd,
    _mm256_storeu_pd,
    _mm256_fmadd_pd
);

/// Sixteen `f32` in a `__m512`. Needs AVX-512F.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx512F32;

/// Eight `f64` in a `__m512d`. Needs AVX-512F.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct Avx512F64;

#[cfg(target_arch = "x86_64")]
x86_lanes!(
    "avx512f",
    Avx512F32,
    f32,
    std::arch::x86_64::__m512,
    16,
    _mm512_set1_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    _mm512_fmadd_ps
);

#[cfg(target_arch = "x86_64")]
x86_lanes!(
    "avx512f",
    Avx512F64,
    f64,
    std::arch::x86_64::__m512d,
    8,
    _mm512_set1_pd,
    _mm512_loadu_pd,
    _mm512_storeu_pd,
    _mm512_fmadd_pd
);
