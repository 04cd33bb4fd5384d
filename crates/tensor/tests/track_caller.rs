//! Shape errors point at the caller's line (`#[track_caller]` all the way
//! down), so a user sees their own code in the panic message, not the crate's.
//!
//! The tests here install a process-wide panic hook, so they take turns
//! (`SERIAL`) and share one hook.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, Once};
use tapegrad_tensor::{conv_output_size, Tensor};

static LOCATION: Mutex<Option<(String, u32)>> = Mutex::new(None);
static SERIAL: Mutex<()> = Mutex::new(());
static HOOK: Once = Once::new();

/// Records the location of every panic in `LOCATION`, then prints it as
/// usual (installed once).
fn install_hook() {
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let loc = info.location().map(|l| (l.file().to_string(), l.line()));
            *LOCATION.lock().unwrap() = loc;
            default(info); // still print (captured by the test harness)
        }));
    });
}

/// The file and line a panic inside `f` reported.
fn location_of<R>(f: impl FnOnce() -> R) -> (String, u32) {
    *LOCATION.lock().unwrap() = None;
    let r = catch_unwind(AssertUnwindSafe(f));
    assert!(r.is_err(), "expected a panic");
    LOCATION.lock().unwrap().take().expect("hook ran")
}

/// Runs `$e`, expecting a panic reported in this file on the line of the
/// macro call (or the next few, should the formatter wrap the call).
macro_rules! at_caller {
    ($wrong:ident, $name:literal, $e:expr) => {{
        let line = line!();
        let got = location_of(|| $e);
        if got.0 != file!() || got.1 < line || got.1 > line + 3 {
            $wrong.push(($name, got));
        }
    }};
}

#[test]
fn shape_errors_report_the_callers_line() {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    install_hook();
    let z = |s: &[usize]| Tensor::<f32>::zeros(s);
    let (a, b) = (z(&[2, 3]), z(&[4, 5]));
    let idx = tapegrad_tensor::IndexTensor::from_vec(vec![9], &[1, 1]);
    let mut wrong = Vec::new();
    at_caller!(wrong, "matmul", a.matmul(&b));
    at_caller!(wrong, "matmul batch", z(&[2, 1, 1]).matmul(&z(&[3, 1, 1])));
    at_caller!(wrong, "add", a.add(&b));
    at_caller!(wrong, "where_cond", a.where_cond(&a, &b));
    at_caller!(wrong, "reshape", a.reshape(&[7]));
    at_caller!(wrong, "sum", a.sum(&[5]));
    at_caller!(wrong, "concat", Tensor::concat(&[&a, &b], 0));
    at_caller!(wrong, "stack", Tensor::stack(&[&a, &b], 0));
    at_caller!(wrong, "index_select", a.index_select(0, &[9]));
    at_caller!(wrong, "gather", a.gather(1, &idx));
    at_caller!(wrong, "scatter_add", a.scatter_add(1, &idx, &a));
    at_caller!(wrong, "index_add", a.index_add(0, &[0], &b));
    at_caller!(wrong, "pad_axis", a.pad_axis(4, 1, 1, 0.0));
    at_caller!(wrong, "one_hot", Tensor::<f32>::one_hot(&[3], 2));
    at_caller!(wrong, "im2col", a.im2col((1, 1), (1, 1), (0, 0), (1, 1)));
    at_caller!(
        wrong,
        "col2im",
        a.col2im((2, 2), (1, 1), (1, 1), (0, 0), (1, 1))
    );
    at_caller!(wrong, "conv_output_size", conv_output_size(1, 3, 1, 0, 1));
    let img = z(&[1, 1, 2, 2]);
    at_caller!(
        wrong,
        "conv2d",
        img.conv2d(&a, None, (1, 1), (0, 0), (1, 1))
    );
    at_caller!(
        wrong,
        "conv_transpose2d",
        img.conv_transpose2d(&img, (9, 9), (1, 1), (0, 0), (1, 1))
    );
    at_caller!(
        wrong,
        "conv2d_weight_grad",
        img.conv2d_weight_grad(&a, (1, 1), (1, 1), (0, 0), (1, 1))
    );
    assert!(
        wrong.is_empty(),
        "panics not at the caller's line: {wrong:#?}"
    );
}
