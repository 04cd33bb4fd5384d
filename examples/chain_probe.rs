//! Profiling probe (temporary).
use tapegrad::autodiff::Tape;
use tapegrad::prelude::*;
fn main() {
    let tape = Tape::<f32>::new();
    let x0 = tape.var(Tensor::from_vec(vec![0.5], &[1]));
    let mut x = x0;
    for i in 0..10_000 {
        x = match i % 3 {
            0 => x * 1.0001,
            1 => x + 0.0001,
            _ => x.tanh(),
        };
    }
    let g = x.backward();
    println!("grad {}", g[x0].item());
}
