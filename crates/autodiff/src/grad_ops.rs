//! [`GradOps`] for [`Tensor`] (first-order rules, nothing recorded) and for
//! [`Var`] (recorded rules, differentiable again). Each method forwards to
//! the type's own op of the same name.

use crate::ops::index::index_add_zeros_tensor;
use crate::ops::{ConvParams, GradOps};
use crate::var::Var;
use std::rc::Rc;
use tapegrad_tensor::shape_rules::as_axes;
use tapegrad_tensor::{Float, IndexTensor, Tensor};

impl<E: Float> GradOps<E> for Tensor<E> {
    fn value(&self) -> Tensor<E> {
        self.clone()
    }
    fn lift(&self, t: Tensor<E>) -> Self {
        t
    }
    fn shape(&self) -> Vec<usize> {
        Tensor::shape(self).to_vec()
    }
    fn same_shape(&self, other: &Self) -> bool {
        Tensor::shape(self) == Tensor::shape(other)
    }
    fn add(&self, rhs: &Self) -> Self {
        Tensor::add(self, rhs)
    }
    fn sub(&self, rhs: &Self) -> Self {
        Tensor::sub(self, rhs)
    }
    fn mul(&self, rhs: &Self) -> Self {
        Tensor::mul(self, rhs)
    }
    fn div(&self, rhs: &Self) -> Self {
        Tensor::div(self, rhs)
    }
    fn neg(&self) -> Self {
        Tensor::neg(self)
    }
    fn mul_scalar(&self, c: f64) -> Self {
        Tensor::mul_scalar(self, c)
    }
    fn add_scalar(&self, c: f64) -> Self {
        Tensor::add_scalar(self, c)
    }
    fn powf(&self, p: f64) -> Self {
        Tensor::powf(self, p)
    }
    fn pow(&self, rhs: &Self) -> Self {
        Tensor::pow(self, rhs)
    }
    fn exp(&self) -> Self {
        Tensor::exp(self)
    }
    fn ln(&self) -> Self {
        Tensor::ln(self)
    }
    fn sin(&self) -> Self {
        Tensor::sin(self)
    }
    fn cos(&self) -> Self {
        Tensor::cos(self)
    }
    fn tanh(&self) -> Self {
        Tensor::tanh(self)
    }
    fn sigmoid(&self) -> Self {
        Tensor::sigmoid(self)
    }
    fn expm1(&self) -> Self {
        Tensor::expm1(self)
    }
    fn log1p(&self) -> Self {
        Tensor::log1p(self)
    }
    fn erf(&self) -> Self {
        self.map(|v| v.erf())
    }
    fn matmul(&self, rhs: &Self) -> Self {
        Tensor::matmul(self, rhs)
    }
    fn permute(&self, perm: &[usize]) -> Self {
        Tensor::permute(self, &as_axes(perm))
    }
    fn reshape(&self, shape: &[usize]) -> Self {
        Tensor::reshape(self, shape)
    }
    fn broadcast_to(&self, shape: &[usize]) -> Self {
        Tensor::broadcast_to(self, shape)
    }
    fn sum_to(&self, shape: &[usize]) -> Self {
        Tensor::sum_to(self, shape)
    }
    fn sum(&self, axes: &[isize], keepdim: bool) -> Self {
        match keepdim {
            false => Tensor::sum(self, axes),
            true => Tensor::sum_keepdim(self, axes),
        }
    }
    fn narrow(&self, axis: usize, start: usize, len: usize) -> Self {
        Tensor::narrow(self, axis as isize, start, len)
    }
    fn pad_axis(&self, axis: usize, before: usize, after: usize) -> Self {
        Tensor::pad_axis(self, axis as isize, before, after, E::ZERO)
    }
    fn concat(parts: &[Self], axis: usize) -> Self {
        let refs: Vec<&Tensor<E>> = parts.iter().collect();
        Tensor::concat(&refs, axis as isize)
    }
    fn index_select(&self, axis: usize, indices: &Rc<[usize]>) -> Self {
        Tensor::index_select(self, axis as isize, indices)
    }
    fn index_add_zeros(&self, axis: usize, indices: &Rc<[usize]>, size: usize) -> Self {
        index_add_zeros_tensor(self, axis, indices, size)
    }
    fn gather(&self, axis: usize, index: &IndexTensor) -> Self {
        Tensor::gather(self, axis as isize, index)
    }
    fn scatter_add_zeros(&self, axis: usize, index: &IndexTensor, shape: &[usize]) -> Self {
        Tensor::zeros(shape).scatter_add(axis as isize, index, self)
    }
    fn im2col(&self, p: &ConvParams) -> Self {
        Tensor::im2col(self, p.kernel, p.stride, p.padding, p.dilation)
    }
    fn col2im(&self, p: &ConvParams, hw: (usize, usize)) -> Self {
        Tensor::col2im(self, hw, p.kernel, p.stride, p.padding, p.dilation)
    }
    fn conv2d(&self, w: &Self, p: &ConvParams) -> Self {
        Tensor::conv2d(self, w, None, p.stride, p.padding, p.dilation)
    }
    fn conv_transpose2d(&self, w: &Self, p: &ConvParams, hw: (usize, usize)) -> Self {
        Tensor::conv_transpose2d(self, w, hw, p.stride, p.padding, p.dilation)
    }
    fn conv2d_weight_grad(&self, g: &Self, p: &ConvParams) -> Self {
        Tensor::conv2d_weight_grad(self, g, p.kernel, p.stride, p.padding, p.dilation)
    }
}

impl<'t, E: Float> GradOps<E> for Var<'t, E> {
    fn value(&self) -> Tensor<E> {
        Var::value(*self)
    }
    fn lift(&self, t: Tensor<E>) -> Self {
        self.tape.constant(t)
    }
    fn shape(&self) -> Vec<usize> {
        Var::shape(*self)
    }
    fn same_shape(&self, other: &Self) -> bool {
        let nodes = self.tape.nodes.borrow();
        nodes[self.id].value.shape() == nodes[other.id].value.shape()
    }
    fn add(&self, rhs: &Self) -> Self {
        Var::add(*self, *rhs)
    }
    fn sub(&self, rhs: &Self) -> Self {
        Var::sub(*self, *rhs)
    }
    fn mul(&self, rhs: &Self) -> Self {
        Var::mul(*self, *rhs)
    }
    fn div(&self, rhs: &Self) -> Self {
        Var::div(*self, *rhs)
    }
    fn neg(&self) -> Self {
        Var::neg(*self)
    }
    fn mul_scalar(&self, c: f64) -> Self {
        Var::mul_scalar(*self, c)
    }
    fn add_scalar(&self, c: f64) -> Self {
        Var::add_scalar(*self, c)
    }
    fn powf(&self, p: f64) -> Self {
        Var::powf(*self, p)
    }
    fn pow(&self, rhs: &Self) -> Self {
        Var::pow(*self, *rhs)
    }
    fn exp(&self) -> Self {
        Var::exp(*self)
    }
    fn ln(&self) -> Self {
        Var::ln(*self)
    }
    fn sin(&self) -> Self {
        Var::sin(*self)
    }
    fn cos(&self) -> Self {
        Var::cos(*self)
    }
    fn tanh(&self) -> Self {
        Var::tanh(*self)
    }
    fn sigmoid(&self) -> Self {
        Var::sigmoid(*self)
    }
    fn expm1(&self) -> Self {
        Var::expm1(*self)
    }
    fn log1p(&self) -> Self {
        Var::log1p(*self)
    }
    fn erf(&self) -> Self {
        Var::erf(*self)
    }
    fn matmul(&self, rhs: &Self) -> Self {
        Var::matmul(*self, *rhs)
    }
    fn permute(&self, perm: &[usize]) -> Self {
        Var::permute_dims(*self, perm)
    }
    fn reshape(&self, shape: &[usize]) -> Self {
        Var::reshape(*self, shape)
    }
    fn broadcast_to(&self, shape: &[usize]) -> Self {
        Var::broadcast_to(*self, shape)
    }
    fn sum_to(&self, shape: &[usize]) -> Self {
        Var::sum_to(*self, shape)
    }
    fn sum(&self, axes: &[isize], keepdim: bool) -> Self {
        Var::sum_dims(*self, axes, keepdim)
    }
    fn narrow(&self, axis: usize, start: usize, len: usize) -> Self {
        Var::narrow(*self, axis as isize, start, len)
    }
    fn pad_axis(&self, axis: usize, before: usize, after: usize) -> Self {
        Var::pad_axis(*self, axis as isize, before, after)
    }
    fn concat(parts: &[Self], axis: usize) -> Self {
        Var::concat(parts, axis as isize)
    }
    fn index_select(&self, axis: usize, indices: &Rc<[usize]>) -> Self {
        Var::index_select(*self, axis as isize, indices)
    }
    fn index_add_zeros(&self, axis: usize, indices: &Rc<[usize]>, size: usize) -> Self {
        Var::index_add_zeros(*self, axis as isize, indices, size)
    }
    fn gather(&self, axis: usize, index: &IndexTensor) -> Self {
        Var::gather(*self, axis as isize, index)
    }
    fn scatter_add_zeros(&self, axis: usize, index: &IndexTensor, shape: &[usize]) -> Self {
        self.tape
            .constant(Tensor::zeros(shape))
            .scatter_add(axis as isize, index, *self)
    }
    fn im2col(&self, p: &ConvParams) -> Self {
        Var::im2col(*self, *p)
    }
    fn col2im(&self, p: &ConvParams, hw: (usize, usize)) -> Self {
        Var::col2im(*self, *p, hw)
    }
    fn conv2d(&self, w: &Self, p: &ConvParams) -> Self {
        Var::conv2d(*self, *w, None, *p)
    }
    fn conv_transpose2d(&self, w: &Self, p: &ConvParams, hw: (usize, usize)) -> Self {
        Var::conv_transpose2d(*self, *w, *p, hw)
    }
    fn conv2d_weight_grad(&self, g: &Self, p: &ConvParams) -> Self {
        Var::conv2d_weight_grad(*self, *g, *p)
    }
}
