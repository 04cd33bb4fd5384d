//! Optimiser updates run in one pass and in place when the parameter's
//! storage is not shared: after `backward_consuming` (which lets go of the
//! tape's reference) the parameter keeps its buffer from step to step, and
//! the trajectory is bit-identical to the out-of-place path taken after a
//! plain `backward` (where the tape still shares the buffer).

use rand::SeedableRng;
use tapegrad_autodiff::Tape;
use tapegrad_nn::loss::mse;
use tapegrad_nn::optim::{Adam, AdamW, Optimizer, SGD};
use tapegrad_nn::{Linear, Module, Sequential, Tanh};
use tapegrad_tensor::Tensor;

fn model(seed: u64) -> Sequential<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Sequential::new()
        .add(Linear::new(4, 8, &mut rng))
        .add(Tanh)
        .add(Linear::new(8, 2, &mut rng))
}

fn data() -> (Tensor<f64>, Tensor<f64>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    (
        Tensor::rand_normal(&[16, 4], 0.0, 1.0, &mut rng),
        Tensor::rand_normal(&[16, 2], 0.0, 1.0, &mut rng),
    )
}

/// Every parameter's values, in visiting order.
fn values(m: &Sequential<f64>) -> Vec<Vec<u64>> {
    let mut out = Vec::new();
    m.visit_params(&mut |_, p| out.push(p.value().to_vec().iter().map(|v| v.to_bits()).collect()));
    out
}

/// The storage address of every parameter.
fn buffers(m: &Sequential<f64>) -> Vec<usize> {
    let mut out = Vec::new();
    m.visit_params(&mut |_, p| out.push(p.value().storage().as_ptr() as usize));
    out
}

fn train(opt: &mut dyn Optimizer<f64>, consuming: bool, check_in_place: bool) -> Vec<Vec<u64>> {
    let mut m = model(7);
    let (x, y) = data();
    for step in 0..5 {
        let before = buffers(&m);
        let tape = Tape::new();
        let loss = mse(
            m.forward(tape.constant(x.clone())),
            tape.constant(y.clone()),
        );
        let grads = if consuming {
            loss.backward_consuming()
        } else {
            loss.backward()
        };
        opt.step(&mut m, &grads);
        if check_in_place {
            assert_eq!(buffers(&m), before, "step {step}: updated in place");
        } else {
            assert!(
                buffers(&m).iter().zip(&before).all(|(a, b)| a != b),
                "step {step}: a new buffer while the tape shares the old one"
            );
        }
    }
    values(&m)
}

/// A named constructor of a fresh optimiser.
type MakeOptimizer = (&'static str, fn() -> Box<dyn Optimizer<f64>>);

#[test]
fn updates_are_in_place_when_unshared_and_identical_either_way() {
    let makers: Vec<MakeOptimizer> = vec![
        ("sgd", || Box::new(SGD::new(0.1))),
        ("sgd momentum", || {
            Box::new(SGD::new(0.1).momentum(0.9).weight_decay(1e-3))
        }),
        ("sgd nesterov", || {
            Box::new(SGD::new(0.1).momentum(0.9).nesterov(true))
        }),
        ("adam", || Box::new(Adam::new(1e-2).weight_decay(1e-3))),
        ("adamw amsgrad", || Box::new(AdamW::new(1e-2).amsgrad(true))),
    ];
    for (name, make) in makers {
        let fresh = train(make().as_mut(), false, false);
        let in_place = train(make().as_mut(), true, true);
        assert_eq!(fresh, in_place, "{name}: same trajectory bit for bit");
    }
}
