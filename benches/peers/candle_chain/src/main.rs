//! candle's side of the tape-overhead chain in `benches/tape.rs`: 10,000
//! ops on a 1-element f32 tensor (op i % 3: `x * 1.0001`, `x + 0.0001`,
//! `tanh x`), forward alone and forward + backward, median of `--reps`
//! (default 21) after one warm-up, on the calling thread.
//!
//! Run: `cargo run --release --manifest-path benches/peers/candle_chain/Cargo.toml [-- --reps N]`

use candle_core::{Device, Result, Tensor, Var};
use std::time::Instant;

const CHAIN: usize = 10_000;

fn chain(x0: &Tensor) -> Result<Tensor> {
    let mut x = x0.clone();
    for i in 0..CHAIN {
        x = match i % 3 {
            0 => (x * 1.0001)?,
            1 => (x + 0.0001)?,
            _ => x.tanh()?,
        };
    }
    Ok(x)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let reps = args
        .iter()
        .position(|a| a == "--reps")
        .and_then(|i| args.get(i + 1))
        .map_or(21, |v| v.parse().expect("--reps takes a count"));
    let x = Var::from_tensor(&Tensor::new(&[0.5f32], &Device::Cpu)?)?;
    let (mut fwd, mut total) = (Vec::new(), Vec::new());
    let mut grad = 0.0;
    for rep in 0..=reps {
        let t0 = Instant::now();
        let y = chain(x.as_tensor())?;
        let t1 = Instant::now();
        let grads = y.sum_all()?.backward()?;
        grad = grads
            .get(x.as_tensor())
            .expect("x has a gradient")
            .to_vec1::<f32>()?[0];
        let t2 = Instant::now();
        if rep > 0 {
            fwd.push((t1 - t0).as_secs_f64());
            total.push((t2 - t0).as_secs_f64());
        }
    }
    println!("candle: d out / d x = {grad}");
    println!(
        "candle chain 10k ops, fwd+bwd: {:.3} ms",
        median(total) * 1e3
    );
    println!("candle chain 10k ops, fwd:     {:.3} ms", median(fwd) * 1e3);
    Ok(())
}
