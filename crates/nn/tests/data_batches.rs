//! `Batches`: every sample once per epoch, reshuffled per epoch, reproducible from a seed.

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tapegrad_nn::data::{load_bundled_digits, Batches};
use tapegrad_tensor::Tensor;

/// `n` samples of shape `[2]` holding `[i, -i]`, labelled `i % 10`.
fn indexed(n: usize) -> (Tensor<f64>, Vec<usize>) {
    let data = (0..n).flat_map(|i| [i as f64, -(i as f64)]).collect();
    (
        Tensor::from_vec(data, &[n, 2]),
        (0..n).map(|i| i % 10).collect(),
    )
}

/// The sample ids served in one epoch, batch by batch, checking rows and labels agree.
fn epoch(batches: Batches<f64>) -> Vec<Vec<usize>> {
    batches
        .map(|(x, y)| {
            assert_eq!(x.shape(), &[y.len(), 2]);
            let v = x.to_vec();
            let ids: Vec<usize> = v.chunks(2).map(|r| r[0] as usize).collect();
            for ((r, &id), &label) in v.chunks(2).zip(&ids).zip(&y) {
                assert_eq!(r[1], -(id as f64));
                assert_eq!(label, id % 10);
            }
            ids
        })
        .collect()
}

#[test]
fn every_sample_once_per_epoch_with_a_partial_last_batch() {
    let (x, y) = indexed(103);
    let mut rng = StdRng::seed_from_u64(5);
    let batches = Batches::new(&x, &y, 10, true, &mut rng);
    assert_eq!(batches.len(), 11);
    let served = epoch(batches);
    let sizes: Vec<usize> = served.iter().map(Vec::len).collect();
    assert_eq!(sizes, [vec![10; 10], vec![3]].concat());
    let mut all = served.concat();
    assert_ne!(all, (0..103).collect::<Vec<_>>(), "shuffled");
    all.sort();
    assert_eq!(all, (0..103).collect::<Vec<_>>());
}

#[test]
fn drop_last_skips_the_partial_batch() {
    let (x, y) = indexed(103);
    let mut rng = StdRng::seed_from_u64(5);
    let batches = Batches::new(&x, &y, 10, true, &mut rng).drop_last(true);
    assert_eq!(batches.len(), 10);
    let served = epoch(batches);
    assert!(served.iter().all(|b| b.len() == 10));
    assert_eq!(served.concat().len(), 100);
}

#[test]
fn epochs_reshuffle_and_replay_from_the_seed() {
    let (x, y) = indexed(50);
    let run = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..3)
            .map(|_| epoch(Batches::new(&x, &y, 8, true, &mut rng)).concat())
            .collect::<Vec<_>>()
    };
    let a = run(11);
    assert_ne!(a[0], a[1], "a new permutation each epoch");
    assert_ne!(a[1], a[2]);
    assert_eq!(a, run(11), "the same seed gives the same epochs");
    assert_ne!(a, run(12));
}

#[test]
fn no_shuffle_keeps_order_and_leaves_the_rng_alone() {
    let (x, y) = indexed(7);
    let mut rng = StdRng::seed_from_u64(3);
    let served = epoch(Batches::new(&x, &y, 3, false, &mut rng));
    assert_eq!(served, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]);
    assert_eq!(
        rng.random::<u64>(),
        StdRng::seed_from_u64(3).random::<u64>()
    );
    assert_eq!(epoch(Batches::sequential(&x, &y, 3)), served);
}

#[test]
fn digits_batches_as_vectors_or_images() {
    let digits = load_bundled_digits::<f32>().unwrap();
    let mut rng = StdRng::seed_from_u64(0);
    let flat = Batches::from_dataset(&digits, 100, true, &mut rng);
    assert_eq!(flat.len(), 18);
    let mut n = 0;
    for (x, y) in flat {
        assert_eq!(x.shape(), &[y.len(), 64]);
        n += y.len();
    }
    assert_eq!(n, 1797);
    let mut images = Batches::new(&digits.images(), digits.labels(), 32, true, &mut rng);
    let first = images.order()[0];
    let (x, y) = images.next().unwrap();
    assert_eq!(x.shape(), &[32, 1, 8, 8]);
    assert_eq!(y[0], digits.labels()[first]);
    let row = digits.features().to_vec()[first * 64..(first + 1) * 64].to_vec();
    assert_eq!(x.to_vec()[..64], row[..]);
}

#[test]
#[should_panic(expected = "Batches: samples of shape [4, 2] do not match 3 labels")]
fn label_count_must_match() {
    let (x, _) = indexed(4);
    Batches::sequential(&x, &[0, 1, 2], 2);
}

#[test]
#[should_panic(expected = "batch_size must be at least 1")]
fn batch_size_must_be_positive() {
    let (x, y) = indexed(4);
    Batches::sequential(&x, &y, 0);
}

proptest! {
    #[test]
    fn any_size_covers_each_sample_once(
        n in 0usize..60, batch in 1usize..20, drop_last: bool, seed: u64,
    ) {
        let (x, y) = indexed(n);
        let mut rng = StdRng::seed_from_u64(seed);
        let batches = Batches::new(&x, &y, batch, true, &mut rng).drop_last(drop_last);
        let expected_batches = if drop_last { n / batch } else { n.div_ceil(batch) };
        prop_assert_eq!(batches.len(), expected_batches);
        let served = epoch(batches);
        prop_assert_eq!(served.len(), expected_batches);
        let mut all = served.concat();
        all.sort();
        all.dedup();
        let kept = if drop_last { n / batch * batch } else { n };
        prop_assert_eq!(all.len(), kept);
    }
}
