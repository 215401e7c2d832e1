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
//!
//! Everything between the NCHW input and output runs channels-last: the input rows are staged
//! with each pixel's channels contiguous, the transforms work on vectors of channels, and the
//! GEMM operands are column-major matrices: `V` `[tile][ξ][c_in]`, `M` `[tile][ξ][c_out]` and
//! `U` `[c_in][ξ][c_out]`.

use alloc::vec::Vec;
use core::mem::MaybeUninit;
use core::ops::{Add, Mul, Range, Sub};

use burn_backend::DType;
use burn_backend::ops::ConvOptions;
use burn_std::Shape;

use crate::FlexTensor;
use crate::ops::conv_nchw::gemm;
use crate::ops::kernel_float::{
    KernelFloat, VectorFloat, in_float_type, tensor, written_in_chunks,
};

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

fn forward_typed<T: VectorFloat>(
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
    let u = transform_kernels(
        w,
        dims.channels_out,
        dims.channels_in,
        [dims.channels_in, 1],
        false,
    );
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

fn x_grad_typed<T: VectorFloat>(
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
    // Output channel `c` of the gradient convolution sums over the forward's outputs `o`: its
    // kernel from `o` is the forward's from `c` to `o`, turned.
    let u = transform_kernels(
        w,
        dims.channels_out,
        dims.channels_in,
        [1, dims.channels_out],
        true,
    );
    tensor(convolve(grad.storage(), &u, dims), x_shape.clone())
}

// ---------------------------------------------------------------------------------------------
// The algorithm
// ---------------------------------------------------------------------------------------------

/// `U = G w Gᵀ` for every kernel, laid out `[in][ξ][out]`, one input channel per task: the
/// GEMM operand of position `ξ` is column-major (columns `16 · out` apart), which gemm's
/// micro-kernel reads with its rows along the output channels. The 3x3 kernel from input
/// channel `c` to output channel `o` is the 9 values of `w` from `9 · (o · strides[0] + c ·
/// strides[1])` on, row-major, or turned by 180° when `turned`.
///
/// A task first gathers its channel's kernels tap by tap (`[tap][out]`), then transforms them
/// in vectors of output channels, each of `U`'s rows written in vectors: one kernel at a time,
/// with its 16 values written `out` apart, this was ~3 % of the browser's inference.
fn transform_kernels<T: VectorFloat>(
    w: &[T],
    outputs: usize,
    inputs: usize,
    strides: [usize; 2],
    turned: bool,
) -> Vec<T> {
    let write = |c: usize, u_c: &mut [MaybeUninit<T>]| {
        let mut taps = vec![T::ZERO; 9 * outputs];
        let into = taps.as_mut_ptr();
        for o in 0..outputs {
            let mut kernel: [T; 9] = w[9 * (o * strides[0] + c * strides[1])..][..9]
                .try_into()
                .expect("9 taps");
            if turned {
                kernel.reverse();
            }
            for (tap, value) in kernel.into_iter().enumerate() {
                // SAFETY: `tap < 9` and `o < outputs`: inside `taps`' `9 · outputs` values.
                unsafe { into.add(tap * outputs + o).write(value) };
            }
        }
        kernel_tiles(&taps, outputs, u_c);
    };
    // SAFETY: `kernel_tiles` writes all 16 positions of every output channel.
    unsafe { written_in_chunks(inputs * POSITIONS * outputs, POSITIONS * outputs, 1, write) }
}

/// `U = G w Gᵀ` of one 3x3 kernel `w` (row-major), indexed by 4 · row + column; values or
/// vectors, as in [`input_tile`], with `half` = ½.
#[inline(always)]
fn kernel_tile<V: Copy + Add<Output = V> + Sub<Output = V> + Mul<Output = V>>(
    w: [V; 9],
    half: V,
) -> [V; 16] {
    // G applied to a column (or row) of three taps.
    let g = |a: V, b: V, c: V| [a, (a + b + c) * half, (a - b + c) * half, c];
    let columns: [[V; 4]; 3] = core::array::from_fn(|j| g(w[j], w[3 + j], w[6 + j]));
    let rows: [[V; 4]; 4] =
        core::array::from_fn(|i| g(columns[0][i], columns[1][i], columns[2][i]));
    core::array::from_fn(|p| rows[p / 4][p % 4])
}

/// [`kernel_tile`] for every output channel of `taps` (`[tap][out]`, `outputs` a tap) into `u`
/// (`[ξ][out]`): in vectors of output channels, then one at a time for the rest.
#[allow(clippy::extra_unused_type_parameters)]
#[cfg_attr(feature = "simd", macerator::with_simd)]
fn kernel_tiles<#[cfg(feature = "simd")] S: macerator::Simd, T: VectorFloat>(
    taps: &[T],
    outputs: usize,
    u: &mut [MaybeUninit<T>],
) {
    assert!(taps.len() == 9 * outputs && u.len() == POSITIONS * outputs);
    #[allow(unused_mut)]
    let mut o = 0;
    #[cfg(feature = "simd")]
    {
        use macerator::{vload_unaligned, vstore_unaligned};
        let lanes = T::lanes::<S>();
        let half = T::from_f64(0.5).splat::<S>();
        while o + lanes <= outputs {
            // SAFETY: `o + lanes ≤ outputs`, and `taps` (`u`) holds 9 (16) runs of `outputs`,
            // asserted above.
            unsafe {
                let w = core::array::from_fn(|tap| {
                    vload_unaligned::<S, T>(taps.as_ptr().add(tap * outputs + o))
                });
                for (p, values) in kernel_tile(w, half).into_iter().enumerate() {
                    vstore_unaligned(u.as_mut_ptr().add(p * outputs + o).cast::<T>(), values);
                }
            }
            o += lanes;
        }
    }
    let half = T::from_f64(0.5);
    for o in o..outputs {
        let w = core::array::from_fn(|tap| taps[tap * outputs + o]);
        for (p, value) in kernel_tile(w, half).into_iter().enumerate() {
            u[p * outputs + o].write(value);
        }
    }
}

/// Per-thread buffers: the transformed input and the products of one chunk, and the input
/// rows staged channels-last for the input transform. `v` and `m` are written in full before
/// they are read, so they are not zeroed ([`uninitialised`]): a task's first chunk used to
/// spend a `memset` of ~1 MiB on them, in every convolution.
struct Scratch<T> {
    v: Vec<MaybeUninit<T>>,
    m: Vec<MaybeUninit<T>>,
    staged: Vec<T>,
}

/// `buffer` as `len` uninitialised elements, its allocation reused.
fn uninitialised<T>(buffer: &mut Vec<MaybeUninit<T>>, len: usize) {
    buffer.clear();
    buffer.reserve(len);
    // SAFETY: the capacity is at least `len`, and a `MaybeUninit` needs no initialisation.
    unsafe { buffer.set_len(len) };
}

/// `y[b, o] = Σ_c w[o, c] ⋆ x[b, c]`, zero-padded by 1, through the transformed kernels `u`.
fn convolve<T: VectorFloat>(x: &[T], u: &[T], dims: Dims) -> Vec<T> {
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
    // buffers are allocated once per task rather than once per image.
    let images = dims.batch.div_ceil(threads()).max(1);
    let rows_per_chunk = (chunk_tiles / dims.tiles_across()).max(1);
    let write = |task: usize, y_task: &mut [MaybeUninit<T>]| {
        let first = task * images;
        let count = y_task.len() / (dims.channels_out * plane);
        let images_x = &x[first * dims.channels_in * plane..][..count * dims.channels_in * plane];
        let mut scratch = Scratch {
            v: Vec::new(),
            m: Vec::new(),
            staged: Vec::new(),
        };
        let rows = count * dims.tiles_down();
        for start in (0..rows).step_by(rows_per_chunk) {
            let chunk = start..(start + rows_per_chunk).min(rows);
            transform_input(images_x, dims, chunk.clone(), &mut scratch);
            multiply(u, dims, chunk.len() * dims.tiles_across(), &mut scratch);
            // SAFETY: `multiply` wrote all of `m` for this chunk's tiles.
            let m = unsafe { scratch.m.assume_init_ref() };
            transform_output(dims, chunk, m, y_task);
        }
    };
    // SAFETY: `write` writes every element of its images: their tile rows are all in its
    // chunks, and `transform_output` writes each pixel of a tile that lies in the image, in
    // every output channel (the tiles cover the image).
    unsafe { written_in_chunks(len, images * dims.channels_out * plane, 1, write) }
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

/// `V = Bᵀ d B` of one 4x4 tile, `d` and `V` indexed by 4 · row + column. Each value is one
/// channel's, or a vector of consecutive channels'.
#[inline(always)]
fn input_tile<V: Copy + Add<Output = V> + Sub<Output = V>>(d: [V; 16]) -> [V; 16] {
    // Bᵀ down each column j: rows d0 − d2, d1 + d2, d2 − d1, d1 − d3.
    let column = |j: usize| {
        let (d0, d1, d2, d3) = (d[j], d[4 + j], d[8 + j], d[12 + j]);
        [d0 - d2, d1 + d2, d2 - d1, d1 - d3]
    };
    let (c0, c1, c2, c3) = (column(0), column(1), column(2), column(3));
    // B along each row i, the same combinations of its columns.
    let row = |i: usize| [c0[i] - c2[i], c1[i] + c2[i], c2[i] - c1[i], c1[i] - c3[i]];
    let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
    [
        r0[0], r0[1], r0[2], r0[3], r1[0], r1[1], r1[2], r1[3], r2[0], r2[1], r2[2], r2[3], r3[0],
        r3[1], r3[2], r3[3],
    ]
}

/// `Y = Aᵀ M A` of one tile: the 2x2 output block, indexed by 2 · row + column, from the 4x4
/// products indexed by 4 · row + column (values or vectors, as in [`input_tile`]).
#[inline(always)]
fn output_tile<V: Copy + Add<Output = V> + Sub<Output = V>>(m: [V; 16]) -> [V; 4] {
    // Aᵀ down each column j: q0 = m0 + m1 + m2, q1 = m1 − m2 − m3.
    let q0 = |j: usize| m[j] + m[4 + j] + m[8 + j];
    let q1 = |j: usize| m[4 + j] - m[8 + j] - m[12 + j];
    let (a0, a1, a2, a3) = (q0(0), q0(1), q0(2), q0(3));
    let (b0, b1, b2, b3) = (q1(0), q1(1), q1(2), q1(3));
    // Aᵀ along each row.
    [a0 + a1 + a2, a1 - a2 - a3, b0 + b1 + b2, b1 - b2 - b3]
}

/// Where one image's tile rows of a chunk are: their staged input (`line` elements a line,
/// `pitch` a pixel) and their tiles in the chunk's GEMM operands (from `first_tile` on).
#[derive(Clone, Copy)]
struct TileRows {
    rows: usize,
    across: usize,
    line: usize,
    pitch: usize,
    channels: usize,
    first_tile: usize,
}

/// [`input_tile`] for every tile of `walk`, from `staged` into `v` (`[tile][ξ][channel]`): in
/// vectors of channels, then one channel at a time for the rest.
#[allow(clippy::extra_unused_type_parameters)]
#[cfg_attr(feature = "simd", macerator::with_simd)]
fn input_tiles<#[cfg(feature = "simd")] S: macerator::Simd, T: VectorFloat>(
    staged: &[T],
    v: &mut [MaybeUninit<T>],
    walk: TileRows,
) {
    let channels = walk.channels;
    for r in 0..walk.rows {
        for tx in 0..walk.across {
            let tile = walk.first_tile + r * walk.across + tx;
            let from: [usize; POSITIONS] = core::array::from_fn(|p| {
                (2 * r + p / 4) * walk.line + (2 * tx + p % 4) * walk.pitch
            });
            let to: [usize; POSITIONS] =
                core::array::from_fn(|p| (tile * POSITIONS + p) * channels);
            // The last position is the furthest in both.
            assert!(from[15] + channels <= staged.len() && to[15] + channels <= v.len());
            #[allow(unused_mut)]
            let mut c = 0;
            #[cfg(feature = "simd")]
            {
                use macerator::{vload_unaligned, vstore_unaligned};
                let lanes = T::lanes::<S>();
                while c + lanes <= channels {
                    // SAFETY: `c + lanes ≤ channels`, and every run `from[p] + channels`
                    // (`to[p] + channels`) lies within `staged` (`v`), asserted above.
                    unsafe {
                        let d = core::array::from_fn(|p| {
                            vload_unaligned::<S, T>(staged.as_ptr().add(from[p] + c))
                        });
                        for (p, values) in input_tile(d).into_iter().enumerate() {
                            vstore_unaligned(v.as_mut_ptr().add(to[p] + c).cast::<T>(), values);
                        }
                    }
                    c += lanes;
                }
            }
            for c in c..channels {
                let d = core::array::from_fn(|p| staged[from[p] + c]);
                for (p, value) in input_tile(d).into_iter().enumerate() {
                    v[to[p] + c].write(value);
                }
            }
        }
    }
}

/// `V = Bᵀ d B` for the tiles of tile rows `rows` (counted through the images of `x`), into
/// `scratch.v` as `[tile][ξ][c_in]`: `V_ξ` is the GEMM's right-hand side, `c_in × tiles` with
/// each tile's channels contiguous and its columns `16 · c_in` apart. A tile's 16 positions lie
/// together so that its transform writes one run: written `tiles · c_in` apart (`[ξ][tile]`),
/// 16 streams of stores far apart made the transform ~3.5x slower in Chromium.
///
/// The tile rows of one image are done together: their input rows are staged channels-last
/// ([`stage_channels_last`]), so that each of a tile's 16 input values is a contiguous run of
/// channels and the transform works on vectors of channels. (Worked on NCHW planes, its runs
/// were a row of tiles, 4 to 28 long, and its loops cost more than its arithmetic.)
fn transform_input<T: VectorFloat>(
    x: &[T],
    dims: Dims,
    rows: Range<usize>,
    scratch: &mut Scratch<T>,
) {
    let (down, across, channels) = (dims.tiles_down(), dims.tiles_across(), dims.channels_in);
    let tiles = rows.len() * across;
    // Every element is written below: every tile of the rows, every position and channel.
    uninitialised(&mut scratch.v, POSITIONS * tiles * channels);
    let pitch = staged_pitch(channels);
    let mut row = rows.start;
    while row < rows.end {
        let image = row / down;
        let end = rows.end.min((image + 1) * down);
        let image_x = &x[image * channels * dims.pixels()..][..channels * dims.pixels()];
        // Tile row `ty` reads padded input rows 2·ty … 2·ty + 3, image rows 2·ty − 1 … 2·ty + 2.
        let ty = row % down;
        let lines = 2 * (end - row) + 2;
        stage_channels_last(
            image_x,
            dims,
            2 * ty as isize - 1,
            lines,
            &mut scratch.staged,
        );
        let walk = TileRows {
            rows: end - row,
            across,
            line: staged_columns(dims) * pitch,
            pitch,
            channels,
            first_tile: (row - rows.start) * across,
        };
        input_tiles(&scratch.staged, &mut scratch.v, walk);
        row = end;
    }
}

/// Columns of a staged line: the image's columns −1 … 2 · tiles_across, zero outside it.
fn staged_columns(dims: Dims) -> usize {
    2 * dims.tiles_across() + 2
}

/// Channels staged together: each staged pixel gets its run of them in one write.
const STAGE_CHANNELS: usize = 8;

/// Elements from one staged pixel to the next: the channels and [`STAGE_CHANNELS`] more, so
/// that the pixels of a line do not all fall into the same few cache sets when the channel
/// count is a power of two (512 bytes apart for 128 channels: 8 of L1's 64 sets).
fn staged_pitch(channels: usize) -> usize {
    channels + STAGE_CHANNELS
}

/// Image rows `first .. first + lines` of `x` (one image, NCHW) into `staged` channels-last,
/// `[line][column][channel]` with [`staged_columns`] columns of [`staged_pitch`] elements:
/// column `k` holds the image's column `k − 1`, and rows and columns outside the image are
/// zeros (the padding).
fn stage_channels_last<T: KernelFloat>(
    x: &[T],
    dims: Dims,
    first: isize,
    lines: usize,
    staged: &mut Vec<T>,
) {
    let (channels, height, width) = (dims.channels_in, dims.height, dims.width);
    let pitch = staged_pitch(channels);
    let line_len = staged_columns(dims) * pitch;
    staged.resize(lines * line_len, T::ZERO);
    let inside = |l: usize| {
        let iy = first + l as isize;
        (iy >= 0 && (iy as usize) < height).then_some(iy as usize)
    };
    for (l, line) in staged.chunks_exact_mut(line_len).enumerate() {
        match inside(l) {
            None => line.fill(T::ZERO),
            Some(_) => {
                line[..pitch].fill(T::ZERO);
                line[(width + 1) * pitch..].fill(T::ZERO);
            }
        }
    }
    // [`STAGE_CHANNELS`] channels at a time, line by line: each channel's rows are read as one
    // contiguous stream (the prefetcher follows a few streams, not one per channel), and each
    // staged pixel gets the run of those channels in one write.
    for c0 in (0..channels).step_by(STAGE_CHANNELS) {
        let n = STAGE_CHANNELS.min(channels - c0);
        for l in 0..lines {
            let Some(iy) = inside(l) else { continue };
            let line = &mut staged[l * line_len + pitch..][..width * pitch];
            let rows: [&[T]; STAGE_CHANNELS] = core::array::from_fn(|k| {
                let c = c0 + k.min(n - 1);
                &x[(c * height + iy) * width..][..width]
            });
            for (col, pixel) in line.chunks_exact_mut(pitch).enumerate() {
                // A last, partial run fills the pixel's spare elements past the channels.
                let run: [T; STAGE_CHANNELS] = core::array::from_fn(|k| rows[k][col]);
                pixel[c0..][..STAGE_CHANNELS].copy_from_slice(&run);
            }
        }
    }
}

/// `M_ξ = U_ξ · V_ξ` for the 16 positions, into `scratch.m` as `[tile][ξ][c_out]` (a tile's
/// products one run for the output transform, as `V`'s). All three are column-major (`V_ξ`'s
/// and `M_ξ`'s columns `16 ·` channels apart), which gemm runs as they stand, its
/// micro-kernel's rows along the output channels: in a benchmark of these shapes (32 × 128 by
/// 128 × 102, and the input gradient's 128 × 32 by 32 × 102) that was 10–30 % faster than the
/// row-major operands it had before.
fn multiply<T: KernelFloat>(u: &[T], dims: Dims, tiles: usize, scratch: &mut Scratch<T>) {
    let (outs, ins) = (dims.channels_out, dims.channels_in);
    // SAFETY: `transform_input` wrote all of `v` for these tiles.
    let v = unsafe { scratch.v.assume_init_ref() };
    assert_eq!(
        v.len(),
        POSITIONS * tiles * ins,
        "multiply: V of other tiles"
    );
    // Every element is written below, by GEMMs without accumulation.
    uninitialised(&mut scratch.m, POSITIONS * tiles * outs);
    for position in 0..POSITIONS {
        let dst = scratch.m[position * outs..].as_mut_ptr().cast::<T>();
        gemm(
            [outs, tiles, ins],
            (dst, 1, POSITIONS * outs),
            false,
            (&u[position * outs..], 1, POSITIONS * outs),
            (&v[position * ins..], 1, POSITIONS * ins),
        );
    }
}

/// `Y = Aᵀ M A` for the tiles of tile rows `rows`, from the products `m` (`[tile][ξ][c_out]`),
/// written into `y` (the images of the task, NCHW); the last block row or column is cut off
/// when the image's size is odd.
fn transform_output<T: VectorFloat>(
    dims: Dims,
    rows: Range<usize>,
    m: &[T],
    y: &mut [MaybeUninit<T>],
) {
    let (down, across, channels) = (dims.tiles_down(), dims.tiles_across(), dims.channels_out);
    let (height, width, pixels) = (dims.height, dims.width, dims.pixels());
    for (r, row) in rows.enumerate() {
        let (image, ty) = (row / down, row % down);
        let planes = &mut y[image * channels * pixels..][..channels * pixels];
        for tx in 0..across {
            let tile = r * across + tx;
            // Where each pixel of the 2x2 block lies in a plane, if inside the image.
            let pixel_at: [Option<usize>; 4] = core::array::from_fn(|k| {
                let (oy, ox) = (2 * ty + k / 2, 2 * tx + k % 2);
                (oy < height && ox < width).then_some(oy * width + ox)
            });
            output_tile_to_planes(m, tile, channels, planes, pixels, pixel_at);
        }
    }
}

/// [`output_tile`] of tile `tile` for every channel, each pixel written to its
/// place `pixel_at` in the channel's plane (of `pixels`) in `planes`: in vectors of channels,
/// then one channel at a time for the rest.
#[allow(clippy::extra_unused_type_parameters)]
#[cfg_attr(feature = "simd", macerator::with_simd)]
fn output_tile_to_planes<#[cfg(feature = "simd")] S: macerator::Simd, T: VectorFloat>(
    m: &[T],
    tile: usize,
    channels: usize,
    planes: &mut [MaybeUninit<T>],
    pixels: usize,
    pixel_at: [Option<usize>; 4],
) {
    let from: [usize; POSITIONS] = core::array::from_fn(|p| (tile * POSITIONS + p) * channels);
    assert!(from[15] + channels <= m.len() && planes.len() >= channels * pixels);
    #[allow(unused_mut)]
    let mut c = 0;
    #[cfg(feature = "simd")]
    {
        use macerator::{vload_unaligned, vstore_unaligned};
        let lanes = T::lanes::<S>();
        // A vector's lanes, stored to be scattered over the planes (no target has 64).
        let mut buffer = [T::ZERO; 64];
        while c + lanes <= channels && lanes <= buffer.len() {
            // SAFETY: `c + lanes ≤ channels` and `from[p] + channels ≤ m.len()` (asserted),
            // and `buffer` holds `lanes` values.
            let block = unsafe {
                output_tile(core::array::from_fn(|p| {
                    vload_unaligned::<S, T>(m.as_ptr().add(from[p] + c))
                }))
            };
            for (values, at) in block.into_iter().zip(pixel_at) {
                if let Some(at) = at {
                    // SAFETY: as above.
                    unsafe { vstore_unaligned(buffer.as_mut_ptr(), values) };
                    for (l, &value) in buffer[..lanes].iter().enumerate() {
                        planes[(c + l) * pixels + at].write(value);
                    }
                }
            }
            c += lanes;
        }
    }
    for c in c..channels {
        let block = output_tile(core::array::from_fn(|p| m[from[p] + c]));
        for (value, at) in block.into_iter().zip(pixel_at) {
            if let Some(at) = at {
                planes[c * pixels + at].write(value);
            }
        }
    }
}
