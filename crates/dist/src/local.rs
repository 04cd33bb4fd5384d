//! One rank alone: every collective is the identity. Runs the
//! data-parallel code path without MPI (`world_size() == 1`).

use crate::buffer::Buffer;
use crate::collective::{Collective, Pending};

/// The group of one: sums and broadcasts return their input.
///
/// ```
/// use tapegrad_dist::{Collective, CollectiveExt, LocalCollective};
/// use tapegrad_tensor::Tensor;
/// let one = LocalCollective;
/// let t = Tensor::<f32>::from_vec(vec![1.0, 2.0], &[2]);
/// assert_eq!(one.all_reduce_mean(&t).unwrap().to_vec(), vec![1.0, 2.0]);
/// assert_eq!((one.rank(), one.world_size()), (0, 1));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalCollective;

impl Collective for LocalCollective {
    fn rank(&self) -> usize {
        0
    }

    fn world_size(&self) -> usize {
        1
    }

    fn start_all_reduce_sum(&self, buf: Buffer) -> Pending {
        Pending::ready("all-reduce".into(), Ok(buf))
    }

    fn start_broadcast(&self, buf: Buffer, root: usize) -> Pending {
        let result = if root == 0 {
            Ok(buf)
        } else {
            Err(crate::DistError::Mismatch {
                rank: 0,
                detail: format!("broadcast from rank {root} in a group of 1"),
            })
        };
        Pending::ready("broadcast".into(), result)
    }
}
