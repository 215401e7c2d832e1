//! The weight gradient of a 2D convolution as one GEMM per image (CXR Lab patch).
//!
//! burn-backend's default `conv2d_weight_backward` swaps batch and channels and runs a
//! convolution whose "kernel" is the whole output gradient: for every input channel flex then
//! builds an im2col tile of one (1x1) or nine (3x3) pixels and calls a matrix-vector product
//! that streams the output gradient again. Here, per image `b` and group:
//!
//! `dW[c_out, (c_in, ky, kx)] += Σ_l g_b[c_out, l] · col_b[(c_in, ky, kx), l]`
//!
//! with `l` the output pixels and `col_b` the image's patches in channels-first im2col order
//! (each row a shifted copy of an input row), so `k = output pixels` and the arithmetic is that
//! of the forward convolution. A 1x1, stride-1, unpadded convolution reads the image itself as
//! `col_b`. Images are spread over threads, each with its own accumulator, summed at the end.

use alloc::vec;
use alloc::vec::Vec;

use burn_backend::DType;
use burn_backend::ops::ConvOptions;
use burn_std::{Bytes, Shape, bf16, f16};

use crate::{FlexTensor, Layout};

/// Elements of one im2col tile: about 1 MiB of f32, so a tile stays in L2 while GEMM reads it.
const TILE_ELEMENTS: usize = 256 * 1024;

/// The float types gemm multiplies directly.
pub(crate) trait GemmFloat:
    bytemuck::Pod + burn_backend::Element + Copy + Send + Sync + 'static + core::ops::Add<Output = Self>
{
    const ZERO: Self;
    const ONE: Self;
}

impl GemmFloat for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

impl GemmFloat for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
}

/// `conv2d_weight_backward` for flex. `x` is the unpadded input (asymmetric padding already
/// applied by the caller), `options` symmetric.
pub(crate) fn conv2d_weight_backward(
    x: FlexTensor,
    weight_shape: &Shape,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    match x.dtype() {
        DType::F32 => weight_grad_typed::<f32>(x, weight_shape, output_grad, options),
        DType::F64 => weight_grad_typed::<f64>(x, weight_shape, output_grad, options),
        DType::F16 => {
            let to_f32 = |t| crate::ops::module::cast_to_f32::<f16>(t, f32::from);
            let grad =
                weight_grad_typed::<f32>(to_f32(x), weight_shape, to_f32(output_grad), options);
            crate::ops::module::cast_from_f32::<f16>(grad, f16::from_f32)
        }
        DType::BF16 => {
            let to_f32 = |t| crate::ops::module::cast_to_f32::<bf16>(t, f32::from);
            let grad =
                weight_grad_typed::<f32>(to_f32(x), weight_shape, to_f32(output_grad), options);
            crate::ops::module::cast_from_f32::<bf16>(grad, bf16::from_f32)
        }
        dtype => panic!("conv2d_weight_backward: unsupported dtype {dtype:?}"),
    }
}

/// The convolution's geometry, as the per-image work needs it.
#[derive(Clone, Copy)]
struct Geometry {
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
    fn in_per_group(&self) -> usize {
        self.channels_in / self.groups
    }

    fn out_per_group(&self) -> usize {
        self.channels_out / self.groups
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
        (TILE_ELEMENTS / (self.patch_len() * self.out_w).max(1)).clamp(1, self.out_h)
    }
}

fn weight_grad_typed<T: GemmFloat>(
    x: FlexTensor,
    weight_shape: &Shape,
    output_grad: FlexTensor,
    options: &ConvOptions<2>,
) -> FlexTensor {
    let x = x.to_contiguous();
    let output_grad = output_grad.to_contiguous();
    let dtype = x.dtype();
    let xs = x.layout().shape();
    let gs = output_grad.layout().shape();
    let geometry = Geometry {
        channels_in: xs[1],
        channels_out: weight_shape[0],
        groups: options.groups,
        in_h: xs[2],
        in_w: xs[3],
        out_h: gs[2],
        out_w: gs[3],
        kernel: [weight_shape[2], weight_shape[3]],
        stride: options.stride,
        padding: options.padding_begin(),
        dilation: options.dilation,
    };
    let batch = xs[0];
    let x_data: &[T] = x.storage();
    let g_data: &[T] = output_grad.storage();
    let grad_len = geometry.channels_out * geometry.patch_len();

    let one_image = |mut scratch: Scratch<T>, b: usize| {
        accumulate_image(&geometry, x_data, g_data, b, &mut scratch);
        scratch
    };
    let new_scratch = || Scratch {
        grad: vec![T::ZERO; grad_len],
        col: Vec::new(),
    };

    #[cfg(feature = "rayon")]
    let grad = {
        use rayon::prelude::*;
        (0..batch)
            .into_par_iter()
            .fold(new_scratch, one_image)
            .map(|scratch| scratch.grad)
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, &b)| *a = *a + b);
                a
            })
            .unwrap_or_else(|| vec![T::ZERO; grad_len])
    };
    #[cfg(not(feature = "rayon"))]
    let grad = (0..batch).fold(new_scratch(), one_image).grad;

    FlexTensor::new(
        Bytes::from_elems(grad),
        Layout::contiguous(weight_shape.clone()),
        dtype,
    )
}

/// One thread's accumulator and im2col buffer.
struct Scratch<T> {
    grad: Vec<T>,
    col: Vec<T>,
}

/// Adds image `b`'s contribution to `scratch.grad` (`[c_out, patch_len]`, row-major).
fn accumulate_image<T: GemmFloat>(
    geo: &Geometry,
    x: &[T],
    g: &[T],
    b: usize,
    scratch: &mut Scratch<T>,
) {
    let pixels_in = geo.in_h * geo.in_w;
    let pixels_out = geo.out_h * geo.out_w;
    let patch_len = geo.patch_len();
    for group in 0..geo.groups {
        let x_group = &x[(b * geo.channels_in + group * geo.in_per_group()) * pixels_in..]
            [..geo.in_per_group() * pixels_in];
        let g_group = &g[(b * geo.channels_out + group * geo.out_per_group()) * pixels_out..]
            [..geo.out_per_group() * pixels_out];
        let grad_group = &mut scratch.grad[group * geo.out_per_group() * patch_len..]
            [..geo.out_per_group() * patch_len];
        if geo.is_pointwise() {
            gemm_accumulate(
                grad_group, g_group, pixels_out, x_group, pixels_out, pixels_out, geo,
            );
            continue;
        }
        let rows = geo.tile_rows();
        let mut row = 0;
        while row < geo.out_h {
            let end = (row + rows).min(geo.out_h);
            let tile = (end - row) * geo.out_w;
            scratch.col.resize(patch_len * tile, T::ZERO);
            im2col_rows(geo, x_group, row..end, &mut scratch.col[..patch_len * tile]);
            gemm_accumulate(
                grad_group,
                &g_group[row * geo.out_w..],
                pixels_out,
                &scratch.col,
                tile,
                tile,
                geo,
            );
            row = end;
        }
    }
}

/// `grad[c_out, j] += Σ_l g[c_out·g_row + l] · col[j·col_row + l]` for `l < k`: one GEMM with
/// `m = c_out per group`, `n = patch_len`, `k` = the output pixels in this tile.
fn gemm_accumulate<T: GemmFloat>(
    grad: &mut [T],
    g: &[T],
    g_row: usize,
    col: &[T],
    col_row: usize,
    k: usize,
    geo: &Geometry,
) {
    let m = geo.out_per_group();
    let n = geo.patch_len();
    debug_assert!(grad.len() >= m * n);
    debug_assert!(g.len() >= (m - 1) * g_row + k);
    debug_assert!(col.len() >= (n - 1) * col_row + k);
    // SAFETY: the asserts above bound every index gemm reads or writes: dst is m×n row-major,
    // lhs m×k with row stride g_row, rhs k×n with column stride col_row.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            grad.as_mut_ptr(),
            1,
            n as isize,
            true,
            g.as_ptr(),
            1,
            g_row as isize,
            col.as_ptr(),
            col_row as isize,
            1,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Channels-first im2col of output rows `rows`: row `(c_in, ky, kx)` of `col` holds, for each
/// output pixel of the tile, the input pixel that kernel tap reads (zero in the padding).
fn im2col_rows<T: GemmFloat>(
    geo: &Geometry,
    x_group: &[T],
    rows: core::ops::Range<usize>,
    col: &mut [T],
) {
    let [kh, kw] = geo.kernel;
    let [sh, sw] = geo.stride;
    let [ph, pw] = geo.padding;
    let [dh, dw] = geo.dilation;
    let tile = rows.len() * geo.out_w;
    let pixels_in = geo.in_h * geo.in_w;
    for c in 0..geo.in_per_group() {
        let plane = &x_group[c * pixels_in..][..pixels_in];
        for ky in 0..kh {
            for kx in 0..kw {
                let tap = (c * kh + ky) * kw + kx;
                let dst = &mut col[tap * tile..][..tile];
                // Output columns whose input column lies inside the image.
                let shift = (kx * dw) as isize - pw as isize;
                let first = ((-shift).max(0) as usize).div_ceil(sw).min(geo.out_w);
                let last = if (geo.in_w as isize) > shift {
                    ((geo.in_w as isize - shift - 1) as usize / sw + 1).min(geo.out_w)
                } else {
                    0
                }
                .max(first);
                for (t, oy) in rows.clone().enumerate() {
                    let out = &mut dst[t * geo.out_w..][..geo.out_w];
                    let iy = (oy * sh + ky * dh) as isize - ph as isize;
                    if iy < 0 || iy >= geo.in_h as isize {
                        out.fill(T::ZERO);
                        continue;
                    }
                    let src = &plane[iy as usize * geo.in_w..][..geo.in_w];
                    out[..first].fill(T::ZERO);
                    out[last..].fill(T::ZERO);
                    if sw == 1 {
                        let start = (first as isize + shift) as usize;
                        out[first..last].copy_from_slice(&src[start..start + last - first]);
                    } else {
                        for (ox, v) in out[first..last].iter_mut().enumerate() {
                            *v = src[(((first + ox) * sw) as isize + shift) as usize];
                        }
                    }
                }
            }
        }
    }
}
