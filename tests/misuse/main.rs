//! Misuse: what an adversarial new user tries, and what tapegrad must do
//! about it (issue 11). One module per class of broken promise; every test
//! here failed on the code before the fix it guards.
//!
//! - `memory`: shape, stride and offset arithmetic is checked; huge sizes
//!   panic with a message naming the op and the shape, never wrap or abort.
//! - `gradients`: vars from two tapes are never combined silently; class
//!   indices stay integers; NaN propagates as in PyTorch.
//! - `options`: options and arguments that would make a check meaningless
//!   are refused.
//!
//! The nn-level classes (hangs, file limits, command-line tools, threads)
//! are in `crates/nn/tests/misuse.rs` and the examples' own tests.

mod gradients;
mod memory;
mod options;

/// Runs `f`, returning its value or the message it panicked with.
pub fn outcome<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "<a panic without a message>".into())
    })
}

/// Runs `f`, which must panic with a message containing every one of `parts`.
#[track_caller]
pub fn panics_with<T>(parts: &[&str], f: impl FnOnce() -> T) {
    match outcome(f) {
        Ok(_) => panic!("expected a panic mentioning {parts:?}, but the call succeeded"),
        Err(msg) => {
            for p in parts {
                assert!(
                    msg.contains(p),
                    "panic message {msg:?} does not mention {p:?}"
                );
            }
        }
    }
}
