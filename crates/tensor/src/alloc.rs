//! Output buffers: every tensor's storage is allocated here, with the
//! element count and byte size checked first and allocation failure turned
//! into a panic that names the op and the size (instead of the process
//! abort of `Vec::with_capacity` or `vec![]` when memory runs out).

use crate::float::Float;
use std::mem::size_of;

/// Bytes for `n` elements of `E`, checked against what one allocation may
/// hold (`isize::MAX` bytes).
#[track_caller]
fn bytes_of<E: Float>(n: usize, op: &str) -> usize {
    match n.checked_mul(size_of::<E>()) {
        Some(b) if b <= isize::MAX as usize => b,
        _ => panic!(
            "{op}: {n} elements of {} need more bytes than fit in memory",
            E::DTYPE
        ),
    }
}

/// An empty vector with room for exactly `n` elements.
///
/// # Panics
/// If the allocator refuses: `"zeros: cannot allocate 4398046511104 bytes
/// (1099511627776 elements of float32): memory allocation failed"`.
#[track_caller]
pub(crate) fn with_capacity<E: Float>(n: usize, op: &str) -> Vec<E> {
    let bytes = bytes_of::<E>(n, op);
    let mut v = Vec::new();
    if let Err(e) = v.try_reserve_exact(n) {
        panic!(
            "{op}: cannot allocate {bytes} bytes ({n} elements of {}): {e}",
            E::DTYPE
        );
    }
    v
}

/// `n` copies of `value`.
///
/// Zeros come from the allocator already zeroed (`calloc`), so a large
/// zero buffer costs no write pass and its pages are mapped on first touch,
/// as with `vec![0.0; n]`.
#[track_caller]
pub(crate) fn filled<E: Float>(n: usize, value: E, op: &str) -> Vec<E> {
    if value == E::ZERO && value.to_f64().is_sign_positive() {
        return zeroed(n, op);
    }
    let mut v = with_capacity(n, op);
    v.resize(n, value);
    v
}

/// `n` zeros (`+0.0`), from zeroed memory.
#[track_caller]
pub(crate) fn zeroed<E: Float>(n: usize, op: &str) -> Vec<E> {
    let bytes = bytes_of::<E>(n, op);
    if bytes == 0 {
        return vec![E::ZERO; n];
    }
    let layout = std::alloc::Layout::array::<E>(n).expect("checked by bytes_of");
    // SAFETY: `layout` has a non-zero size (checked above).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) } as *mut E;
    if ptr.is_null() {
        panic!(
            "{op}: cannot allocate {bytes} bytes ({n} elements of {}): memory allocation failed",
            E::DTYPE
        );
    }
    // SAFETY: `ptr` was allocated by the global allocator with the layout of
    // `[E; n]` (so capacity `n` matches the allocation), and all `n` elements
    // are initialised: `Float` is sealed to `f32` and `f64`, whose all-zero
    // bit pattern is the value `+0.0`.
    unsafe { Vec::from_raw_parts(ptr, n, n) }
}

/// The `n` items of `iter` collected into a buffer allocated once.
///
/// # Panics
/// If allocation fails (as [`with_capacity`]), or `iter` yields other than
/// `n` items (a bug in the caller).
#[track_caller]
pub(crate) fn collect_n<E: Float>(n: usize, iter: impl Iterator<Item = E>, op: &str) -> Vec<E> {
    let mut v = with_capacity(n, op);
    v.extend(iter);
    assert_eq!(v.len(), n, "{op}: produced {} elements, not {n}", v.len());
    v
}
