//! The data a collective moves: a flat vector of one element type.

use std::any::Any;
use tapegrad_tensor::Float;

/// A flat buffer of numbers that a [`Collective`](crate::Collective) sums or
/// broadcasts: tensor data (`f32`, `f64`), counts and hashes (`u64`) or
/// text (`u8`).
#[derive(Clone, Debug, PartialEq)]
pub enum Buffer {
    /// Single precision.
    F32(Vec<f32>),
    /// Double precision.
    F64(Vec<f64>),
    /// Counts, flags and hashes (sums wrap on overflow).
    U64(Vec<u64>),
    /// Bytes (text); sums wrap on overflow.
    U8(Vec<u8>),
}

impl Buffer {
    /// The buffer holding `data`, without copying (`E` is `f32` or `f64`).
    pub fn from_floats<E: Float>(data: Vec<E>) -> Buffer {
        let any: Box<dyn Any> = Box::new(data);
        match any.downcast::<Vec<f32>>() {
            Ok(v) => Buffer::F32(*v),
            Err(any) => match any.downcast::<Vec<f64>>() {
                Ok(v) => Buffer::F64(*v),
                Err(_) => unreachable!("Float is sealed: f32 and f64 only"),
            },
        }
    }

    /// The data as a vector of `E`, without copying, or `None` if the
    /// buffer holds another type.
    pub fn into_floats<E: Float>(self) -> Option<Vec<E>> {
        let any: Box<dyn Any> = match self {
            Buffer::F32(v) => Box::new(v),
            Buffer::F64(v) => Box::new(v),
            Buffer::U64(_) | Buffer::U8(_) => return None,
        };
        any.downcast::<Vec<E>>().ok().map(|v| *v)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Buffer::F32(v) => v.len(),
            Buffer::F64(v) => v.len(),
            Buffer::U64(v) => v.len(),
            Buffer::U8(v) => v.len(),
        }
    }

    /// True if the buffer has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size in bytes.
    pub fn bytes(&self) -> usize {
        self.len() * self.element_bytes()
    }

    /// Size of one element in bytes.
    pub fn element_bytes(&self) -> usize {
        match self {
            Buffer::F32(_) => 4,
            Buffer::F64(_) | Buffer::U64(_) => 8,
            Buffer::U8(_) => 1,
        }
    }

    /// The element type's name (`"f32"`, ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Buffer::F32(_) => "f32",
            Buffer::F64(_) => "f64",
            Buffer::U64(_) => "u64",
            Buffer::U8(_) => "u8",
        }
    }

    /// `"1024 f32"`: length and type, for messages.
    pub fn describe(&self) -> String {
        format!("{} {}", self.len(), self.type_name())
    }

    /// True if `other` has the same element type and length.
    pub fn same_layout(&self, other: &Buffer) -> bool {
        self.type_name() == other.type_name() && self.len() == other.len()
    }

    /// `self[i] += other[i]` for every `i`.
    ///
    /// # Panics
    /// If the two differ in type or length (callers check
    /// [`same_layout`](Buffer::same_layout) first).
    pub fn add_assign(&mut self, other: &Buffer) {
        fn add<T: Copy>(a: &mut [T], b: &[T], f: impl Fn(T, T) -> T) {
            for (x, &y) in a.iter_mut().zip(b) {
                *x = f(*x, y);
            }
        }
        assert!(
            self.same_layout(other),
            "Buffer::add_assign: {} and {}",
            self.describe(),
            other.describe()
        );
        match (self, other) {
            (Buffer::F32(a), Buffer::F32(b)) => add(a, b, |x, y| x + y),
            (Buffer::F64(a), Buffer::F64(b)) => add(a, b, |x, y| x + y),
            (Buffer::U64(a), Buffer::U64(b)) => add(a, b, u64::wrapping_add),
            (Buffer::U8(a), Buffer::U8(b)) => add(a, b, u8::wrapping_add),
            _ => unreachable!("same_layout checked the types"),
        }
    }

    /// The sum of `parts` taken in order, `((p0 + p1) + p2) + ...`: the
    /// same bits on every rank that computes it from the same parts.
    ///
    /// # Panics
    /// If `parts` is empty or the parts differ in type or length.
    pub fn sum_in_order<'a>(mut parts: impl Iterator<Item = &'a Buffer>) -> Buffer {
        let mut total = parts.next().expect("sum of no buffers").clone();
        for p in parts {
            total.add_assign(p);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_trip_without_changing_type() {
        let b = Buffer::from_floats(vec![1.0f32, 2.0]);
        assert_eq!(b, Buffer::F32(vec![1.0, 2.0]));
        assert_eq!(b.bytes(), 8);
        assert_eq!(b.clone().into_floats::<f32>(), Some(vec![1.0, 2.0]));
        assert_eq!(b.into_floats::<f64>(), None);
        let b = Buffer::from_floats(vec![0.5f64]);
        assert_eq!(b.into_floats::<f64>(), Some(vec![0.5]));
    }

    #[test]
    fn sums_in_rank_order() {
        // (1e16 + 1) + -1e16 = 0 in f64 but 1e16 + (1 + -1e16) = ... differ:
        // the order is the documented one.
        let parts = [
            Buffer::F64(vec![1e16, 1.0]),
            Buffer::F64(vec![1.0, 2.0]),
            Buffer::F64(vec![-1e16, 3.0]),
        ];
        assert_eq!(
            Buffer::sum_in_order(parts.iter()),
            Buffer::F64(vec![(1e16 + 1.0) - 1e16, 6.0])
        );
        let mut a = Buffer::U64(vec![u64::MAX]);
        a.add_assign(&Buffer::U64(vec![2]));
        assert_eq!(a, Buffer::U64(vec![1]));
    }
}
