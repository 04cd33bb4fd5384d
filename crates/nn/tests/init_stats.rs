//! Initialisers: sample statistics against the formulas (tolerances from
//! the sample size, not guessed), exact bounds, orthogonality, fans, gains
//! and seeding.
//!
//! For `n` independent draws with standard deviation `σ`, the sample mean
//! has standard error `σ / √n`; the sample variance has standard error
//! `√((μ₄ - σ⁴) / n)`, which is `σ² √(2 / n)` for a normal distribution
//! (`μ₄ = 3σ⁴`) and `σ² √(0.8 / n)` for a uniform one (`μ₄ = 9σ⁴ / 5`).
//! Every check allows 5 standard errors (a false alarm about once in
//! 3.5 million per check), while a formula off by a factor of √2 in the
//! scale moves the variance by 2x, hundreds of standard errors.

use rand::rngs::StdRng;
use rand::SeedableRng;
use tapegrad_nn::init::{
    self, calculate_fan_in_and_fan_out, calculate_gain, FanMode, Init, Nonlinearity,
};
use tapegrad_tensor::{Float, Tensor};

const SIGMAS: f64 = 5.0;

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Sample size, mean, unbiased variance, min and max.
struct Moments {
    n: f64,
    mean: f64,
    var: f64,
    min: f64,
    max: f64,
}

fn moments<E: Float>(t: &Tensor<E>) -> Moments {
    let v = t.to_f64_vec();
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Moments {
        n,
        mean,
        var,
        min,
        max,
    }
}

/// Mean and variance within `SIGMAS` standard errors; `excess` is
/// `μ₄/σ⁴ - 1` (2 for a normal distribution, 0.8 for a uniform one).
fn assert_moments(m: &Moments, mean: f64, std: f64, excess: f64, what: &str) {
    let var = std * std;
    let mean_tol = SIGMAS * std / m.n.sqrt();
    let var_tol = SIGMAS * var * (excess / (m.n - 1.0)).sqrt();
    assert!(
        (m.mean - mean).abs() <= mean_tol,
        "{what}: sample mean {} vs {mean} (tolerance {mean_tol:.3e})",
        m.mean
    );
    assert!(
        (m.var - var).abs() <= var_tol,
        "{what}: sample variance {} vs {var} (tolerance {var_tol:.3e})",
        m.var
    );
}

fn assert_normal<E: Float>(t: &Tensor<E>, mean: f64, std: f64, what: &str) {
    assert_moments(&moments(t), mean, std, 2.0, what);
}

/// `U(low, high)`: every sample inside the bounds (as the element type
/// rounds them), mean and variance of the formula, and the extremes close
/// to the bounds, so a bound that is too tight fails as well.
fn assert_uniform<E: Float>(t: &Tensor<E>, low: f64, high: f64, what: &str) {
    let m = moments(t);
    let (lo, hi) = (E::from_f64(low).to_f64(), E::from_f64(high).to_f64());
    assert!(
        m.min >= lo && m.max <= hi,
        "{what}: samples in [{}, {}], bounds [{lo}, {hi}]",
        m.min,
        m.max
    );
    // P(no sample within δ (high - low) of a bound) = (1 - δ)^n; δ = 30/n gives e^-30.
    let slack = 30.0 / m.n * (high - low);
    assert!(
        m.max > high - slack && m.min < low + slack,
        "{what}: extremes [{}, {}] far from bounds [{low}, {high}]",
        m.min,
        m.max
    );
    assert_moments(
        &m,
        (low + high) / 2.0,
        (high - low) / 12f64.sqrt(),
        0.8,
        what,
    );
}

#[test]
fn gains_match_pytorch() {
    // torch.nn.init.calculate_gain
    assert_eq!(calculate_gain(Nonlinearity::Linear), 1.0);
    assert_eq!(calculate_gain(Nonlinearity::Identity), 1.0);
    assert_eq!(calculate_gain(Nonlinearity::Conv), 1.0);
    assert_eq!(calculate_gain(Nonlinearity::Sigmoid), 1.0);
    assert_eq!(calculate_gain(Nonlinearity::Tanh), 5.0 / 3.0);
    assert_eq!(calculate_gain(Nonlinearity::ReLU), std::f64::consts::SQRT_2);
    assert_eq!(calculate_gain(Nonlinearity::SELU), 0.75);
    // math.sqrt(2.0 / (1 + 0.2 ** 2)) = 1.3867504905630728
    assert!((calculate_gain(Nonlinearity::LeakyReLU(0.2)) - 1.386_750_490_563_072_8).abs() < 1e-15);
    assert_eq!(
        calculate_gain(Nonlinearity::LeakyReLU(0.0)),
        std::f64::consts::SQRT_2
    );
    // a = √5 (nn.Linear's default): √(2 / 6) = 1/√3
    assert!(
        (calculate_gain(Nonlinearity::LeakyReLU(5f64.sqrt())) - 1.0 / 3f64.sqrt()).abs() < 1e-15
    );
}

#[test]
fn fans_follow_pytorch_conventions() {
    assert_eq!(calculate_fan_in_and_fan_out(&[128, 64]), (64, 128)); // Linear [out, in]
    assert_eq!(calculate_fan_in_and_fan_out(&[64, 32, 3, 3]), (288, 576)); // Conv2d [out, in, kh, kw]
    assert_eq!(calculate_fan_in_and_fan_out(&[10, 4, 3]), (12, 30)); // Conv1d
    assert_eq!(calculate_fan_in_and_fan_out(&[2, 3, 4, 5, 6]), (360, 240)); // Conv3d
}

#[test]
#[should_panic(expected = "at least 2 dimensions, got shape [7]")]
fn fans_of_a_vector_panic() {
    calculate_fan_in_and_fan_out(&[7]);
}

#[test]
fn constants() {
    assert_eq!(init::zeros::<f32>(&[2, 3]).to_vec(), vec![0.0; 6]);
    assert_eq!(init::ones::<f64>(&[4]).to_vec(), vec![1.0; 4]);
    assert_eq!(init::constant::<f32>(&[2, 2], 0.25).to_vec(), vec![0.25; 4]);
    assert_eq!(
        init::uniform::<f64>(&[3], 0.5, 0.5, &mut rng(0)).to_vec(),
        vec![0.5; 3]
    );
    assert_eq!(
        Init::Constant(-2.0)
            .tensor::<f32>(&[3], &mut rng(0))
            .to_vec(),
        vec![-2.0; 3]
    );
}

#[test]
fn uniform_and_normal() {
    let t = init::uniform::<f32>(&[512, 512], -0.3, 0.7, &mut rng(1));
    assert_uniform(&t, -0.3, 0.7, "uniform(-0.3, 0.7)");
    let t = init::normal::<f64>(&[512, 512], 1.5, 0.2, &mut rng(2));
    assert_normal(&t, 1.5, 0.2, "normal(1.5, 0.2)");
}

#[test]
fn xavier() {
    // [out, in] = [256, 1024]: fan_in 1024, fan_out 256, fan_in + fan_out = 1280.
    let shape = [256, 1024];
    let gain = 5.0 / 3.0;
    let t = init::xavier_uniform::<f32>(&shape, gain, &mut rng(3));
    let bound = gain * (6.0f64 / 1280.0).sqrt();
    assert_uniform(&t, -bound, bound, "xavier_uniform");
    let t = init::xavier_normal::<f32>(&shape, 1.0, &mut rng(4));
    assert_normal(&t, 0.0, (2.0f64 / 1280.0).sqrt(), "xavier_normal");
}

#[test]
fn kaiming_uniform_fan_in_and_fan_out_differ() {
    let shape = [256, 1024]; // fan_in 1024, fan_out 256
    let relu = Nonlinearity::ReLU;
    let t = init::kaiming_uniform::<f32>(&shape, FanMode::FanIn, relu, &mut rng(5));
    let bound = 2f64.sqrt() * (3.0f64 / 1024.0).sqrt();
    assert_uniform(&t, -bound, bound, "kaiming_uniform fan_in");
    let t = init::kaiming_uniform::<f32>(&shape, FanMode::FanOut, relu, &mut rng(6));
    let bound = 2f64.sqrt() * (3.0f64 / 256.0).sqrt();
    assert_uniform(&t, -bound, bound, "kaiming_uniform fan_out");
}

#[test]
fn kaiming_normal_on_a_conv_weight() {
    let shape = [64, 32, 3, 3]; // fan_in 288, fan_out 576; 18432 samples
    let relu = Nonlinearity::ReLU;
    let t = init::kaiming_normal::<f64>(&shape, FanMode::FanIn, relu, &mut rng(7));
    assert_normal(
        &t,
        0.0,
        (2.0f64 / 288.0).sqrt(),
        "kaiming_normal conv fan_in",
    );
    let t = init::kaiming_normal::<f64>(&shape, FanMode::FanOut, relu, &mut rng(8));
    assert_normal(
        &t,
        0.0,
        (2.0f64 / 576.0).sqrt(),
        "kaiming_normal conv fan_out",
    );
    let leaky = Nonlinearity::LeakyReLU(0.1);
    let t = init::kaiming_normal::<f32>(&[512, 512], FanMode::FanIn, leaky, &mut rng(9));
    assert_normal(
        &t,
        0.0,
        (2.0f64 / 1.01 / 512.0).sqrt(),
        "kaiming_normal leaky",
    );
}

#[test]
fn lecun() {
    let shape = [300, 700]; // fan_in 700
    let t = init::lecun_normal::<f32>(&shape, &mut rng(10));
    assert_normal(&t, 0.0, (1.0f64 / 700.0).sqrt(), "lecun_normal");
    let t = init::lecun_uniform::<f32>(&shape, &mut rng(11));
    let bound = (3.0f64 / 700.0).sqrt();
    assert_uniform(&t, -bound, bound, "lecun_uniform");
}

#[test]
fn pytorch_linear_default_is_uniform_one_over_sqrt_fan_in() {
    let t = Init::PYTORCH_DEFAULT.tensor::<f32>(&[300, 700], &mut rng(12));
    let bound = 1.0 / 700f64.sqrt();
    assert_uniform(&t, -bound, bound, "kaiming_uniform(a = √5)");
}

/// `W Wᵀ`, in f64.
fn gram<E: Float>(w: &Tensor<E>) -> Tensor<f64> {
    let w = w.cast::<f64>();
    w.matmul(&w.t())
}

fn assert_scaled_identity(g: &Tensor<f64>, scale: f64, tol: f64, what: &str) {
    let n = g.shape()[0];
    let expected = Tensor::<f64>::eye(n).mul_scalar(scale);
    let worst = g.sub(&expected).abs().max(&[]).item();
    assert!(
        worst <= tol,
        "{what}: W Wᵀ differs from {scale} I by {worst:.3e}"
    );
}

#[test]
fn orthogonal_rows_or_columns_are_orthonormal() {
    let w = init::orthogonal::<f32>(&[512, 512], 1.0, &mut rng(13));
    assert_scaled_identity(&gram(&w), 1.0, 1e-5, "square 512");
    assert_scaled_identity(&gram(&w.t()), 1.0, 1e-5, "square 512 (columns)");
    let w = init::orthogonal::<f32>(&[64, 256], 2.0, &mut rng(14)); // wide: rows orthogonal
    assert_scaled_identity(&gram(&w), 4.0, 1e-5, "wide, gain 2");
    let w = init::orthogonal::<f64>(&[256, 64], 0.5, &mut rng(15)); // tall: columns orthogonal
    assert_scaled_identity(&gram(&w.t()), 0.25, 1e-12, "tall, gain 0.5");
    let w = init::orthogonal::<f64>(&[16, 8, 3, 3], 1.0, &mut rng(16)); // conv: [16, 72]
    assert_eq!(w.shape(), &[16, 8, 3, 3]);
    assert_scaled_identity(&gram(&w.reshape(&[16, 72])), 1.0, 1e-12, "conv");
}

/// PyTorch's algorithm: `A` standard normal, `A = Q R` with `R`'s diagonal
/// made positive. Redrawing `A` from the same seed, `Qᵀ A = R` must be
/// upper triangular with a positive diagonal (for a wide weight, the QR is
/// of `Aᵀ` and `W = Qᵀ`, so `W Aᵀ = R`).
#[test]
fn orthogonal_is_the_sign_corrected_q_of_a_normal_matrix() {
    for (rows, cols) in [(40, 24), (24, 40), (30, 30)] {
        let w = init::orthogonal::<f64>(&[rows, cols], 1.0, &mut rng(17));
        let a = Tensor::<f64>::rand_normal(&[rows, cols], 0.0, 1.0, &mut rng(17));
        let r = if rows >= cols {
            w.t().matmul(&a)
        } else {
            w.matmul(&a.t())
        };
        let k = rows.min(cols);
        assert_eq!(r.shape(), &[k, k]);
        for i in 0..k {
            assert!(
                r.get(&[i, i]) > 0.0,
                "{rows}x{cols}: R[{i}, {i}] = {} is not positive",
                r.get(&[i, i])
            );
            for j in 0..i {
                assert!(
                    r.get(&[i, j]).abs() < 1e-12,
                    "{rows}x{cols}: R[{i}, {j}] = {} below the diagonal",
                    r.get(&[i, j])
                );
            }
        }
    }
}

#[test]
fn orthogonal_entries_have_the_rms_of_init_std() {
    let shape = [128, 512];
    let w = init::orthogonal::<f64>(&shape, 1.5, &mut rng(18));
    let rms = (w.square().mean(&[]).item()).sqrt();
    let expected = Init::Orthogonal { gain: 1.5 }.std(&shape);
    assert!((rms - expected).abs() < 1e-12, "rms {rms} vs {expected}");
}

fn all_schemes() -> Vec<Init> {
    let (mode, nonlinearity) = (FanMode::FanOut, Nonlinearity::Tanh);
    vec![
        Init::Uniform {
            low: -1.0,
            high: 2.0,
        },
        Init::Normal {
            mean: 0.5,
            std: 2.0,
        },
        Init::XavierUniform { gain: 1.0 },
        Init::XavierNormal { gain: 2.0 },
        Init::KaimingUniform { mode, nonlinearity },
        Init::KaimingNormal { mode, nonlinearity },
        Init::LecunUniform,
        Init::LecunNormal,
        Init::Orthogonal { gain: 1.0 },
    ]
}

#[test]
fn same_seed_same_weights_other_seed_other_weights() {
    for scheme in all_schemes() {
        let a = scheme.tensor::<f32>(&[32, 48], &mut rng(19));
        let b = scheme.tensor::<f32>(&[32, 48], &mut rng(19));
        let c = scheme.tensor::<f32>(&[32, 48], &mut rng(20));
        assert_eq!(a.to_vec(), b.to_vec(), "{scheme}: same seed");
        assert_ne!(a.to_vec(), c.to_vec(), "{scheme}: other seed");
    }
}

#[test]
fn init_enum_draws_what_the_functions_draw() {
    let s = [64, 96];
    let (mode, nl) = (FanMode::FanOut, Nonlinearity::Tanh);
    let by_fn: Vec<Tensor<f64>> = vec![
        init::uniform(&s, -1.0, 2.0, &mut rng(21)),
        init::normal(&s, 0.5, 2.0, &mut rng(21)),
        init::xavier_uniform(&s, 1.0, &mut rng(21)),
        init::xavier_normal(&s, 2.0, &mut rng(21)),
        init::kaiming_uniform(&s, mode, nl, &mut rng(21)),
        init::kaiming_normal(&s, mode, nl, &mut rng(21)),
        init::lecun_uniform(&s, &mut rng(21)),
        init::lecun_normal(&s, &mut rng(21)),
        init::orthogonal(&s, 1.0, &mut rng(21)),
    ];
    for (scheme, expected) in all_schemes().into_iter().zip(by_fn) {
        assert_eq!(
            scheme.tensor::<f64>(&s, &mut rng(21)).to_vec(),
            expected.to_vec(),
            "{scheme}"
        );
    }
}

#[test]
fn init_std_is_the_sample_std() {
    let shape = [384, 512];
    for scheme in all_schemes() {
        let t = scheme.tensor::<f64>(&shape, &mut rng(22));
        let m = moments(&t);
        let std = scheme.std(&shape);
        // Variance within 5 standard errors (normal kurtosis is the larger of
        // the two; orthogonal entries' squares sum to a constant, closer still).
        let tol = SIGMAS * std * std * (2.0 / (m.n - 1.0)).sqrt();
        let sample_var = m.var;
        assert!(
            (sample_var - std * std).abs() <= tol,
            "{scheme}: variance {sample_var} vs {}",
            std * std
        );
    }
}

#[test]
fn zero_element_weights_do_not_panic() {
    let t = init::kaiming_normal::<f32>(&[0, 5], FanMode::FanIn, Nonlinearity::ReLU, &mut rng(0));
    assert_eq!(t.shape(), &[0, 5]);
    let t = init::xavier_uniform::<f32>(&[3, 0], 1.0, &mut rng(0));
    assert_eq!(t.numel(), 0);
    assert_eq!(
        init::orthogonal::<f32>(&[0, 4], 1.0, &mut rng(0)).numel(),
        0
    );
}
