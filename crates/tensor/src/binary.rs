//! Elementwise binary ops with NumPy broadcasting, comparisons and `where`.

use crate::float::Float;
use crate::tensor::Tensor;

macro_rules! binary_ops {
    ($($(#[$doc:meta])* $name:ident => |$a:ident, $b:ident| $body:expr;)*) => {
        impl<E: Float> Tensor<E> {
            $(
                $(#[$doc])*
                ///
                /// # Panics
                /// If the shapes do not broadcast.
                #[track_caller]
                pub fn $name(&self, rhs: &Tensor<E>) -> Tensor<E> {
                    self.zip_map(rhs, stringify!($name), |$a: E, $b: E| $body)
                }
            )*
        }
    };
}

binary_ops! {
    /// `a + b`, broadcasting.
    add => |a, b| a + b;
    /// `a - b`, broadcasting.
    sub => |a, b| a - b;
    /// `a * b`, broadcasting.
    mul => |a, b| a * b;
    /// `a / b`, broadcasting.
    div => |a, b| a / b;
    /// `a^b`, broadcasting.
    pow => |a, b| a.powf(b);
    /// Elementwise larger value; NaN on either side gives NaN (as PyTorch's
    /// `maximum`, unlike IEEE `fmax`).
    maximum => |a, b| if a >= b || a.is_nan() { a } else { b };
    /// Elementwise smaller value; NaN on either side gives NaN.
    minimum => |a, b| if a <= b || a.is_nan() { a } else { b };
    /// 1.0 where `a == b`, else 0.0.
    eq => |a, b| if a == b { E::ONE } else { E::ZERO };
    /// 1.0 where `a != b`, else 0.0.
    ne => |a, b| if a != b { E::ONE } else { E::ZERO };
    /// 1.0 where `a > b`, else 0.0.
    gt => |a, b| if a > b { E::ONE } else { E::ZERO };
    /// 1.0 where `a >= b`, else 0.0.
    ge => |a, b| if a >= b { E::ONE } else { E::ZERO };
    /// 1.0 where `a < b`, else 0.0.
    lt => |a, b| if a < b { E::ONE } else { E::ZERO };
    /// 1.0 where `a <= b`, else 0.0.
    le => |a, b| if a <= b { E::ONE } else { E::ZERO };
}

impl<E: Float> Tensor<E> {
    /// Picks `on_true` where `self` (the condition) is nonzero, else `on_false`,
    /// broadcasting all three (NumPy's `where`).
    ///
    /// ```
    /// use tapegrad_tensor::Tensor;
    /// let c = Tensor::<f32>::from_vec(vec![1.0, 0.0], &[2]);
    /// let a = Tensor::from_vec(vec![10.0, 20.0], &[2]);
    /// let b = Tensor::scalar(-1.0);
    /// assert_eq!(c.where_cond(&a, &b).to_vec(), vec![10.0, -1.0]);
    /// ```
    #[track_caller]
    pub fn where_cond(&self, on_true: &Tensor<E>, on_false: &Tensor<E>) -> Tensor<E> {
        self.zip3_map(
            on_true,
            on_false,
            "where",
            |c, t, f| if c != E::ZERO { t } else { f },
        )
    }

    /// 1.0 where the element is greater than the scalar `c`, else 0.0 (NaN
    /// compares false): a mask for [`where_cond`](Self::where_cond) or a
    /// product. Not differentiable; on a var, build the mask from its value.
    ///
    /// ```
    /// use tapegrad_tensor::Tensor;
    ///
    /// let x = Tensor::<f64>::from_vec(vec![-1.0, 0.5, 2.0, f64::NAN], &[4]);
    /// assert_eq!(x.gt_scalar(0.5).to_vec(), vec![0.0, 0.0, 1.0, 0.0]);
    /// ```
    pub fn gt_scalar(&self, c: f64) -> Tensor<E> {
        let c = E::from_f64(c);
        self.map_op("gt_scalar", |x| if x > c { E::ONE } else { E::ZERO })
    }

    /// 1.0 where the element is less than the scalar `c`, else 0.0 (NaN
    /// compares false): a mask for [`where_cond`](Self::where_cond) or a
    /// product. Not differentiable; on a var, build the mask from its value.
    ///
    /// ```
    /// use tapegrad_tensor::Tensor;
    ///
    /// let x = Tensor::<f64>::from_vec(vec![-1.0, 0.5, 2.0, f64::NAN], &[4]);
    /// assert_eq!(x.lt_scalar(0.5).to_vec(), vec![1.0, 0.0, 0.0, 0.0]);
    /// ```
    pub fn lt_scalar(&self, c: f64) -> Tensor<E> {
        let c = E::from_f64(c);
        self.map_op("lt_scalar", |x| if x < c { E::ONE } else { E::ZERO })
    }

    /// 1.0 where the element equals the scalar `c`, else 0.0 (NaN
    /// compares false): a mask for [`where_cond`](Self::where_cond) or a
    /// product. Not differentiable; on a var, build the mask from its value.
    ///
    /// ```
    /// use tapegrad_tensor::Tensor;
    ///
    /// let x = Tensor::<f64>::from_vec(vec![-1.0, 0.5, 2.0, f64::NAN], &[4]);
    /// assert_eq!(x.eq_scalar(0.5).to_vec(), vec![0.0, 1.0, 0.0, 0.0]);
    /// ```
    pub fn eq_scalar(&self, c: f64) -> Tensor<E> {
        let c = E::from_f64(c);
        self.map_op("eq_scalar", |x| if x == c { E::ONE } else { E::ZERO })
    }
}

macro_rules! std_binop {
    ($trait:ident, $method:ident, $fn:ident) => {
        impl<E: Float> std::ops::$trait<&Tensor<E>> for &Tensor<E> {
            type Output = Tensor<E>;
            #[track_caller]
            fn $method(self, rhs: &Tensor<E>) -> Tensor<E> {
                self.$fn(rhs)
            }
        }
        impl<E: Float> std::ops::$trait<Tensor<E>> for Tensor<E> {
            type Output = Tensor<E>;
            #[track_caller]
            fn $method(self, rhs: Tensor<E>) -> Tensor<E> {
                Tensor::$fn(&self, &rhs)
            }
        }
        impl<E: Float> std::ops::$trait<&Tensor<E>> for Tensor<E> {
            type Output = Tensor<E>;
            #[track_caller]
            fn $method(self, rhs: &Tensor<E>) -> Tensor<E> {
                Tensor::$fn(&self, rhs)
            }
        }
    };
}

std_binop!(Add, add, add);
std_binop!(Sub, sub, sub);
std_binop!(Mul, mul, mul);
std_binop!(Div, div, div);

impl<E: Float> std::ops::Neg for &Tensor<E> {
    type Output = Tensor<E>;
    fn neg(self) -> Tensor<E> {
        Tensor::neg(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "add: shapes [2, 3] and [4] do not broadcast")]
    fn add_names_op_and_shapes() {
        let _ = Tensor::<f32>::zeros(&[2, 3]).add(&Tensor::zeros(&[4]));
    }

    #[test]
    fn column_plus_row_broadcasts_to_matrix() {
        let col = Tensor::<f64>::from_vec(vec![0.0, 10.0], &[2, 1]);
        let row = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3]);
        assert_eq!(
            (&col + &row).to_vec(),
            vec![1.0, 2.0, 3.0, 11.0, 12.0, 13.0]
        );
    }
}
