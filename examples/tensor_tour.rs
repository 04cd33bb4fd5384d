//! A short tour of the tensor crate: views, broadcasting, reductions, matmul.
//!
//! Run: `cargo run --release --example tensor_tour` (`-- --help` for the flag).

use clap::Parser;
use rand::SeedableRng;
use tapegrad::prelude::*;

/// A short tour of the tensor crate.
#[derive(Parser, Debug)]
#[command(name = "tensor_tour")]
struct Settings {
    /// Seed of the random tensors.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

fn main() {
    let s = Settings::parse();
    let mut rng = rand::rngs::StdRng::seed_from_u64(s.seed);
    let x = Tensor::<f32>::rand_normal(&[4, 3], 0.0, 1.0, &mut rng);
    let w = Tensor::<f32>::rand_normal(&[3, 2], 0.0, 1.0, &mut rng);
    let b = Tensor::<f32>::from_vec(vec![0.5, -0.5], &[2]);
    let y = x.matmul(&w).add(&b).relu();
    println!("x^T is a view of x: {}", x.t().shares_storage_with(&x));
    println!("y = relu(x w + b): shape {:?}", y.shape());
    println!("{:?}", y.to_vec());
    println!("column sums: {:?}", y.sum(&[0]).to_vec());
    println!("row logsumexp: {:?}", y.logsumexp(&[1]).to_vec());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_checked() {
        let parse = |args: &[&str]| {
            Settings::try_parse_from(std::iter::once("tensor_tour").chain(args.iter().copied()))
        };
        assert_eq!(parse(&["--seed", "3"]).unwrap().seed, 3);
        assert!(parse(&["--sed", "3"]).is_err());
        assert!(parse(&["--seed"]).is_err());
        assert!(parse(&["--seed", "x"]).is_err());
    }
}
