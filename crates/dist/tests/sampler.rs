//! Properties of `DistributedSampler` over random lengths, world sizes,
//! seeds and epochs.

use proptest::prelude::*;
use tapegrad_dist::DistributedSampler;

fn ranks(len: usize, world: usize, seed: u64, epoch: u64, drop_last: bool) -> Vec<Vec<usize>> {
    (0..world)
        .map(|r| {
            DistributedSampler::new(len, r, world, seed)
                .drop_last(drop_last)
                .indices(epoch)
        })
        .collect()
}

proptest! {
    #[test]
    fn every_sample_is_seen_once_per_epoch_with_padding(
        len in 0usize..300, world in 1usize..7, seed in any::<u64>(), epoch in 0u64..50,
    ) {
        let parts = ranks(len, world, seed, epoch, false);
        let per_rank = len.div_ceil(world);
        for p in &parts {
            prop_assert_eq!(p.len(), per_rank, "every rank takes the same number of samples");
        }
        let mut counts = vec![0usize; len];
        for &i in parts.iter().flatten() {
            prop_assert!(i < len);
            counts[i] += 1;
        }
        prop_assert!(counts.iter().all(|&c| c >= 1) || len == 0);
        let repeated: usize = counts.iter().map(|&c| c.saturating_sub(1)).sum();
        prop_assert_eq!(repeated, world * per_rank - len, "only the padding repeats");
    }

    #[test]
    fn drop_last_sees_each_sample_at_most_once(
        len in 0usize..300, world in 1usize..7, seed in any::<u64>(), epoch in 0u64..50,
    ) {
        let parts = ranks(len, world, seed, epoch, true);
        for p in &parts {
            prop_assert_eq!(p.len(), len / world);
        }
        let mut all: Vec<usize> = parts.concat();
        all.sort_unstable();
        let before = all.len();
        all.dedup();
        prop_assert_eq!(all.len(), before, "no sample twice");
        prop_assert_eq!(before, world * (len / world));
    }

    #[test]
    fn ranks_interleave_the_shared_epoch_order(
        len in 1usize..300, world in 1usize..7, seed in any::<u64>(), epoch in 0u64..50,
    ) {
        let order = DistributedSampler::new(len, 0, world, seed).epoch_order(epoch);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        prop_assert_eq!(sorted, (0..len).collect::<Vec<_>>(), "a permutation");
        for r in 1..world {
            prop_assert_eq!(&DistributedSampler::new(len, r, world, seed).epoch_order(epoch), &order);
        }
        let parts = ranks(len, world, seed, epoch, true);
        for (r, part) in parts.iter().enumerate() {
            for (k, &i) in part.iter().enumerate() {
                prop_assert_eq!(i, order[r + k * world]);
            }
        }
    }

    #[test]
    fn the_order_changes_with_the_epoch_and_not_without_shuffle(
        len in 20usize..300, seed in any::<u64>(), epoch in 0u64..50,
    ) {
        let s = DistributedSampler::new(len, 0, 1, seed);
        // Two random permutations of 20 or more agree with chance below 1/20!.
        prop_assert_ne!(s.epoch_order(epoch), s.epoch_order(epoch + 1));
        prop_assert_eq!(s.epoch_order(epoch), s.epoch_order(epoch));
        let plain = DistributedSampler::new(len, 0, 1, seed).shuffle(false);
        prop_assert_eq!(plain.epoch_order(epoch), (0..len).collect::<Vec<_>>());
    }
}

#[test]
#[should_panic(expected = "rank 2")]
fn a_rank_outside_the_world_is_refused() {
    let _ = DistributedSampler::new(10, 2, 2, 0);
}
