//! 2D convolution, its input gradient and its weight gradient as GEMMs on channels-first data
//! (CXR Lab patch).
//!
//! Every pass works per image on `[channels, pixels]` matrices, the layout the tensors already
//! have, with an im2col matrix in channels-first order: row `(c_in, ky, kx)` holds, for each
//! output pixel `l`, the input pixel that kernel tap reads (each row a shifted copy of input
//! rows), and the weights `[c_out, c_in, kh, kw]` are already `W[c_out, (c_in, ky, kx)]`:
//!
//! - forward: `y_b[c_out, l] = W · col_b` (no NHWC copy of the input, no transposed scatter of
//!   the result, as flex's generic path has);
//! - input gradient: `col = Wᵀ · g_b`, then col2im adds each row back where it was read from;
//! - weight gradient: `dW += g_b · col_bᵀ`, accumulated over images. burn-backend's default
//!   swaps batch and channels and runs a convolution whose kernel is the whole output
//!   gradient, which flex runs as one matrix-vector product per input channel.
//!
//! The im2col matrix is built in tiles of output rows (about 1 MiB) and a 1x1, stride-1,
//! unpadded convolution uses the image itself. Work is spread over threads by image (and by
//! tile for the forward); each weight-gradient thread has its own accumulator.

use alloc::vec;
use alloc::vec::Vec;
use core::mem::MaybeUninit;
use core::ops::Range;

use burn_backend::DType;
use burn_backend::ops::ConvOptions;
use burn_backend::ops::conv::calculate_conv_output_size;
use burn_std::Shape;

use crate::FlexTensor;
use crate::ops::kernel_float::{KernelFloat, in_float_type, tensor, written_in_chunks};

/// Elements of one im2col tile: about 1 MiB of f32, so a tile stays in L2 while GEMM reads it.
const TILE_ELEMENTS: usize = 256 * 1024;

/// Whether the forward here beats flex's own for this convolution: f32 or f64 (flex has f16
/// GEMMs), and not few input channels per group (flex's depthwise and small-channel kernels)
/// unless the kernel is wide, as a stem's 7x7 on a grey image, whose im2col rows are long.
/// 1x1 stride-1 convolutions multiply the image itself, as flex does, but one image per task
/// with no nested parallel GEMM, into an output zeroed by its tasks rather than on the
/// calling thread first.
pub(crate) fn forward_handles(
    x: &FlexTensor,
    weight: &FlexTensor,
    options: &ConvOptions<2>,
) -> bool {
    let w = weight.layout().shape();
    let wide_kernel = options.groups == 1 && w[2] * w[3] >= 9;
    matches!(x.dtype(), DType::F32 | DType::F64) && (w[1] >= 8 || wide_kernel)
}

/// The convolution's geometry. `padding` is the padding before the first row and column; the
/// output size says how far the last taps reach.
#[derive(Clone, Copy)]
struct Geometry {
    batch: usize,
    channels_in: usize,
    channels_out: usize,
    groups: usize,
    in_h: usize,
    in_w: usize,
    out_h: usize,
    out_w: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
}

impl Geometry {
    fn new(x: &Shape, weight: &Shape, out: [usize; 2], options: &ConvOptions<2>) -> Self {
        Self {
            batch: x[0],
            channels_in: x[1],
            channels_out: weight[0],
            groups: options.groups,
            in_h: x[2],
            in_w: x[3],
            out_h: out[0],
            out_w: out[1],
            kernel: [weight[2], weight[3]],
            stride: options.stride,
            padding: options.padding_begin(),
            dilation: options.dilation,
        }
    }

    fn in_per_group(&self) -> usize {
        self.channels_in / self.groups
    }

    fn out_per_group(&self) -> usize {
        self.channels_out / self.groups
    }

    fn pixels_in(&self) -> usize {
        self.in_h * self.in_w
    }

    fn pixels_out(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Length of one output channel's weights: `c_in / groups · kh · kw`.
    fn patch_len(&self) -> usize {
        self.in_per_group() * self.kernel[0] * self.kernel[1]
    }

    /// A 1x1 kernel that reads every pixel once: the image is its own im2col matrix.
    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0, 0]
    }

    /// Output rows per im2col tile.
    fn tile_rows(&self) -> usize {
        (TILE_ELEMENTS / (self.patch_len() * self.out_w).max(1)).clamp(1, self.out_h.max(1))
    }

    /// The output-row tiles of one image.
    fn tiles(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        let rows = self.tile_rows();
        (0..self.out_h)
            .step_by(rows)
            .map(move |start| start..(start + rows).min(self.out_h))
    }

    /// Image `b`, group `group` of a `[batch, channels, pixels]` buffer.
    fn slice<'a, T>(
        &self,
        data: &'a [T],
        b: usize,
        group: usize,
        per_group: usize,
        channels: usize,
        pixels: usize,
    ) -> &'a [T] {
        &data[(b * channels + group * per_group) * pixels..][..per_group * pixels]
    }

    /// For kernel column `kx`: the output columns whose input column lies inside the image,
    /// and the input column of output column 0 (`ix = ox · stride + shift`).
    fn valid_columns(&self, kx: usize) -> (Range<usize>, isize) {
        let sw = self.stride[1];
        let shift = (kx * self.dilation[1]) as isize - self.padding[1] as isize;
        let first = ((-shift).max(0) as usize).div_ceil(sw).min(self.out_w);
        let last = if (self.in_w as isize) > shift {
            ((self.in_w as isize - shift - 1) as usize / sw + 1).min(self.out_w)
        } else {
            0
        };
        (first..last.max(first), shift)
    }

    /// The input row output row `oy` reads through kernel row `ky`, if inside the image.
    fn input_row(&self, oy: usize, ky: usize) -> Option<usize> {
        let iy = (oy * self.stride[0] + ky * self.dilation[0]) as isize - self.padding[0] as isize;
        (iy >= 0 && iy < self.in_h as isize).then_some(iy as usize)
    }
}

/// `dst = lhs · rhs` (or `dst += lhs · rhs` with `accumulate`), `m×k` by `k×n`, every operand
/// given as (slice, row stride, column stride). Without `accumulate`, every element of `dst` is
/// written and none is read, so `dst` may point to uninitialised memory.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm<T: KernelFloat>(
    [m, n, k]: [usize; 3],
    dst: (*mut T, usize, usize),
    accumulate: bool,
    lhs: (&[T], usize, usize),
    rhs: (&[T], usize, usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: `dst` is left as it is, or zeroed (which callers that hand over
        // uninitialised memory rely on: "without accumulation, every element is written").
        if !accumulate {
            for (i, j) in (0..m).flat_map(|i| (0..n).map(move |j| (i, j))) {
                // SAFETY: the callers pass a dst pointer valid for an m×n matrix with these
                // strides.
                unsafe { dst.0.add(i * dst.1 + j * dst.2).write(T::ZERO) };
            }
        }
        return;
    }
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        lhs.0.len() > last(m, k, lhs.1, lhs.2),
        "gemm: lhs out of bounds"
    );
    assert!(
        rhs.0.len() > last(k, n, rhs.1, rhs.2),
        "gemm: rhs out of bounds"
    );
    // SAFETY: lhs and rhs are bounds-checked above; the callers pass a dst pointer valid for
    // an m×n matrix with these strides, which no other thread writes concurrently.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.0,
            dst.2 as isize,
            dst.1 as isize,
            accumulate,
            lhs.0.as_ptr(),
            lhs.2 as isize,
            lhs.1 as isize,
            rhs.0.as_ptr(),
            rhs.2 as isize,
            rhs.1 as isize,
            if accumulate { T::ONE } else { T::ZERO },
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Channels-first im2col of output rows `rows` into `col` (`[patch_len, rows · out_w]`).
fn im2col_rows<T: KernelFloat>(geo: &Geometry, x_group: &[T], rows: Range<usize>, col: &mut [T]) {
    let [kh, kw] = geo.kernel;
    let sw = geo.stride[1];
    let tile = rows.len() * geo.out_w;
    for c in 0..geo.in_per_group() {
        let plane = &x_group[c * geo.pixels_in()..][..geo.pixels_in()];
        for ky in 0..kh {
            for kx in 0..kw {
                let tap = (c * kh + ky) * kw + kx;
                let dst = &mut col[tap * tile..][..tile];
                let (valid, shift) = geo.valid_columns(kx);
                if geo.stride == [1, 1] && geo.in_w == geo.out_w {
                    same_pitch_rows(geo, plane, rows.clone(), ky, (valid, shift), dst);
                    continue;
                }
                for (t, oy) in rows.clone().enumerate() {
                    let out = &mut dst[t * geo.out_w..][..geo.out_w];
                    let Some(iy) = geo.input_row(oy, ky) else {
                        out.fill(T::ZERO);
                        continue;
                    };
                    let src = &plane[iy * geo.in_w..][..geo.in_w];
                    out[..valid.start].fill(T::ZERO);
                    out[valid.end..].fill(T::ZERO);
                    if sw == 1 {
                        let start = (valid.start as isize + shift) as usize;
                        out[valid.clone()].copy_from_slice(&src[start..start + valid.len()]);
                    } else {
                        for ox in valid.clone() {
                            out[ox] = src[((ox * sw) as isize + shift) as usize];
                        }
                    }
                }
            }
        }
    }
}

/// One im2col row `dst` (one kernel tap, output rows `rows`) when input and output rows have
/// the same length and stride 1: the tap's source is then one contiguous run of the input
/// plane, copied at once; only the output columns whose input column lies outside the image
/// (which the run fills with the neighbouring row's pixels) and the rows outside it are zeroed.
/// One copy per tap instead of one short copy per output row.
fn same_pitch_rows<T: KernelFloat>(
    geo: &Geometry,
    plane: &[T],
    rows: Range<usize>,
    ky: usize,
    (valid, shift): (Range<usize>, isize),
    dst: &mut [T],
) {
    let w = geo.out_w;
    // Output row `oy` reads input row `oy + row_shift`.
    let row_shift = (ky * geo.dilation[0]) as isize - geo.padding[0] as isize;
    let lo = rows.start.max((-row_shift).max(0) as usize).min(rows.end);
    let hi = rows
        .end
        .min((geo.in_h as isize - row_shift).max(0) as usize)
        .max(lo);
    dst[..(lo - rows.start) * w].fill(T::ZERO);
    dst[(hi - rows.start) * w..].fill(T::ZERO);
    if hi == lo {
        return;
    }
    let (start, len) = ((lo - rows.start) * w, (hi - lo) * w);
    let source = ((lo as isize + row_shift) * w as isize) + shift;
    // Ends of the run before the plane's first or after its last pixel: invalid columns,
    // zeroed below.
    let first = (-source).max(0) as usize;
    let last = len
        .min((plane.len() as isize - source).max(0) as usize)
        .max(first);
    dst[start + first..start + last]
        .copy_from_slice(&plane[(source + first as isize) as usize..][..last - first]);
    for row in dst[start..start + len].chunks_mut(w) {
        row[..valid.start].fill(T::ZERO);
        row[valid.end..].fill(T::ZERO);
    }
}

/// The inverse of [`im2col_rows`]: adds each entry of `col` to the input pixel it was read
/// from (`dx_group` is `[c_in per group, in_h · in_w]`).
fn col2im_rows<T: KernelFloat>(geo: &Geometry, col: &[T], rows: Range<usize>, dx_group: &mut [T]) {
    let [kh, kw] = geo.kernel;
    let sw = geo.stride[1];
    let tile = rows.len() * geo.out_w;
    let pixels_in = geo.pixels_in();
    for c in 0..geo.in_per_group() {
        let plane = &mut dx_group[c * pixels_in..][..pixels_in];
        for ky in 0..kh {
            for kx in 0..kw {
                let tap = (c * kh + ky) * kw + kx;
                let src = &col[tap * tile..][..tile];
                let (valid, shift) = geo.valid_columns(kx);
                for (t, oy) in rows.clone().enumerate() {
                    let Some(iy) = geo.input_row(oy, ky) else {
                        continue;
                    };
                    let from = &src[t * geo.out_w..][..geo.out_w];
                    let to = &mut plane[iy * geo.in_w..][..geo.in_w];
                    if sw == 1 {
                        let start = (valid.start as isize + shift) as usize;
                        let to = &mut to[start..start + valid.len()];
                        for (d, &v) in to.iter_mut().zip(&from[valid.clone()]) {
                            *d = *d + v;
                        }
                    } else {
                        for ox in valid.clone() {
                            let ix = ((ox * sw) as isize + shift) as usize;
                            to[ix] = to[ix] + from[ox];
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------------------------

/// `conv2d` (symmetric padding: the caller pads asymmetric inputs), f32 or f64.
pub(crate) fn conv2d(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: &ConvOptions<2>,
) -> FlexTensor {
    match x.dtype() {
        DType::F32 => forward_typed::<f32>(x, weight, bias, options),
        DType::F64 => forward_typed::<f64>(x, weight, bias, options),
        dtype => panic!("conv2d: unsupported dtype {dtype:?}"),
    }
}

fn forward_typed<T: KernelFloat>(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
    let (xs, ws) = (x.layout().shape().clone(), weight.layout().shape().clone());
    let out = [0, 1].map(|a| {
        let pad = options.padding_begin()[a];
        calculate_conv_output_size(
            ws[2 + a],
            options.stride[a],
            pad,
            options.dilation[a],
            xs[2 + a],
        )
    });
    let geo = Geometry::new(&xs, &ws, out, options);
    let (x_data, w_data): (&[T], &[T]) = (x.storage(), weight.storage());
    let bias = bias.map(|b| b.to_contiguous().storage::<T>().to_vec());
    let len = geo.batch * geo.channels_out * geo.pixels_out();
    // One task per image: its output channels are one contiguous block, every element of
    // which a GEMM writes (without accumulating, so not zeroed first).
    let write = |b: usize, y_b: &mut [MaybeUninit<T>]| {
        let mut col = Vec::new();
        for group in 0..geo.groups {
            let x_group = geo.slice(
                x_data,
                b,
                group,
                geo.in_per_group(),
                geo.channels_in,
                geo.pixels_in(),
            );
            let w_group = &w_data[group * geo.out_per_group() * geo.patch_len()..]
                [..geo.out_per_group() * geo.patch_len()];
            let y_group = &mut y_b[group * geo.out_per_group() * geo.pixels_out()..]
                [..geo.out_per_group() * geo.pixels_out()];
            let y_group = y_group.as_mut_ptr().cast::<T>();
            if geo.is_pointwise() {
                gemm(
                    [geo.out_per_group(), geo.pixels_out(), geo.patch_len()],
                    (y_group, geo.pixels_out(), 1),
                    false,
                    (w_group, geo.patch_len(), 1),
                    (x_group, geo.pixels_in(), 1),
                );
                continue;
            }
            for rows in geo.tiles() {
                let tile = rows.len() * geo.out_w;
                col.resize(geo.patch_len() * tile, T::ZERO);
                im2col_rows(&geo, x_group, rows.clone(), &mut col);
                // SAFETY: the tile's rows lie within the group's `out_per_group` planes.
                let dst = unsafe { y_group.add(rows.start * geo.out_w) };
                gemm(
                    [geo.out_per_group(), tile, geo.patch_len()],
                    (dst, geo.pixels_out(), 1),
                    false,
                    (w_group, geo.patch_len(), 1),
                    (&col, tile, 1),
                );
            }
        }
        if let Some(bias) = &bias {
            // SAFETY: the GEMMs above wrote every group's planes, and the groups tile `y_b`.
            let y_b = unsafe { y_b.assume_init_mut() };
            for (c, run) in y_b.chunks_mut(geo.pixels_out()).enumerate() {
                run.iter_mut().for_each(|v| *v = *v + bias[c]);
            }
        }
    };
    // SAFETY: `write` writes every element of its image's block: the groups' planes tile it,
    // and each group's GEMMs (pointwise, or one per tile of rows, the tiles covering all rows)
    // write all of them without accumulating.
    let y = unsafe { written_in_chunks(len, geo.channels_out * geo.pixels_out(), 1, write) };
    tensor(y, Shape::new([geo.batch, geo.channels_out, out[0], out[1]]))
}

// ---------------------------------------------------------------------------------------------
// Input gradient
// ---------------------------------------------------------------------------------------------

/// `conv2d_x_backward`: the gradient of the input `x` (any padding: taps outside the image,
/// before or after it, are dropped).
pub(crate) fn conv2d_x_backward(
    x_shape: &Shape,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    in_float_type(
        "conv2d_x_backward",
        [weight, output_grad],
        |[w, g]| x_grad_typed::<f32>(x_shape, w, g, options),
        |[w, g]| x_grad_typed::<f64>(x_shape, w, g, options),
        |grad, back| back(grad),
    )
}

fn x_grad_typed<T: KernelFloat>(
    x_shape: &Shape,
    weight: FlexTensor,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let (weight, output_grad) = (weight.to_contiguous(), output_grad.to_contiguous());
    let (ws, gs) = (weight.layout().shape(), output_grad.layout().shape());
    let geo = Geometry::new(x_shape, ws, [gs[2], gs[3]], options);
    let (w_data, g_data): (&[T], &[T]) = (weight.storage(), output_grad.storage());
    let len = geo.batch * geo.channels_in * geo.pixels_in();
    let patch = geo.patch_len();
    // A pointwise GEMM writes each image's chunk without accumulating; col2im adds into it,
    // so it is zeroed first.
    let write = |b: usize, dx_b: &mut [MaybeUninit<T>]| {
        if !geo.is_pointwise() {
            dx_b.fill(MaybeUninit::new(T::ZERO));
        }
        let mut col = Vec::new();
        for group in 0..geo.groups {
            let g_group = geo.slice(
                g_data,
                b,
                group,
                geo.out_per_group(),
                geo.channels_out,
                geo.pixels_out(),
            );
            let w_group =
                &w_data[group * geo.out_per_group() * patch..][..geo.out_per_group() * patch];
            let dx_group = &mut dx_b[group * geo.in_per_group() * geo.pixels_in()..]
                [..geo.in_per_group() * geo.pixels_in()];
            // Wᵀ: [patch, c_out per group], read from W [c_out, patch] with swapped strides.
            let w_t = (w_group, 1, patch);
            if geo.is_pointwise() {
                let dst = (dx_group.as_mut_ptr().cast::<T>(), geo.pixels_in(), 1);
                let rhs = (g_group, geo.pixels_out(), 1);
                gemm(
                    [patch, geo.pixels_out(), geo.out_per_group()],
                    dst,
                    false,
                    w_t,
                    rhs,
                );
                continue;
            }
            // SAFETY: zeroed above (not pointwise).
            let dx_group = unsafe { dx_group.assume_init_mut() };
            for rows in geo.tiles() {
                let tile = rows.len() * geo.out_w;
                col.resize(patch * tile, T::ZERO);
                let rhs = (&g_group[rows.start * geo.out_w..], geo.pixels_out(), 1);
                let dst = (col.as_mut_ptr(), tile, 1);
                gemm([patch, tile, geo.out_per_group()], dst, false, w_t, rhs);
                col2im_rows(&geo, &col, rows, dx_group);
            }
        }
    };
    // SAFETY: `write` zeroes its image's chunk first unless the convolution is pointwise, and
    // then each group's GEMM (`patch` = its input channels, by the image's pixels, which are
    // the output's) writes all of the group's planes, and the groups tile the chunk.
    let dx = unsafe { written_in_chunks(len, geo.channels_in * geo.pixels_in(), 1, write) };
    tensor(dx, x_shape.clone())
}

// ---------------------------------------------------------------------------------------------
// Weight gradient
// ---------------------------------------------------------------------------------------------

/// `conv2d_weight_backward`: the gradient of the weights (any padding, as above).
pub(crate) fn conv2d_weight_backward(
    x: FlexTensor,
    weight_shape: &Shape,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    in_float_type(
        "conv2d_weight_backward",
        [x, output_grad],
        |[x, g]| weight_grad_typed::<f32>(x, weight_shape, g, options),
        |[x, g]| weight_grad_typed::<f64>(x, weight_shape, g, options),
        |grad, back| back(grad),
    )
}

fn weight_grad_typed<T: KernelFloat>(
    x: FlexTensor,
    weight_shape: &Shape,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let (x, output_grad) = (x.to_contiguous(), output_grad.to_contiguous());
    let gs = output_grad.layout().shape();
    let geo = Geometry::new(x.layout().shape(), weight_shape, [gs[2], gs[3]], options);
    let (x_data, g_data): (&[T], &[T]) = (x.storage(), output_grad.storage());
    let grad_len = geo.channels_out * geo.patch_len();

    let per_gemm = images_per_gemm(&geo);
    let some_images = |mut scratch: Scratch<T>, chunk: usize| {
        let images = chunk * per_gemm..((chunk + 1) * per_gemm).min(geo.batch);
        if images.len() == 1 {
            accumulate_image(&geo, x_data, g_data, images.start, &mut scratch);
        } else {
            accumulate_images(&geo, x_data, g_data, images, &mut scratch);
        }
        scratch
    };
    let new_scratch = || Scratch {
        grad: vec![T::ZERO; grad_len],
        col: Vec::new(),
        g_side_by_side: Vec::new(),
        col_side_by_side: Vec::new(),
    };
    let chunks = geo.batch.div_ceil(per_gemm);

    #[cfg(feature = "rayon")]
    let grad = {
        use rayon::prelude::*;
        (0..chunks)
            .into_par_iter()
            .fold(new_scratch, some_images)
            .map(|scratch| scratch.grad)
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, &b)| *a = *a + b);
                a
            })
            .unwrap_or_else(|| vec![T::ZERO; grad_len])
    };
    #[cfg(not(feature = "rayon"))]
    let grad = (0..chunks).fold(new_scratch(), some_images).grad;

    tensor(grad, weight_shape.clone())
}

/// Sums of at least this many products per weight-gradient GEMM, where images are small enough
/// to be taken together.
const MIN_GEMM_SUM: usize = 128;

/// Images whose weight gradient is one GEMM: an image's GEMM sums over its output pixels, 4 to
/// 16 of them in DenseNet's late blocks at 64², so that each call of gemm read and wrote the
/// whole `dW` for a few products per element. Several images' pixels side by side make the
/// sum `MIN_GEMM_SUM` long, as far as the threads keep an image group each. For a 1x1
/// convolution (the image is its own im2col matrix), or when one tile holds an image's whole
/// im2col matrix.
fn images_per_gemm(geo: &Geometry) -> usize {
    let pixels = geo.pixels_out();
    let one_tile = geo.is_pointwise() || geo.tile_rows() >= geo.out_h;
    if pixels == 0 || pixels >= MIN_GEMM_SUM || !one_tile {
        return 1;
    }
    MIN_GEMM_SUM
        .div_ceil(pixels)
        .min(geo.batch.div_ceil(threads()))
        .max(1)
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

/// One thread's accumulator and im2col buffer, and for [`accumulate_images`] the output
/// gradient and the im2col matrices of its images side by side.
struct Scratch<T> {
    grad: Vec<T>,
    col: Vec<T>,
    g_side_by_side: Vec<T>,
    col_side_by_side: Vec<T>,
}

/// Adds the contribution of `images` to `scratch.grad` in one GEMM per group, over all their
/// pixels: `dW_group += [g_b …] · [col_b …]ᵀ`, each image's output gradient and im2col matrix
/// copied side by side (rows of `images · pixels`). For [`images_per_gemm`]'s cases: a 1x1
/// convolution or an image whose im2col matrix is one tile.
fn accumulate_images<T: KernelFloat>(
    geo: &Geometry,
    x: &[T],
    g: &[T],
    images: Range<usize>,
    scratch: &mut Scratch<T>,
) {
    let (patch, pixels) = (geo.patch_len(), geo.pixels_out());
    let (outs, ins) = (geo.out_per_group(), geo.in_per_group());
    let n = images.len() * pixels;
    let Scratch {
        grad,
        col,
        g_side_by_side,
        col_side_by_side,
    } = scratch;
    // Every element is overwritten below: each image's runs of each row.
    g_side_by_side.resize(outs * n, T::ZERO);
    col_side_by_side.resize(patch * n, T::ZERO);
    for group in 0..geo.groups {
        for (i, b) in images.clone().enumerate() {
            let g_group = geo.slice(g, b, group, outs, geo.channels_out, pixels);
            let x_group = geo.slice(x, b, group, ins, geo.channels_in, geo.pixels_in());
            let image_col: &[T] = if geo.is_pointwise() {
                x_group
            } else {
                col.resize(patch * pixels, T::ZERO);
                im2col_rows(geo, x_group, 0..geo.out_h, col);
                col
            };
            for (from, to) in [
                (g_group, &mut *g_side_by_side),
                (image_col, &mut *col_side_by_side),
            ] {
                for (row, run) in from.chunks_exact(pixels).enumerate() {
                    to[row * n + i * pixels..][..pixels].copy_from_slice(run);
                }
            }
        }
        let grad_group = &mut grad[group * outs * patch..][..outs * patch];
        gemm(
            [outs, patch, n],
            (grad_group.as_mut_ptr(), patch, 1),
            true,
            (&g_side_by_side[..], n, 1),
            (&col_side_by_side[..], 1, n),
        );
    }
}

/// Adds image `b`'s contribution to `scratch.grad` (`[c_out, patch_len]`, row-major):
/// `dW_group += g_group [c_out per group, pixels] · colᵀ [pixels, patch_len]`.
fn accumulate_image<T: KernelFloat>(
    geo: &Geometry,
    x: &[T],
    g: &[T],
    b: usize,
    scratch: &mut Scratch<T>,
) {
    let patch = geo.patch_len();
    for group in 0..geo.groups {
        let x_group = geo.slice(
            x,
            b,
            group,
            geo.in_per_group(),
            geo.channels_in,
            geo.pixels_in(),
        );
        let g_group = geo.slice(
            g,
            b,
            group,
            geo.out_per_group(),
            geo.channels_out,
            geo.pixels_out(),
        );
        let grad_group =
            &mut scratch.grad[group * geo.out_per_group() * patch..][..geo.out_per_group() * patch];
        let dst = (grad_group.as_mut_ptr(), patch, 1);
        if geo.is_pointwise() {
            let lhs = (g_group, geo.pixels_out(), 1);
            let rhs = (x_group, 1, geo.pixels_in());
            gemm(
                [geo.out_per_group(), patch, geo.pixels_out()],
                dst,
                true,
                lhs,
                rhs,
            );
            continue;
        }
        for rows in geo.tiles() {
            let tile = rows.len() * geo.out_w;
            scratch.col.resize(patch * tile, T::ZERO);
            im2col_rows(geo, x_group, rows.clone(), &mut scratch.col);
            let lhs = (&g_group[rows.start * geo.out_w..], geo.pixels_out(), 1);
            let rhs = (&scratch.col[..], 1, tile);
            gemm([geo.out_per_group(), patch, tile], dst, true, lhs, rhs);
        }
    }
}
