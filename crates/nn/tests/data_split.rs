//! `Dataset`: train/test split sizes, partition, determinism, stratification, subsets.

use tapegrad_nn::data::{load_bundled_digits, Dataset};
use tapegrad_tensor::Tensor;

/// `n` samples whose single feature is their index, labels `i % classes`.
fn indexed(n: usize, classes: usize) -> Dataset<f64> {
    let x = Tensor::from_vec((0..n).map(|i| i as f64).collect(), &[n, 1]);
    Dataset::new(x, (0..n).map(|i| i % classes).collect(), classes)
}

/// The original indices of the samples of a split of `indexed`.
fn ids(ds: &Dataset<f64>) -> Vec<usize> {
    ds.features().to_vec().iter().map(|&v| v as usize).collect()
}

#[test]
fn split_sizes_follow_scikit_learn() {
    let digits = load_bundled_digits::<f32>().unwrap();
    // ceil(0.25 * 1797) = ceil(449.25) = 450, as sklearn's train_test_split.
    let (train, test) = digits.train_test_split(0.25, 0);
    assert_eq!((train.len(), test.len()), (1347, 450));
    let (train, test) = digits.train_test_split(0.0, 0);
    assert_eq!((train.len(), test.len()), (1797, 0));
    let (train, test) = digits.train_test_split(1.0, 0);
    assert_eq!((train.len(), test.len()), (0, 1797));
    // 0.3 * 100 is 30.000000000000004 in floating point: still 30.
    let (_, test) = indexed(100, 2).train_test_split(0.3, 0);
    assert_eq!(test.len(), 30);
}

#[test]
fn split_is_a_partition_with_labels_kept() {
    let ds = indexed(101, 3);
    let (train, test) = ds.train_test_split(0.2, 9);
    let mut all = [ids(&train), ids(&test)].concat();
    all.sort();
    assert_eq!(all, (0..101).collect::<Vec<_>>());
    for part in [&train, &test] {
        for (id, &label) in ids(part).iter().zip(part.labels()) {
            assert_eq!(label, id % 3);
        }
    }
}

#[test]
fn split_is_deterministic_in_the_seed() {
    let ds = indexed(200, 4);
    let a = ds.train_test_split(0.25, 42);
    let b = ds.train_test_split(0.25, 42);
    let c = ds.train_test_split(0.25, 43);
    assert_eq!(ids(&a.1), ids(&b.1));
    assert_eq!(ids(&a.0), ids(&b.0));
    assert_ne!(ids(&a.1), ids(&c.1));
    // And shuffled, not a prefix of the original order.
    assert_ne!(ids(&a.1), (0..50).collect::<Vec<_>>());
}

#[test]
fn stratified_split_keeps_class_proportions() {
    let digits = load_bundled_digits::<f32>().unwrap();
    let (train, test) = digits.stratified_split(0.2, 1);
    let counts = digits.class_counts();
    let expected: Vec<usize> = counts
        .iter()
        .map(|&c| (c as f64 * 0.2).round() as usize)
        .collect();
    assert_eq!(test.class_counts(), expected);
    let train_expected: Vec<usize> = counts.iter().zip(&expected).map(|(c, t)| c - t).collect();
    assert_eq!(train.class_counts(), train_expected);
    let (_, again) = digits.stratified_split(0.2, 1);
    assert_eq!(again.labels(), test.labels());
    assert_eq!(again.features().to_vec(), test.features().to_vec());

    let ds = indexed(90, 3);
    let (train, test) = ds.stratified_split(0.5, 3);
    let mut all = [ids(&train), ids(&test)].concat();
    all.sort();
    assert_eq!(all, (0..90).collect::<Vec<_>>());
}

#[test]
fn subset_gathers_rows_and_cast_converts() {
    let digits = load_bundled_digits::<f32>().unwrap();
    let sub = digits.subset(&[5, 0, 5]);
    assert_eq!(
        sub.labels(),
        &[digits.labels()[5], digits.labels()[0], digits.labels()[5]]
    );
    let x = digits.features().to_vec();
    assert_eq!(sub.features().to_vec()[..64], x[5 * 64..6 * 64]);
    assert_eq!(sub.features().to_vec()[64..128], x[..64]);
    assert_eq!(sub.images().shape(), &[3, 1, 8, 8]);
    let wide = sub.cast::<f64>();
    assert_eq!(wide.features().to_f64_vec(), sub.features().to_f64_vec());
    assert_eq!(
        format!("{wide:?}"),
        "Dataset { len: 3, sample_shape: [1, 8, 8], num_classes: 10, dtype: \"float64\" }"
    );
}

#[test]
fn strided_samples_are_stored_in_logical_order() {
    // Samples given as a transposed view: rows of the view, not of the storage.
    let x = Tensor::<f32>::from_vec(vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0], &[2, 3]).t();
    let ds = Dataset::new(x, vec![0, 1, 0], 2);
    assert_eq!(ds.subset(&[2]).features().to_vec(), vec![2.0, 5.0]);
}

#[test]
#[should_panic(expected = "Dataset::new: label 3 of sample 1 is not below num_classes 3")]
fn labels_must_be_below_num_classes() {
    Dataset::new(Tensor::<f32>::zeros(&[2, 1]), vec![0, 3], 3);
}

#[test]
#[should_panic(expected = "need 2 labels, found 3")]
fn label_count_must_match() {
    Dataset::new(Tensor::<f32>::zeros(&[2, 1]), vec![0, 1, 1], 3);
}

#[test]
#[should_panic(expected = "test_fraction 1.5 is not in 0.0..=1.0")]
fn fraction_must_be_a_fraction() {
    indexed(4, 2).train_test_split(1.5, 0);
}
