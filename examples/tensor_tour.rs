//! A short tour of the tensor crate: views, broadcasting, reductions, matmul.
//!
//! Run: `cargo run --release --example tensor_tour`

use rand::SeedableRng;
use tapegrad::prelude::*;

fn main() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let x = Tensor::<f32>::rand_normal(&[4, 3], 0.0, 1.0, &mut rng);
    let w = Tensor::<f32>::rand_normal(&[3, 2], 0.0, 1.0, &mut rng);
    let b = Tensor::<f32>::from_vec(vec![0.5, -0.5], &[2]);
    let y = x.matmul(&w).add(&b).relu();
    println!("x^T is a view of x: {}", x.t().shares_storage_with(&x));
    println!("y = relu(x w + b): shape {:?}", y.shape());
    println!("{:?}", y.to_vec());
    println!("column sums: {:?}", y.sum(&[0], false).to_vec());
    println!("row logsumexp: {:?}", y.logsumexp(&[1], false).to_vec());
}
