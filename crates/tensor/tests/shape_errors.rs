//! Shape errors are programmer errors: each panics with a message naming the
//! op and the shapes involved. One test per message, matched in full.

use tapegrad_tensor::{conv_output_size, IndexTensor, Tensor};

fn z(shape: &[usize]) -> Tensor<f32> {
    Tensor::zeros(shape)
}

macro_rules! panics_with {
    ($($name:ident: $msg:literal => $body:expr;)*) => {
        $(
            #[test]
            #[should_panic(expected = $msg)]
            fn $name() {
                let _ = $body;
            }
        )*
    };
}

panics_with! {
    matmul_inner: "matmul: [2, 3] x [4, 5]: inner dimensions 3 and 4 differ" => z(&[2, 3]).matmul(&z(&[4, 5]));
    matmul_batch: "matmul: [2, 2, 3] x [3, 3, 4]: batch dimensions do not broadcast" => z(&[2, 2, 3]).matmul(&z(&[3, 3, 4]));
    matmul_scalar: "matmul: [] x [3]: both operands need at least 1 dimension" => z(&[]).matmul(&z(&[3]));
    matmul_vector: "matmul: [3] x [4]: inner dimensions 3 and 4 differ" => z(&[3]).matmul(&z(&[4]));
    add_broadcast: "add: shapes [2, 3] and [4] do not broadcast" => z(&[2, 3]).add(&z(&[4]));
    mul_operator: "mul: shapes [2] and [3] do not broadcast" => &z(&[2]) * &z(&[3]);
    where_three: "where: shapes [2], [2] and [3] do not broadcast" => z(&[2]).where_cond(&z(&[2]), &z(&[3]));
    from_vec_count: "from_vec: 5 elements cannot have shape [2, 3] (6 elements)" => Tensor::<f32>::from_vec(vec![0.0; 5], &[2, 3]);
    reshape_count: "reshape: cannot reshape [2, 3] (6 elements) to [4] (4 elements)" => z(&[2, 3]).reshape(&[4]);
    reshape_infer_two: "reshape: cannot reshape [2, 3] to [-1, -1]" => z(&[2, 3]).reshape_infer(&[-1, -1]);
    broadcast_to_shape: "broadcast_to: cannot broadcast [2, 3] to [3, 3]" => z(&[2, 3]).broadcast_to(&[3, 3]);
    permute_repeat: "permute: [0, 0] is not a permutation of the 2 dimensions of [2, 3]" => z(&[2, 3]).permute(&[0, 0]);
    transpose_axis: "transpose: axis 2 is out of range for a tensor with 2 dimensions" => z(&[2, 3]).transpose(0, 2);
    t_of_vector: "t: needs at least 2 dimensions, got shape [3]" => z(&[3]).t();
    narrow_range: "narrow: range 2..5 is out of bounds for axis 1 of [2, 3]" => z(&[2, 3]).narrow(1, 2, 3);
    select_index: "select: index 3 out of range for axis 1 of size 3 (shape [2, 3])" => z(&[2, 3]).select(1, 3);
    squeeze_size: "squeeze: axis 0 of [2, 3] has size 2, not 1" => z(&[2, 3]).squeeze(0);
    sum_axis: "sum: axis 2 is out of range for a tensor with 2 dimensions" => z(&[2, 3]).sum(&[2]);
    sum_to_shape: "sum_to: cannot sum [2, 3] down to [4]" => z(&[2, 3]).sum_to(&[4]);
    argmax_empty: "argmax: cannot reduce over an empty axis of [3, 0]" => z(&[3, 0]).argmax(1);
    item_many: "item: tensor of shape [2] has 2 elements, not 1" => z(&[2]).item();
    get_bounds: "get: index [2, 0] is out of bounds for shape [2, 3]" => z(&[2, 3]).get(&[2, 0]);
    concat_mismatch: "concat: shapes [2, 3] and [2, 4] differ outside axis 0" => Tensor::concat(&[&z(&[2, 3]), &z(&[2, 4])], 0);
    concat_rank: "concat: shapes [2, 3] and [2] have different numbers of dimensions" => Tensor::concat(&[&z(&[2, 3]), &z(&[2])], 0);
    concat_empty: "concat: needs at least one tensor" => Tensor::<f32>::concat(&[], 0);
    concat_axis: "concat: axis -3 is out of range for a tensor with 2 dimensions" => Tensor::concat(&[&z(&[2, 3])], -3);
    stack_mismatch: "stack: shapes [2] and [3] differ" => Tensor::stack(&[&z(&[2]), &z(&[3])], 0);
    index_select_bounds: "index_select: index 7 is out of bounds for axis 0 of size 5" => z(&[5, 2]).index_select(0, &[1, 7]);
    index_add_src: "index_add: src shape [3, 4] does not match input shape [5, 4] with 2 indices along axis 0" => z(&[5, 4]).index_add(0, &[0, 1], &z(&[3, 4]));
    index_add_bounds: "index_add: index 5 is out of bounds for axis 0 of size 5" => z(&[5, 4]).index_add(0, &[5], &z(&[1, 4]));
    gather_bounds: "gather: index 5 is out of bounds for axis 1 of size 5" => z(&[2, 5]).gather(1, &IndexTensor::from_vec(vec![0, 5], &[2, 1]));
    gather_rank: "gather: index shape [2] and input shape [2, 5] have different numbers of dimensions" => z(&[2, 5]).gather(1, &IndexTensor::from_vec(vec![0, 0], &[2]));
    gather_shape: "gather: index shape [3, 2] is larger than input shape [2, 5] outside axis 1" => z(&[2, 5]).gather(1, &IndexTensor::from_vec(vec![0; 6], &[3, 2]));
    scatter_add_src: "scatter_add: index shape [2, 3] is larger than src shape [2, 2]" => z(&[2, 5]).scatter_add(1, &IndexTensor::from_vec(vec![0; 6], &[2, 3]), &z(&[2, 2]));
    one_hot_label: "one_hot: label 3 is out of range for 3 classes" => Tensor::<f32>::one_hot(&[0, 3], 3);
    im2col_rank: "im2col: expected an input of shape [N, C, H, W], got [3, 4]" => z(&[3, 4]).im2col((1, 1), (1, 1), (0, 0), (1, 1));
    im2col_fit: "im2col: kernel (3, 3) with dilation (2, 2) does not fit input [1, 1, 4, 4] with padding (0, 0)" => z(&[1, 1, 4, 4]).im2col((3, 3), (1, 1), (0, 0), (2, 2));
    im2col_stride: "im2col: kernel (2, 2), stride (0, 1) and dilation (1, 1) must be positive" => z(&[1, 1, 4, 4]).im2col((2, 2), (0, 1), (0, 0), (1, 1));
    col2im_rows: "col2im: columns [1, 5, 4] do not fit kernel (2, 2): expected [N, C*4, L]" => z(&[1, 5, 4]).col2im((3, 3), (2, 2), (1, 1), (0, 0), (1, 1));
    col2im_positions: "col2im: columns [1, 4, 5] do not match output (3, 3): kernel (2, 2), stride (1, 1), padding (0, 0) and dilation (1, 1) give 2x2 = 4 positions" => z(&[1, 4, 5]).col2im((3, 3), (2, 2), (1, 1), (0, 0), (1, 1));
    conv_size_fit: "conv_output_size: kernel 5 (stride 1, dilation 1) does not fit input 3 with padding 0" => conv_output_size(3, 5, 1, 0, 1);
    clamp_bounds: "clamp: min 2 is greater than max 1" => z(&[2]).clamp(2.0, 1.0);
    conv2d_rank: "conv2d: expected an input [N, C, H, W], got [3, 4]" => z(&[3, 4]).conv2d(&z(&[1, 1, 1, 1]), None, (1, 1), (0, 0), (1, 1));
    conv2d_channels: "conv2d: input [1, 3, 8, 8] has 3 channels but weight [4, 2, 3, 3] expects 2" => z(&[1, 3, 8, 8]).conv2d(&z(&[4, 2, 3, 3]), None, (1, 1), (0, 0), (1, 1));
    conv2d_fit: "conv2d: kernel 5 (stride 1, dilation 1) does not fit input 3 with padding 0" => z(&[1, 1, 3, 8]).conv2d(&z(&[1, 1, 5, 1]), None, (1, 1), (0, 0), (1, 1));
    conv2d_bias: "conv2d: bias [2] does not match weight [4, 1, 1, 1] (expects [4])" => z(&[1, 1, 3, 3]).conv2d(&z(&[4, 1, 1, 1]), Some(&z(&[2])), (1, 1), (0, 0), (1, 1));
    conv_transpose2d_image: "conv_transpose2d: gradient [1, 4, 6, 6] does not match image (7, 7): kernel (3, 3), stride (1, 1), padding (0, 0) and dilation (1, 1) give 5x5 positions" => z(&[1, 4, 6, 6]).conv_transpose2d(&z(&[4, 2, 3, 3]), (7, 7), (1, 1), (0, 0), (1, 1));
    conv_transpose2d_channels: "conv_transpose2d: gradient [1, 3, 6, 6] has 3 channels but weight [4, 2, 3, 3] has 4 outputs" => z(&[1, 3, 6, 6]).conv_transpose2d(&z(&[4, 2, 3, 3]), (8, 8), (1, 1), (0, 0), (1, 1));
    conv2d_weight_grad_shape: "conv2d_weight_grad: gradient [2, 4, 6, 6] does not fit input [1, 2, 8, 8]" => z(&[1, 2, 8, 8]).conv2d_weight_grad(&z(&[2, 4, 6, 6]), (3, 3), (1, 1), (0, 0), (1, 1));
}
