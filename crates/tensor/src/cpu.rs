//! The widest vector instructions tapegrad's own kernels may use.
//!
//! tapegrad's hand-written kernels (today the direct convolution,
//! `conv_direct`) pick the widest vector unit the CPU has at run time. The
//! environment variable `TAPEGRAD_CPU_CAPABILITY` caps that choice, as
//! PyTorch's `ATEN_CPU_CAPABILITY` does: `avx512` (the default: no cap),
//! `avx2` (256-bit AVX2 + FMA at most) or `default` (no vector kernels:
//! the portable paths). It is read once, on first use. So one AVX-512
//! machine can measure what an AVX2-only machine runs, and a suspected
//! kernel bug can be ruled in or out without rebuilding. An unknown value
//! panics with the accepted ones rather than be silently ignored.
//!
//! `matrixmultiply` detects its own gemm kernels (AVX-512F with the
//! `avx512` feature tapegrad enables, else AVX2 + FMA); this cap does not
//! reach them. Its compile-time switch `MMTEST_FEATURE=sse2,avx,avx2,fma`
//! does (see the README's "AVX2 code paths").

use std::sync::OnceLock;

/// A cap on the vector instructions of tapegrad's kernels, widest last.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Capability {
    /// No vector kernels: the portable code paths.
    Default,
    /// 256-bit vectors: AVX2 and FMA.
    Avx2,
    /// 512-bit vectors: AVX-512F.
    Avx512,
}

/// The variable that sets the cap.
pub(crate) const CAPABILITY_VAR: &str = "TAPEGRAD_CPU_CAPABILITY";

impl Capability {
    /// Parses a value of [`CAPABILITY_VAR`] (case-insensitive).
    pub(crate) fn parse(value: &str) -> Result<Capability, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "avx512" => Ok(Capability::Avx512),
            "avx2" => Ok(Capability::Avx2),
            "default" => Ok(Capability::Default),
            other => Err(format!(
                "{CAPABILITY_VAR}={other:?}: expected one of avx512, avx2, default"
            )),
        }
    }
}

/// The cap set by [`CAPABILITY_VAR`] (no cap when it is unset or empty).
///
/// # Panics
/// When the variable holds a value [`Capability::parse`] refuses.
pub(crate) fn max_capability() -> Capability {
    static CAP: OnceLock<Capability> = OnceLock::new();
    *CAP.get_or_init(|| match std::env::var(CAPABILITY_VAR) {
        Ok(v) if !v.trim().is_empty() => Capability::parse(&v).unwrap_or_else(|e| panic!("{e}")),
        _ => Capability::Avx512,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_values_in_any_case() {
        assert_eq!(Capability::parse("AVX512"), Ok(Capability::Avx512));
        assert_eq!(Capability::parse(" avx2 "), Ok(Capability::Avx2));
        assert_eq!(Capability::parse("default"), Ok(Capability::Default));
        assert!(Capability::Default < Capability::Avx2 && Capability::Avx2 < Capability::Avx512);
    }

    #[test]
    fn refuses_other_values_naming_the_accepted_ones() {
        let e = Capability::parse("sse4").unwrap_err();
        assert!(e.contains("TAPEGRAD_CPU_CAPABILITY=\"sse4\""), "{e}");
        assert!(e.contains("avx512, avx2, default"), "{e}");
    }
}
