//! 3x3, stride-1 "same" convolutions by Winograd's minimal filtering F(2x2, 3x3) (CXR Lab
//! patch).
//!
//! Each 2x2 block of output pixels is computed from the 4x4 input block around it with 16
//! multiplications per (input, output) channel pair where the direct sum takes 36. With the
//! transforms `V = Bᵀ d B` (input tile `d`), `U = G w Gᵀ` (3x3 kernel `w`) and
//! `Y = Aᵀ (Σ_c U ⊙ V) A`, the sum over input channels becomes 16 GEMMs, one per position `ξ`
//! of the 4x4 transformed tile: `M_ξ[c_out, tile] = U_ξ[c_out, c_in] · V_ξ[c_in, tile]`.
//! That is 2.25x fewer multiply-adds than the im2col GEMM of `conv_nchw`, and the transformed
//! input is 4x the input where the im2col matrix is 9x. The transforms (Lavin & Gray, "Fast
//! Algorithms for Convolutional Neural Networks", 2016):
//!
//! ```text
//!      ⎡1  0 −1  0⎤        ⎡ 1   0   0⎤
//! Bᵀ = ⎢0  1  1  0⎥    G = ⎢ ½   ½   ½⎥    Aᵀ = ⎡1  1  1  0⎤
//!      ⎢0 −1  1  0⎥        ⎢ ½  −½   ½⎥         ⎣0  1 −1 −1⎦
//!      ⎣0  1  0 −1⎦        ⎣ 0   0   1⎦
//! ```
//!
//! All of DenseNet's 3x3 convolutions have this shape, and so has the input gradient of each:
//! the same convolution of the output gradient, with each kernel turned by 180° and the
//! channels swapped. Tiles are taken in rows of 2x2 blocks, several images' rows together when
//! images are small, so that the GEMMs stay wide in the late dense blocks (4x4 pixels at 128²).

use alloc::vec::Vec;
use core::ops::Range;

use burn_backend::DType;
use burn_backend::ops::ConvOptions;
use burn_std::Shape;

use crate::FlexTensor;
use crate::ops::conv_nchw::gemm;
use crate::ops::kernel_float::{KernelFloat, filled_in_chunks, in_float_type, tensor};

/// Positions of a transformed 4x4 tile, one GEMM each.
const POSITIONS: usize = 16;

/// Elements of the transformed input and the products for one chunk of tiles: about 1 MiB of
/// f32, so that both stay in L2 while the 16 GEMMs run.
const CHUNK_ELEMENTS: usize = 256 * 1024;

/// Fewest channels on the summed side for the GEMMs to pay for the transforms.
const MIN_CHANNELS: usize = 8;

/// Whether `options` and a weight of shape `weight` make a 3x3, stride-1, undilated, ungrouped
/// convolution padded by 1 on every side: output and input the same size.
fn is_same_3x3(weight: &Shape, options: &ConvOptions<2>) -> bool {
    weight[2] == 3
        && weight[3] == 3
        && options.stride == [1, 1]
        && options.dilation == [1, 1]
        && options.padding == [(1, 1); 2]
        && options.groups == 1
}

/// Whether the forward convolution goes through Winograd here: f32 or f64, the shape above,
/// and enough input channels.
pub(crate) fn forward_handles(
    x: &FlexTensor,
    weight: &FlexTensor,
    options: &ConvOptions<2>,
) -> bool {
    let w = weight.layout().shape();
    matches!(x.dtype(), DType::F32 | DType::F64) && is_same_3x3(w, options) && w[1] >= MIN_CHANNELS
}

/// Whether the input gradient goes through Winograd: the shape above and enough output
/// channels (the channels the gradient sums over). Any float type (f16 and bf16 via f32).
pub(crate) fn x_backward_handles(weight: &FlexTensor, options: &ConvOptions<2>) -> bool {
    let w = weight.layout().shape();
    is_same_3x3(w, options) && w[0] >= MIN_CHANNELS
}

/// The sizes of one convolution: `channels_in` are summed over, `channels_out` produced.
#[derive(Clone, Copy)]
struct Dims {
    batch: usize,
    channels_in: usize,
    channels_out: usize,
    height: usize,
    width: usize,
}

impl Dims {
    /// Rows of 2x2 output blocks in one image.
    fn tiles_down(&self) -> usize {
        self.height.div_ceil(2)
    }

    /// 2x2 output blocks in one row.
    fn tiles_across(&self) -> usize {
        self.width.div_ceil(2)
    }

    fn pixels(&self) -> usize {
        self.height * self.width
    }
}

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

/// `conv2d` for a convolution [`forward_handles`] accepts.
pub(crate) fn conv2d(x: FlexTensor, weight: FlexTensor, bias: Option<FlexTensor>) -> FlexTensor {
    match x.dtype() {
        DType::F32 => forward_typed::<f32>(x, weight, bias),
        DType::F64 => forward_typed::<f64>(x, weight, bias),
        dtype => panic!("winograd conv2d: unsupported dtype {dtype:?}"),
    }
}

fn forward_typed<T: KernelFloat>(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
) -> FlexTensor {
    let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
    let (xs, ws) = (x.layout().shape().clone(), weight.layout().shape().clone());
    let dims = Dims {
        batch: xs[0],
        channels_in: xs[1],
        channels_out: ws[0],
        height: xs[2],
        width: xs[3],
    };
    let w: &[T] = weight.storage();
    let u = transform_kernels(dims.channels_out, dims.channels_in, |o, c| {
        core::array::from_fn(|tap| w[(o * dims.channels_in + c) * 9 + tap])
    });
    let mut y = convolve(x.storage(), &u, dims);
    if let Some(bias) = bias {
        let bias = bias.to_contiguous();
        let bias: &[T] = bias.storage();
        for (run, &b) in y.chunks_mut(dims.pixels().max(1)).zip(bias.iter().cycle()) {
            run.iter_mut().for_each(|v| *v = *v + b);
        }
    }
    tensor(
        y,
        Shape::new([dims.batch, dims.channels_out, dims.height, dims.width]),
    )
}

/// `conv2d_x_backward` for a convolution [`x_backward_handles`] accepts: the "same"
/// convolution of the output gradient with kernel `w'[c_in, c_out] = rot180(w[c_out, c_in])`.
pub(crate) fn conv2d_x_backward(
    x_shape: &Shape,
    weight: FlexTensor,
    output_grad: FlexTensor,
) -> FlexTensor {
    in_float_type(
        "winograd conv2d_x_backward",
        [weight, output_grad],
        |[w, g]| x_grad_typed::<f32>(x_shape, w, g),
        |[w, g]| x_grad_typed::<f64>(x_shape, w, g),
        |grad, back| back(grad),
    )
}

fn x_grad_typed<T: KernelFloat>(
    x_shape: &Shape,
    weight: FlexTensor,
    grad: FlexTensor,
) -> FlexTensor {
    let (weight, grad) = (weight.to_contiguous(), grad.to_contiguous());
    let ws = weight.layout().shape().clone();
    let dims = Dims {
        batch: x_shape[0],
        channels_in: ws[0],
        channels_out: x_shape[1],
        height: x_shape[2],
        width: x_shape[3],
    };
    let w: &[T] = weight.storage();
    // Output channel `c` of the gradient convolution sums over the forward's outputs `o`.
    let u = transform_kernels(dims.channels_out, dims.channels_in, |c, o| {
        core::array::from_fn(|tap| w[(o * dims.channels_out + c) * 9 + 8 - tap])
    });
    tensor(convolve(grad.storage(), &u, dims), x_shape.clone())
}

// ---------------------------------------------------------------------------------------------
// The algorithm
// ---------------------------------------------------------------------------------------------

/// `U = G w Gᵀ` for every kernel, laid out `[out][ξ][in]` (the GEMM operand of position `ξ`
/// is rows `out` at stride `16 · in`), one output channel per task; `kernel(o, c)` is the 3x3
/// kernel from input channel `c` to output channel `o`, row-major.
fn transform_kernels<T: KernelFloat>(
    outputs: usize,
    inputs: usize,
    kernel: impl Fn(usize, usize) -> [T; 9] + Sync + Send,
) -> Vec<T> {
    let half = T::from_f64(0.5);
    // G applied to a column (or row) of three taps.
    let g = |a: T, b: T, c: T| [a, (a + b + c) * half, (a - b + c) * half, c];
    filled_in_chunks(
        outputs * POSITIONS * inputs,
        POSITIONS * inputs,
        1,
        |o, u_o| {
            for c in 0..inputs {
                let w = kernel(o, c);
                let columns: [[T; 4]; 3] = core::array::from_fn(|j| g(w[j], w[3 + j], w[6 + j]));
                for i in 0..4 {
                    let row = g(columns[0][i], columns[1][i], columns[2][i]);
                    for (j, &value) in row.iter().enumerate() {
                        u_o[(i * 4 + j) * inputs + c] = value;
                    }
                }
            }
        },
    )
}

/// Per-thread buffers: the transformed input and the products of one chunk, and the rows the
/// transforms work on.
struct Scratch<T> {
    v: Vec<T>,
    m: Vec<T>,
    lines: Vec<T>,
}

/// `y[b, o] = Σ_c w[o, c] ⋆ x[b, c]`, zero-padded by 1, through the transformed kernels `u`.
fn convolve<T: KernelFloat>(x: &[T], u: &[T], dims: Dims) -> Vec<T> {
    let plane = dims.pixels();
    let len = dims.batch * dims.channels_out * plane;
    if len == 0 {
        return Vec::new();
    }
    let per_tile = POSITIONS * (dims.channels_in + dims.channels_out);
    let chunk_tiles = (CHUNK_ELEMENTS / per_tile).max(1);
    // Whole images per task (tasks write disjoint slices of `y`), as many as spreads them
    // evenly over the threads: a task's chunks of tile rows run on through its images (several
    // images' rows in one chunk when they are small, so the GEMMs are wide), and its scratch
    // buffers are allocated, and zeroed, once per task rather than once per image.
    let images = dims.batch.div_ceil(threads()).max(1);
    let rows_per_chunk = (chunk_tiles / dims.tiles_across()).max(1);
    filled_in_chunks(
        len,
        images * dims.channels_out * plane,
        1,
        |task, y_task| {
            let first = task * images;
            let count = y_task.len() / (dims.channels_out * plane);
            let images_x =
                &x[first * dims.channels_in * plane..][..count * dims.channels_in * plane];
            let mut scratch = Scratch {
                v: Vec::new(),
                m: Vec::new(),
                lines: Vec::new(),
            };
            let rows = count * dims.tiles_down();
            for start in (0..rows).step_by(rows_per_chunk) {
                let chunk = start..(start + rows_per_chunk).min(rows);
                transform_input(images_x, dims, chunk.clone(), &mut scratch);
                multiply(u, dims, chunk.len() * dims.tiles_across(), &mut scratch);
                transform_output(dims, chunk, &mut scratch, y_task);
            }
        },
    )
}

fn threads() -> usize {
    #[cfg(feature = "rayon")]
    {
        rayon::current_num_threads().max(1)
    }
    #[cfg(not(feature = "rayon"))]
    {
        1
    }
}

/// `out[t] = f(a[t], b[t])` over `out`'s length (slices cut to it, so the loop vectorises).
#[inline(always)]
fn zip_map<T: KernelFloat>(out: &mut [T], a: &[T], b: &[T], f: impl Fn(T, T) -> T) {
    let (a, b) = (&a[..out.len()], &b[..out.len()]);
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = f(a, b);
    }
}

/// `V = Bᵀ d B` for the tiles of tile rows `rows` (counted through the images of `x`), into
/// `scratch.v` as `[ξ][c_in][tile]`.
///
/// Per input channel and tile row, in passes over contiguous runs: the four input rows it
/// reads, zero-padded to `2 · tiles_across + 2` columns, split into even and odd columns as
/// they are read (tile `t` reads padded columns `2t … 2t + 3`: even `t`, odd `t`, even `t + 1`,
/// odd `t + 1`); `Bᵀ` down the columns; `B` along each result, each output position one run
/// of tiles.
fn transform_input<T: KernelFloat>(
    x: &[T],
    dims: Dims,
    rows: Range<usize>,
    scratch: &mut Scratch<T>,
) {
    let (down, across, width) = (dims.tiles_down(), dims.tiles_across(), dims.width);
    let tiles = rows.len() * across;
    let half = across + 1;
    scratch
        .v
        .resize(POSITIONS * dims.channels_in * tiles, T::ZERO);
    scratch.lines.resize(16 * half, T::ZERO);
    let (inputs, combined) = scratch.lines.split_at_mut(8 * half);
    for c in 0..dims.channels_in {
        for (r, row) in rows.clone().enumerate() {
            let (image, ty) = (row / down, row % down);
            let channel = &x[(image * dims.channels_in + c) * dims.pixels()..][..dims.pixels()];
            // inputs: even columns of rows 0..4, then odd columns of rows 0..4.
            let (even_in, odd_in) = inputs.split_at_mut(4 * half);
            for i in 0..4 {
                let iy = (2 * ty + i) as isize - 1;
                let (e, o) = (
                    &mut even_in[i * half..][..half],
                    &mut odd_in[i * half..][..half],
                );
                if iy < 0 || iy as usize >= dims.height {
                    e.fill(T::ZERO);
                    o.fill(T::ZERO);
                    continue;
                }
                // Padded column 2k is input column 2k − 1, padded column 2k + 1 is 2k.
                let src = &channel[iy as usize * width..][..width];
                e[0] = T::ZERO;
                o[0] = src[0];
                let pairs = src[1..].chunks_exact(2);
                let rest = pairs.remainder();
                let mut k = 1 + pairs.len();
                for ((pair, e), o) in pairs.zip(&mut e[1..]).zip(&mut o[1..]) {
                    *e = pair[0];
                    *o = pair[1];
                }
                if let [last] = rest {
                    e[k] = *last;
                    o[k] = T::ZERO;
                    k += 1;
                }
                e[k..].fill(T::ZERO);
                o[k..].fill(T::ZERO);
            }
            // Bᵀ down the columns: rows d0 − d2, d1 + d2, d2 − d1, d1 − d3, for each parity.
            let (even_out, odd_out) = combined.split_at_mut(4 * half);
            for (input, out) in [(&*even_in, even_out), (&*odd_in, odd_out)] {
                let d = |i: usize| &input[i * half..][..half];
                let (s01, s23) = out.split_at_mut(2 * half);
                let (s0, s1) = s01.split_at_mut(half);
                let (s2, s3) = s23.split_at_mut(half);
                zip_map(s0, d(0), d(2), |a, b| a - b);
                zip_map(s1, d(1), d(2), |a, b| a + b);
                zip_map(s2, d(2), d(1), |a, b| a - b);
                zip_map(s3, d(1), d(3), |a, b| a - b);
            }
            // B along each row: positions 4i … 4i + 3.
            for i in 0..4 {
                let e = &combined[i * half..][..half];
                let o = &combined[(4 + i) * half..][..half];
                for j in 0..4 {
                    let at = ((4 * i + j) * dims.channels_in + c) * tiles + r * across;
                    let out = &mut scratch.v[at..][..across];
                    match j {
                        0 => zip_map(out, e, &e[1..], |a, b| a - b),
                        1 => zip_map(out, o, &e[1..], |a, b| a + b),
                        2 => zip_map(out, &e[1..], o, |a, b| a - b),
                        _ => zip_map(out, o, &o[1..], |a, b| a - b),
                    }
                }
            }
        }
    }
}

/// `M_ξ = U_ξ · V_ξ` for the 16 positions, into `scratch.m` as `[ξ][c_out][tile]`.
fn multiply<T: KernelFloat>(u: &[T], dims: Dims, tiles: usize, scratch: &mut Scratch<T>) {
    let (outs, ins) = (dims.channels_out, dims.channels_in);
    scratch.m.resize(POSITIONS * outs * tiles, T::ZERO);
    for position in 0..POSITIONS {
        let dst = scratch.m[position * outs * tiles..].as_mut_ptr();
        gemm(
            [outs, tiles, ins],
            (dst, tiles, 1),
            false,
            (&u[position * ins..], POSITIONS * ins, 1),
            (
                &scratch.v[position * ins * tiles..][..ins * tiles],
                tiles,
                1,
            ),
        );
    }
}

/// `Y = Aᵀ M A` for the tiles of tile rows `rows`, written into `y` (the images of the task,
/// NCHW); the last block row or column is cut off when the image's size is odd.
fn transform_output<T: KernelFloat>(
    dims: Dims,
    rows: Range<usize>,
    scratch: &mut Scratch<T>,
    y: &mut [T],
) {
    let (down, across) = (dims.tiles_down(), dims.tiles_across());
    let (height, width) = (dims.height, dims.width);
    let tiles = rows.len() * across;
    scratch.lines.resize(8 * across, T::ZERO);
    let m = &scratch.m;
    for o in 0..dims.channels_out {
        for (r, row) in rows.clone().enumerate() {
            let p = |i: usize| &m[(i * dims.channels_out + o) * tiles + r * across..][..across];
            // Aᵀ down the columns: q0 = m0 + m1 + m2, q1 = m1 − m2 − m3 (rows of 4 positions).
            let (q0, q1) = scratch.lines.split_at_mut(4 * across);
            for j in 0..4 {
                let (a, b, c, d) = (p(j), p(4 + j), p(8 + j), p(12 + j));
                let out0 = &mut q0[j * across..][..across];
                for (((out, &a), &b), &c) in out0.iter_mut().zip(a).zip(b).zip(c) {
                    *out = a + b + c;
                }
                let out1 = &mut q1[j * across..][..across];
                for (((out, &b), &c), &d) in out1.iter_mut().zip(b).zip(c).zip(d) {
                    *out = b - c - d;
                }
            }
            // Aᵀ along each row, interleaved into the output rows 2·ty and 2·ty + 1.
            let (image, ty) = (row / down, row % down);
            let plane = &mut y[(image * dims.channels_out + o) * dims.pixels()..][..dims.pixels()];
            for (a, q) in [&*q0, &*q1].into_iter().enumerate() {
                let oy = 2 * ty + a;
                if oy >= height {
                    break;
                }
                let line = &mut plane[oy * width..][..width];
                let q = |j: usize| &q[j * across..][..across];
                let (q0, q1, q2, q3) = (q(0), q(1), q(2), q(3));
                let pairs = line.chunks_exact_mut(2);
                let tail = width % 2 == 1;
                for ((((pair, &a), &b), &c), &d) in pairs.zip(q0).zip(q1).zip(q2).zip(q3) {
                    pair[0] = a + b + c;
                    pair[1] = b - c - d;
                }
                if tail {
                    let t = across - 1;
                    line[width - 1] = q0[t] + q1[t] + q2[t];
                }
            }
        }
    }
}
