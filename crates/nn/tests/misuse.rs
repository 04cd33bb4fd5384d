//! Issue 11: no safe call may crash, hang, read out of bounds or return a
//! wrong value. Each test here failed (hung, panicked obscurely, allocated
//! gigabytes or returned a wrong value) before the fix it guards.

use rand::rngs::StdRng;
use rand::SeedableRng;
use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;
use tapegrad_autodiff::Tape;
use tapegrad_nn::checkpoint::{load_safetensors, to_bytes};
use tapegrad_nn::data::{load_bundled_digits, parse_idx, parse_idx_limited, DataError, Dataset};
use tapegrad_nn::init;
use tapegrad_nn::optim::{clip_grad_norm, Adam, Optimizer, ParamGrads, StateError, SGD};
use tapegrad_nn::recurrent::{unroll_sequence, RecurrentCell, LSTM, RNN};
use tapegrad_nn::study::{train, Activation, Budget, Cure, MlpConfig, Scheme};
use tapegrad_nn::{Conv2d, Linear, MaxPool2d, Module, Sequential};
use tapegrad_tensor::Tensor;

/// Runs `f` on its own thread and gives its result (or its panic message),
/// failing the test if it has not finished within `secs` seconds (a hang).
fn within<T: Send + 'static>(
    secs: u64,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(out.map_err(|p| panic_text(&p)));
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(out) => out,
        Err(_) => panic!("did not finish within {secs} s (a hang)"),
    }
}

/// The message of a caught panic.
fn panic_text(payload: &Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Tests that measure memory run one at a time, so one's allocations do
/// not show in another's peak.
static MEMORY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f` alone (under [`MEMORY`]) and gives its result and by how many
/// bytes the process's peak resident memory rose above what was resident
/// when it started (Linux: `VmHWM`, reset through `/proc/self/clear_refs`).
fn peak_growth<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let _alone = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = peak_rss();
    let out = f();
    (out, peak_rss().saturating_sub(before))
}

/// Peak resident memory of this process (Linux `VmHWM`), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// A scratch path unique to this test process and `name`.
fn scratch(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("tapegrad-misuse-{}-{name}", std::process::id()))
}

fn small_mlp() -> MlpConfig {
    MlpConfig {
        depth: 2,
        width: 8,
        activation: Activation::Tanh,
        scheme: Scheme::Xavier,
        cure: Cure::Plain,
    }
}

fn digits_subset(n: usize) -> Dataset<f32> {
    let digits = load_bundled_digits::<f32>().unwrap();
    digits.subset(&(0..n).collect::<Vec<_>>())
}

// ---------------------------------------------------------------------------
// Section 3: no hang, no unbounded memory.
// ---------------------------------------------------------------------------

#[test]
fn study_train_with_zero_steps_returns_the_untrained_model_at_once() {
    let (model, outcome) = within(60, || {
        let data = digits_subset(100);
        let budget = Budget {
            steps: 0,
            ..Budget::default()
        };
        let (model, outcome) = train(&small_mlp(), &data, &data, &budget, 0);
        (model.num_parameters(), outcome)
    })
    .unwrap();
    assert_eq!(model, 64 * 8 + 8 + 8 * 8 + 8 + 8 * 10 + 10);
    assert!(outcome.losses.is_empty());
    assert_eq!(outcome.diverged_at, None);
    assert!(outcome.final_loss(10).is_nan(), "no step, no loss");
    assert!((0.0..=1.0).contains(&outcome.test_accuracy));
}

#[test]
fn study_train_on_an_empty_training_set_panics_naming_it() {
    let err = within(60, || {
        let test = digits_subset(10);
        let empty = test.subset(&[]);
        let budget = Budget {
            steps: 5,
            ..Budget::default()
        };
        train(&small_mlp(), &empty, &test, &budget, 0)
            .1
            .losses
            .len()
    })
    .unwrap_err();
    assert!(err.contains("train") && err.contains("empty"), "{err}");
}

#[test]
fn study_train_with_batch_size_zero_panics_naming_it() {
    let err = within(60, || {
        let data = digits_subset(10);
        let budget = Budget {
            steps: 0,
            batch_size: 0,
            ..Budget::default()
        };
        train(&small_mlp(), &data, &data, &budget, 0).1.losses.len()
    })
    .unwrap_err();
    assert!(err.contains("batch_size") && err.contains('0'), "{err}");
}

#[test]
fn study_accuracy_of_an_empty_set_is_nan_not_zero() {
    let data = digits_subset(10);
    let mut rng = StdRng::seed_from_u64(0);
    let model = small_mlp().build::<f32>(&data.features(), 10, &mut rng);
    let acc = tapegrad_nn::study::accuracy(&model, &data.subset(&[]));
    assert!(acc.is_nan(), "accuracy of no samples was {acc}");
}

/// gzip of `bytes`.
fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// An IDX `u8` header with `dims`.
fn idx_header(dims: &[u32]) -> Vec<u8> {
    let mut bytes = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        bytes.extend_from_slice(&d.to_be_bytes());
    }
    bytes
}

#[test]
fn idx_header_claiming_2_pow_62_bytes_is_refused_before_inflating() {
    // 64 MiB of zeros compress to ~64 KiB: the old reader inflated all of it
    // (a 3 MB file: gigabytes) before saying the data was short.
    let gz = {
        let _alone = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
        let mut plain = idx_header(&[1 << 31, 1 << 31]);
        plain.resize(plain.len() + (64 << 20), 0);
        gzip(&plain)
    };
    let (err, grew) = peak_growth(|| parse_idx(&gz).unwrap_err());
    let msg = err.to_string();
    assert_eq!(
        msg,
        "<memory>: byte 4: dimensions [2147483648, 2147483648] declare 4611686018427387904 \
         bytes of data, over the limit of 4294967296"
    );
    assert!(grew < 32 << 20, "peak memory grew by {grew} bytes");
}

#[test]
fn idx_claimed_size_is_checked_against_the_limit_given() {
    let mut plain = idx_header(&[10, 10]);
    plain.resize(plain.len() + 100, 7);
    assert_eq!(parse_idx_limited(&plain, 100).unwrap().dims(), &[10, 10]);
    let err = parse_idx_limited(&gzip(&plain), 99).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::TooLarge {
                claimed: 100,
                limit: 99,
                ..
            }
        ),
        "{err:?}"
    );
}

/// A sparse file of `len` bytes that starts with `head`.
fn sparse_file(name: &str, head: &[u8], len: u64) -> std::path::PathBuf {
    let path = scratch(name);
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(head).unwrap();
    f.set_len(len).unwrap();
    path
}

#[test]
fn checkpoint_of_1_gib_with_a_zero_header_length_fails_without_reading_it() {
    let path = sparse_file("zero-header.safetensors", &[], 1 << 30);
    let (err, grew) = peak_growth(|| load_safetensors::<f32>(&path).unwrap_err().to_string());
    std::fs::remove_file(&path).unwrap();
    assert!(err.contains("zero-header.safetensors: byte 8"), "{err}");
    assert!(grew < 64 << 20, "peak memory grew by {grew} bytes");
}

#[test]
fn checkpoint_whose_length_disagrees_with_its_header_fails_before_reading_the_data() {
    // A valid 1-tensor file, then ~1 GiB of (sparse) zeros the header does not mention.
    let bytes = to_bytes(&[("w", Tensor::<f32>::ones(&[2]))]).unwrap();
    let path = sparse_file("trailing.safetensors", &bytes, 1 << 30);
    let (err, grew) = peak_growth(|| load_safetensors::<f32>(&path).unwrap_err().to_string());
    std::fs::remove_file(&path).unwrap();
    assert!(err.contains("trailing.safetensors: byte "), "{err}");
    assert!(err.contains("1073741824"), "{err}");
    assert!(grew < 64 << 20, "peak memory grew by {grew} bytes");
}

#[test]
fn checkpoint_whose_header_claims_more_than_the_file_holds_fails_before_reading_the_data() {
    // The header declares a 2 GiB tensor; the (sparse) file holds 1 GiB.
    let header = r#"{"w":{"dtype":"F32","shape":[536870912],"data_offsets":[0,2147483648]}}"#;
    let mut head = (header.len() as u64).to_le_bytes().to_vec();
    head.extend_from_slice(header.as_bytes());
    let path = sparse_file("short.safetensors", &head, 1 << 30);
    let (err, grew) = peak_growth(|| load_safetensors::<f32>(&path).unwrap_err().to_string());
    std::fs::remove_file(&path).unwrap();
    assert!(err.contains("short.safetensors: byte "), "{err}");
    assert!(err.contains("2147483648"), "{err}");
    assert!(grew < 64 << 20, "peak memory grew by {grew} bytes");
}

#[test]
fn checkpoint_from_dev_zero_fails_fast() {
    let err = within(30, || load_safetensors::<f32>("/dev/zero").map(|m| m.len()))
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("/dev/zero: byte 8"), "{err}");
}

// ---------------------------------------------------------------------------
// Section 4: options that make a check meaningless are refused; obscure
// panics name the op and the value.
// ---------------------------------------------------------------------------

/// The gradients of a 2x2 linear layer on one input.
fn some_grads() -> (Linear<f64>, ParamGrads<f64>) {
    let layer = Linear::<f64>::new(2, 2, &mut StdRng::seed_from_u64(0));
    let tape = Tape::new();
    let y = layer.forward(tape.constant(Tensor::ones(&[1, 2])));
    let grads = y.sum_all().backward();
    let g = ParamGrads::collect(&layer, &grads);
    (layer, g)
}

#[test]
#[should_panic(expected = "clip_grad_norm: max_norm must be >= 0, got NaN")]
fn clip_grad_norm_refuses_a_nan_max_norm() {
    let (_, mut g) = some_grads();
    clip_grad_norm(&mut g, f64::NAN);
}

#[test]
#[should_panic(expected = "clip_grad_norm: max_norm must be >= 0, got -1")]
fn clip_grad_norm_refuses_a_negative_max_norm() {
    let (_, mut g) = some_grads();
    clip_grad_norm(&mut g, -1.0);
}

#[test]
#[should_panic(expected = "SGD: lr must be finite and >= 0, got inf")]
fn sgd_refuses_an_infinite_learning_rate() {
    let _ = SGD::<f32>::new(f64::INFINITY);
}

#[test]
#[should_panic(expected = "Adam: eps must be finite and >= 0, got inf")]
fn adam_refuses_an_infinite_eps() {
    let _ = Adam::<f32>::new(1e-3).eps(f64::INFINITY);
}

/// An Adam state for `layer` after one step, with `exp_avg_sq` of the
/// weight replaced by `value` in its first element.
fn adam_state_with_second_moment(value: f64) -> Result<(), StateError> {
    let (mut layer, g) = some_grads();
    let mut opt = Adam::new(1e-3);
    opt.step(&mut layer, &g);
    let mut state = opt.state_dict(&layer);
    let (_, v) = state
        .iter_mut()
        .find(|(n, _)| n == "weight.exp_avg_sq")
        .unwrap();
    let mut values = v.to_vec();
    values[0] = value;
    *v = Tensor::from_vec(values, v.shape());
    Adam::<f64>::new(1e-3).load_state_dict(&layer, state)
}

#[test]
fn adam_state_with_a_negative_second_moment_is_refused() {
    let err = adam_state_with_second_moment(-1.0).unwrap_err();
    assert!(
        matches!(err, StateError::BadValue { index: 0, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "optimizer state: entry 'weight.exp_avg_sq' element 0: expected a finite value >= 0, found -1"
    );
}

#[test]
fn adam_state_with_a_nan_second_moment_is_refused() {
    let err = adam_state_with_second_moment(f64::NAN).unwrap_err();
    assert!(err.to_string().contains("found NaN"), "{err}");
    assert!(adam_state_with_second_moment(0.5).is_ok());
}

#[test]
fn unroll_sequence_of_zero_steps_from_a_state_gives_no_outputs_and_that_state() {
    let rnn = RNN::<f64>::new(2, 3, &mut StdRng::seed_from_u64(0));
    let tape = Tape::new();
    let h0 = rnn.zero_state(&tape, 4);
    let x = tape.constant(Tensor::zeros(&[0, 4, 2]));
    let (ys, last) = unroll_sequence(&rnn, x, Some(h0));
    assert_eq!(ys.shape().as_slice(), &[0, 4, 3]);
    assert_eq!(last.id(), h0.id());
}

#[test]
#[should_panic(expected = "unroll_sequence: input [0, 5, 2] does not fit a state of batch 4")]
fn unroll_sequence_of_zero_steps_checks_the_batch() {
    let rnn = RNN::<f64>::new(2, 3, &mut StdRng::seed_from_u64(0));
    let tape = Tape::new();
    let h0 = rnn.zero_state(&tape, 4);
    unroll_sequence(&rnn, tape.constant(Tensor::zeros(&[0, 5, 2])), Some(h0));
}

#[test]
fn fan_based_inits_of_a_zero_element_weight_give_it_back_empty() {
    let mut rng = StdRng::seed_from_u64(0);
    let shapes: [&[usize]; 3] = [&[0, 0], &[0, 3], &[4, 0, 3, 3]];
    for shape in shapes {
        let all = [
            init::xavier_normal::<f32>(shape, 1.0, &mut rng),
            init::xavier_uniform::<f32>(shape, 1.0, &mut rng),
            init::kaiming_normal::<f32>(
                shape,
                init::FanMode::FanOut,
                init::Nonlinearity::ReLU,
                &mut rng,
            ),
            init::lecun_uniform::<f32>(shape, &mut rng),
            init::orthogonal::<f32>(shape, 1.0, &mut rng),
        ];
        for w in all {
            assert_eq!(w.shape(), shape);
        }
    }
}

#[test]
#[should_panic(expected = "kaiming_uniform: gain NaN")]
fn kaiming_with_a_nan_slope_panics_instead_of_giving_zeros() {
    let mut rng = StdRng::seed_from_u64(0);
    let nl = init::Nonlinearity::LeakyReLU(f64::NAN);
    init::kaiming_uniform::<f32>(&[3, 3], init::FanMode::FanIn, nl, &mut rng);
}

#[test]
#[should_panic(expected = "xavier_normal: gain must be finite and >= 0, got NaN")]
fn xavier_with_a_nan_gain_names_xavier() {
    init::xavier_normal::<f32>(&[3, 3], f64::NAN, &mut StdRng::seed_from_u64(0));
}

#[test]
#[should_panic(expected = "init::uniform: bounds must be finite with low <= high, got [0, NaN]")]
fn uniform_with_a_nan_bound_names_init_uniform() {
    init::uniform::<f32>(&[3], 0.0, f64::NAN, &mut StdRng::seed_from_u64(0));
}

#[test]
#[should_panic(expected = "init: shape [1, 1, 4294967296, 4294967296] overflows")]
fn fans_of_an_overflowing_shape_panic_naming_it() {
    init::calculate_fan_in_and_fan_out(&[1, 1, 1 << 32, 1 << 32]);
}

#[test]
#[should_panic(expected = "conv2d: padding (4611686018427387904, 4611686018427387904)")]
fn conv2d_with_padding_2_pow_62_panics_naming_it() {
    let mut rng = StdRng::seed_from_u64(0);
    let cfg = tapegrad_nn::conv::Conv2dConfig::new(3).padding(1 << 62);
    let conv = Conv2d::<f32>::with_config(1, 1, cfg, &mut rng);
    let tape = Tape::new();
    conv.forward(tape.constant(Tensor::zeros(&[1, 1, 3, 3])));
}

#[test]
#[should_panic(expected = "Conv2d::output_size: padding (9223372036854775808, 0) overflows usize")]
fn conv2d_output_size_with_overflowing_padding_panics_naming_it() {
    let mut rng = StdRng::seed_from_u64(0);
    let mut cfg = tapegrad_nn::conv::Conv2dConfig::new(3);
    cfg.padding = (1 << 63, 0);
    Conv2d::<f32>::with_config(1, 1, cfg, &mut rng).output_size((3, 3));
}

#[test]
#[should_panic(
    expected = "conv2d: dilation (9223372036854775808, 1) with kernel (3, 3) overflows usize"
)]
fn conv2d_with_an_overflowing_dilation_panics_naming_it() {
    // 2 · 2^63 wraps to 0: the window would have been taken for 1 tap wide.
    let mut rng = StdRng::seed_from_u64(0);
    let mut cfg = tapegrad_nn::conv::Conv2dConfig::new(3);
    cfg.dilation = (1 << 63, 1);
    let conv = Conv2d::<f32>::with_config(1, 1, cfg, &mut rng);
    let tape = Tape::new();
    conv.forward(tape.constant(Tensor::zeros(&[1, 1, 3, 3])));
}

#[test]
#[should_panic(
    expected = "max_pool2d: kernel (3, 3) with dilation (4611686018427387904, 4611686018427387904) does not fit"
)]
fn max_pool_with_a_huge_dilation_panics_naming_it() {
    let pool = MaxPool2d::new(3).dilation(1 << 62);
    let tape = Tape::<f32>::new();
    Module::<f32>::forward(&pool, tape.constant(Tensor::zeros(&[1, 1, 3, 3])));
}

#[test]
#[should_panic(expected = "LSTM: 4 gates of hidden size 4611686018427387904 overflow")]
fn lstm_whose_gate_rows_overflow_panics_naming_it() {
    LSTM::<f32>::new(2, 1 << 62, &mut StdRng::seed_from_u64(0));
}

#[test]
#[should_panic(expected = "LeakyReLU: slope must be finite, got NaN")]
fn leaky_relu_refuses_a_nan_slope() {
    let _ = tapegrad_nn::LeakyReLU::new(f64::NAN);
}

#[test]
#[should_panic(expected = "BatchNorm2d: needs eps finite and >= 0")]
fn batch_norm_refuses_an_infinite_eps() {
    let _ = tapegrad_nn::BatchNorm2d::<f32>::with_options(2, f64::INFINITY, 0.1, true);
}

// ---------------------------------------------------------------------------
// Section 6: threads. Containers are `Send` when their layers are, so a
// model can be trained on a worker thread.
// ---------------------------------------------------------------------------

fn assert_send<T: Send>() {}

#[test]
fn every_layer_and_container_is_send() {
    use tapegrad_nn::conv::{AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d};
    use tapegrad_nn::layers::{Dropout, Embedding, Flatten, LayerNorm, LeakyReLU, ReLU};
    use tapegrad_nn::layers::{Sigmoid, Softmax, Tanh, GELU};
    use tapegrad_nn::recurrent::GRU;
    assert_send::<Sequential<f32>>();
    assert_send::<Sequential<f64>>();
    assert_send::<Linear<f32>>();
    assert_send::<Conv2d<f32>>();
    assert_send::<MaxPool2d>();
    assert_send::<AvgPool2d>();
    assert_send::<AdaptiveAvgPool2d>();
    assert_send::<BatchNorm2d<f32>>();
    assert_send::<Dropout>();
    assert_send::<Embedding<f32>>();
    assert_send::<Flatten>();
    assert_send::<LayerNorm<f32>>();
    assert_send::<(ReLU, LeakyReLU, Sigmoid, Tanh, GELU, Softmax)>();
    assert_send::<RNN<f32>>();
    assert_send::<LSTM<f32>>();
    assert_send::<GRU<f32>>();
    assert_send::<tapegrad_nn::Param<f32>>();
    assert_send::<SGD<f32>>();
    assert_send::<Adam<f32>>();
    assert_send::<tapegrad_nn::optim::AdamW<f32>>();
    assert_send::<Box<dyn Module<f32> + Send>>();
}

#[test]
fn a_sequential_mlp_trains_on_a_worker_thread() {
    let mut rng = StdRng::seed_from_u64(0);
    let model: Sequential<f64> = Sequential::new()
        .add(Linear::new(2, 8, &mut rng))
        .add(tapegrad_nn::Tanh)
        .add(Linear::new(8, 1, &mut rng));
    let x = Tensor::<f64>::from_vec(vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0], &[4, 2]);
    let y = Tensor::<f64>::from_vec(vec![0.0, 1.0, 1.0, 0.0], &[4, 1]);
    let loss_of = |model: &Sequential<f64>| {
        let tape = Tape::new();
        let out = model.forward(tape.constant(x.clone()));
        (out - tape.constant(y.clone())).square().mean_all().item()
    };
    let before = loss_of(&model);
    let (xs, ys) = (x.clone(), y.clone());
    let worker = std::thread::spawn(move || {
        let mut model = model;
        let mut opt = SGD::new(0.1).momentum(0.9);
        for _ in 0..20 {
            let tape = Tape::new();
            let out = model.forward(tape.constant(xs.clone()));
            let loss = (out - tape.constant(ys.clone())).square().mean_all();
            let grads = loss.backward();
            opt.step(&mut model, &grads);
        }
        model
    });
    let model = worker.join().unwrap();
    let after = loss_of(&model);
    assert!(
        after < before,
        "loss {before} -> {after} after 20 steps on the worker"
    );
}

#[test]
#[should_panic(expected = "MlpConfig::build: inputs must be [batch, features], got shape [64]")]
fn an_mlp_built_on_a_1d_batch_is_refused_with_its_shape() {
    let mut rng = StdRng::seed_from_u64(0);
    small_mlp().build::<f32>(&Tensor::zeros(&[64]), 10, &mut rng);
}

#[test]
#[should_panic(expected = "LSUV needs a batch of at least 2 inputs, got 1")]
fn lsuv_on_a_single_input_is_refused() {
    let mut rng = StdRng::seed_from_u64(0);
    let config = MlpConfig {
        scheme: Scheme::Lsuv,
        cure: Cure::Plain,
        ..small_mlp()
    };
    config.build::<f32>(&Tensor::zeros(&[1, 64]), 10, &mut rng);
}
