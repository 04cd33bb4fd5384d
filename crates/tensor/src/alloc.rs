//! Output buffers: every tensor's storage is allocated here, with the
//! element count and byte size checked first and allocation failure turned
//! into a panic that names the op and the size (instead of the process
//! abort of `Vec::with_capacity` or `vec![]` when memory runs out).

use crate::float::Float;
use std::mem::size_of;
use std::sync::Once;

/// Bytes above which glibc would serve an allocation by `mmap` (and give it
/// back to the OS on free) once tuned: glibc's largest allowed value.
const MMAP_THRESHOLD: usize = 32 << 20;
/// Free bytes at the top of the heap that glibc keeps before trimming.
const TRIM_THRESHOLD: usize = 512 << 20;

/// Keeps freed large buffers for reuse, once per process, on glibc.
///
/// A training step allocates and frees the same large buffers (activations,
/// gradients: a megabyte or more each) every step. By default glibc serves
/// them by `mmap` or trims them off the heap when freed, so every step maps
/// them again and the kernel zeroes and faults in every page: for the
/// per-sample gradients of a small MLP, 85% of the time (3.3 ms of a
/// 3.4 ms call, `perf`: `clear_page_erms`, `exc_page_fault`). Raising
/// glibc's mmap threshold to 32 MiB and its trim threshold to 512 MiB (the
/// `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_` tunables) keeps such
/// buffers in the heap's free lists, where the next step finds them, at the
/// price of a resident size that stays near the peak instead of shrinking
/// between steps (as with jemalloc or PyTorch's caching allocator). It is
/// done once, before tapegrad's first allocation; the environment variables
/// above still win if the user sets them, and `TAPEGRAD_KEEP_FREED=0`
/// leaves glibc's defaults alone. Elsewhere (musl, macOS, Windows) it does
/// nothing.
fn keep_freed_buffers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        {
            let user_set = |name: &str| std::env::var_os(name).is_some();
            if std::env::var("TAPEGRAD_KEEP_FREED").is_ok_and(|v| v == "0") {
                return;
            }
            // SAFETY: `mallopt` only sets allocator parameters; it is safe to
            // call at any time with any values (invalid ones are refused and
            // it returns 0, which changes nothing).
            unsafe {
                if !user_set("MALLOC_MMAP_THRESHOLD_") {
                    libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as i32);
                }
                if !user_set("MALLOC_TRIM_THRESHOLD_") {
                    libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as i32);
                }
            }
        }
        let _ = (MMAP_THRESHOLD, TRIM_THRESHOLD);
    });
}

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
    keep_freed_buffers();
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
    keep_freed_buffers();
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
