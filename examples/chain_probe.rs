use std::time::Instant;
use tapegrad::autodiff::Tape;
use tapegrad::prelude::*;
fn main() {
    for _ in 0..5 {
        let t0 = Instant::now();
        let tape = Tape::<f32>::new();
        let x0 = tape.var(Tensor::from_vec(vec![0.5], &[1]));
        let mut x = x0;
        for i in 0..10_000 {
            x = match i % 3 { 0 => x * 1.0001, 1 => x + 0.0001, _ => x.tanh() };
        }
        let t1 = Instant::now();
        let g = x.backward();
        let t2 = Instant::now();
        println!("fwd {:?} bwd {:?} total {:?} grad {}", t1 - t0, t2 - t1, t2 - t0, g[x0].item());
    }
}
