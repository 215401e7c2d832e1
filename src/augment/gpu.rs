//! The augmentation of a whole batch with burn tensor ops, on any [`Device`]: WebGPU in the
//! browser, wgpu natively (Vulkan, Metal, DX12), `flex` on the CPU. Each image gets its own
//! transform.
//!
//! The parameters are drawn on the CPU with [`sample`](super::sample), as for the CPU path,
//! so the two paths apply identical parameters and can be compared pixel by pixel. What moves
//! to the device is the per-pixel work. Only small per-image tensors are uploaded: one affine
//! matrix (`[B, 6]`) and one scalar per step. The exception is noise, whose normal draws come
//! from the CPU as a full `[B, 1, H, W]` tensor.
//!
//! The steps follow [`augment_image`](super::augment_image) in order and in formula:
//! - the crop and the Keras transform, in one resampling as on the CPU (`line_sampler`): the
//!   Keras transform's coordinates, in the cropped image, are taken into the image by the
//!   crop's axis-aligned map, clamped to its edges as in `flip_crop`.
//! - the Keras transform. The matrix comes from [`keras_matrix`](super::affine::keras_matrix),
//!   in `f64` on the CPU, with Keras's half-pixel centre. It is composed with the flips, then
//!   sampled bilinearly with scipy's four border modes (see [`FillMode`]). The sampler is
//!   written with plain tensor ops (floor, gather, arithmetic) rather than burn-vision's
//!   `grid_sample_2d`: burn-vision has none of scipy's `reflect` (half-sample symmetric) or
//!   `wrap` (period `n − 1`) modes, nor `constant` without blending, and adding it would cost
//!   every build a new crate.
//! - the flips. Keras flips after the channel shift, but the shift only reads each image's
//!   min and max, which a flip does not change. So the flips are folded into the sampling
//!   matrix and cost nothing.
//! - channel shift, brightness (with Keras's two `u8` truncations), gamma and contrast.
//! - noise (the normal draws come from the CPU, as the seeded generator is sequential) and
//!   erasing.
//! - [`standardize_batch`]: Keras's `standardize`.
//!
//! CLAHE and Gaussian blur stay CPU-only. CLAHE needs per-tile histograms and blur a different
//! kernel per image. [`augment_batch`] refuses parameters that ask for either, and does not
//! quietly skip them.
//!
//! Arithmetic is `f32` where the CPU path uses `f64`. A sampling coordinate is then off by
//! ~1e-5 pixel, which moves a smooth image by far less than a grey level. Where scipy is
//! discontinuous (the `constant` border, the `wrap` seam) and at the `u8` truncations of
//! brightness, such an error can change which side a pixel falls on. The tests in this file
//! state the bounds.

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use super::affine::{Matrix3, keras_matrix, mul};
use super::normalize::{FeaturewiseStats, STD_EPSILON, StandardizeError};
use super::params::TransformParams;
use super::plane::GREY_MAX;
use super::spec::{AugmentSpec, FillMode};
use crate::rng::SplitMix64;

/// Why a batch could not be augmented on the device.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GpuAugmentError {
    /// The number of parameter sets differs from the batch size.
    #[error(
        "{images} images but {params} parameter sets; draw one TransformParams per image with \
         augment::sample"
    )]
    ParamsCount {
        /// Images in the batch.
        images: usize,
        /// Parameter sets given.
        params: usize,
    },
    /// The batch is not `[B, 1, H, W]`.
    #[error("the batch has {channels} channels; augmentation works on grey [B, 1, H, W] images")]
    NotGrey {
        /// Channels found.
        channels: usize,
    },
    /// An image's parameters ask for a step only the CPU path has.
    #[error(
        "image {image} asks for {step}, which only the CPU path (augment_image) does; turn \
         {step} off to augment on the GPU, or augment this batch on the CPU"
    )]
    CpuOnly {
        /// Index of the image in the batch.
        image: usize,
        /// The step's name.
        step: &'static str,
    },
    /// `standardize` failed.
    #[error(transparent)]
    Standardize(#[from] StandardizeError),
}

/// The grey-level augmentation of a batch, as [`augment_image`](super::augment_image) does to
/// each image, before `standardize`.
///
/// # Shapes
/// - `images`: `[B, 1, H, W]`, grey levels 0–255 as for the CPU path.
/// - output: `[B, 1, H, W]`.
///
/// # Errors
/// [`GpuAugmentError::ParamsCount`] unless `params.len() == B`, [`GpuAugmentError::NotGrey`]
/// for more than one channel, [`GpuAugmentError::CpuOnly`] when an image needs CLAHE or blur.
pub fn augment_batch(
    spec: &AugmentSpec,
    params: &[TransformParams],
    images: Tensor<4>,
) -> Result<Tensor<4>, GpuAugmentError> {
    let [batch, channels, height, width] = images.dims();
    check_batch(spec, params, batch, channels)?;
    if batch == 0 || height == 0 || width == 0 {
        return Ok(images);
    }
    let mut x = images;

    let matrices: Vec<Option<[f64; 6]>> = params
        .iter()
        .map(|p| keras_and_flip_matrix(p, height, width))
        .collect();
    let cropped = params.iter().any(|p| p.crop.is_some());
    if cropped || matrices.iter().any(Option::is_some) {
        let matrices: Vec<[f64; 6]> = matrices
            .into_iter()
            .map(|m| m.unwrap_or(IDENTITY))
            .collect();
        let crops: Option<Vec<[f64; 4]>> = cropped.then(|| {
            params
                .iter()
                .map(|p| p.crop.map_or(NO_CROP, |w| crop_maps(&w, height, width)))
                .collect()
        });
        x = sample_affine(x, &matrices, crops.as_deref(), spec.fill_mode, spec.cval);
    }

    if params.iter().any(|p| p.channel_shift_intensity.is_some()) {
        // A shift of 0 clipped to the image's own range is exact, so no mask is needed.
        let shifts = per_image(params, |p| p.channel_shift_intensity.unwrap_or(0.0), &x);
        let (lo, hi) = image_min_max(&x);
        x = (x + shifts).max_pair(lo).min_pair(hi);
    }

    if params.iter().any(|p| p.brightness.is_some()) {
        let factors = per_image(params, |p| p.brightness.unwrap_or(1.0), &x);
        let mask = image_mask(params, |p| p.brightness.is_some(), &x);
        let bright = keras_brightness(x.clone(), factors);
        x = x.mask_where(mask, bright);
    }

    if params.iter().any(|p| p.gamma.is_some()) {
        let gammas = per_image(params, |p| p.gamma.unwrap_or(1.0), &x);
        let mask = image_mask(params, |p| p.gamma.is_some(), &x);
        let unit = x.clone().clamp(0.0, GREY_MAX) / GREY_MAX;
        x = x.mask_where(mask, unit.powf(gammas) * GREY_MAX);
    }

    if params.iter().any(|p| p.contrast.is_some()) {
        let factors = per_image(params, |p| p.contrast.unwrap_or(1.0), &x);
        let mask = image_mask(params, |p| p.contrast.is_some(), &x);
        let mean = image_mean(&x);
        let contrasted = (mean.clone() + factors * (x.clone() - mean)).clamp(0.0, GREY_MAX);
        x = x.mask_where(mask, contrasted);
    }

    if params.iter().any(|p| p.noise.is_some()) {
        let noise = noise_tensor(params, height, width, &x.device());
        let mask = image_mask(params, |p| p.noise.is_some(), &x);
        let noisy = (x.clone() + noise).clamp(0.0, GREY_MAX);
        x = x.mask_where(mask, noisy);
    }

    if let Some(erasing) = &spec.erasing
        && params.iter().any(|p| p.erase.is_some())
    {
        let mask = erase_mask(params, height, width, &x.device());
        x = x.mask_fill(mask, erasing.value as f32);
    }

    Ok(x)
}

/// Keras's `standardize` on a batch (rescale, samplewise, featurewise, in Keras's order), as
/// [`standardize`](super::standardize) does to each image.
///
/// # Errors
/// [`StandardizeError::FeaturewiseNotFitted`] if a featurewise step is on and `stats` is `None`.
pub fn standardize_batch(
    spec: &AugmentSpec,
    stats: Option<&FeaturewiseStats>,
    images: Tensor<4>,
) -> Result<Tensor<4>, StandardizeError> {
    let featurewise = spec.featurewise_center || spec.featurewise_std_normalization;
    if featurewise && stats.is_none() {
        return Err(StandardizeError::FeaturewiseNotFitted);
    }
    let mut x = images;
    // Keras's `if self.rescale:`: `None` and 0 both mean no rescaling.
    if let Some(scale) = spec.rescale.filter(|&r| r != 0.0) {
        x = x * scale as f32;
    }
    if spec.samplewise_center {
        let mean = image_mean(&x);
        x = x - mean;
    }
    if spec.samplewise_std_normalization {
        let [batch, _, height, width] = x.dims();
        let (var, _) = x.clone().reshape([batch, height * width]).var_mean_bias(1);
        let divisor = var.sqrt().reshape([batch, 1, 1, 1]) + STD_EPSILON as f32;
        x = x / divisor.expand([batch, 1, height, width]);
    }
    if let Some(stats) = stats.filter(|_| featurewise) {
        if spec.featurewise_center {
            x = x - stats.mean as f32;
        }
        if spec.featurewise_std_normalization {
            x = x / (stats.std + STD_EPSILON) as f32;
        }
    }
    Ok(x)
}

/// [`augment_batch`] then [`standardize_batch`]: the batch as the model gets it, as
/// [`prepare_image`](super::prepare_image) does per image.
///
/// # Errors
/// As [`augment_batch`] and [`standardize_batch`].
pub fn prepare_batch(
    spec: &AugmentSpec,
    params: &[TransformParams],
    stats: Option<&FeaturewiseStats>,
    images: Tensor<4>,
) -> Result<Tensor<4>, GpuAugmentError> {
    let augmented = augment_batch(spec, params, images)?;
    Ok(standardize_batch(spec, stats, augmented)?)
}

fn check_batch(
    spec: &AugmentSpec,
    params: &[TransformParams],
    batch: usize,
    channels: usize,
) -> Result<(), GpuAugmentError> {
    if params.len() != batch {
        return Err(GpuAugmentError::ParamsCount {
            images: batch,
            params: params.len(),
        });
    }
    if channels != 1 {
        return Err(GpuAugmentError::NotGrey { channels });
    }
    for (image, p) in params.iter().enumerate() {
        if p.clahe && spec.clahe.is_some() {
            return Err(GpuAugmentError::CpuOnly {
                image,
                step: "CLAHE",
            });
        }
        if p.blur_sigma.is_some() {
            return Err(GpuAugmentError::CpuOnly {
                image,
                step: "Gaussian blur",
            });
        }
    }
    Ok(())
}

/// The top two rows of a 3×3 matrix, row-major: `row = m0·r + m1·c + m2`,
/// `col = m3·r + m4·c + m5`.
const IDENTITY: [f64; 6] = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];

fn top_rows(m: &Matrix3) -> [f64; 6] {
    [m[0][0], m[0][1], m[0][2], m[1][0], m[1][1], m[1][2]]
}

/// A crop that changes nothing: `[row offset, row scale, column offset, column scale]`.
const NO_CROP: [f64; 4] = [0.0, 1.0, 0.0, 1.0];

/// The crop window as [`affine::crop_maps`](super::affine::crop_maps) gives it, flattened:
/// `[row offset, row scale, column offset, column scale]`.
fn crop_maps(window: &super::params::CropWindow, height: usize, width: usize) -> [f64; 4] {
    let (rows, cols) = super::affine::crop_maps(window, height, width);
    [rows.offset, rows.scale, cols.offset, cols.scale]
}

/// Keras's matrix composed with the image's flips, or `None` when Keras would not resample and
/// there is no flip. Output `(r, c)` of the flipped image is output `(H−1−r, W−1−c)` of the
/// transformed one, so the flips act on the output coordinates before the matrix does.
fn keras_and_flip_matrix(p: &TransformParams, height: usize, width: usize) -> Option<[f64; 6]> {
    let keras = keras_matrix(p, height, width);
    if keras.is_none() && !p.flip_horizontal && !p.flip_vertical {
        return None;
    }
    let mut m = keras.unwrap_or([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
    if p.flip_horizontal {
        let last = width.saturating_sub(1) as f64;
        m = mul(&m, &[[1.0, 0.0, 0.0], [0.0, -1.0, last], [0.0, 0.0, 1.0]]);
    }
    if p.flip_vertical {
        let last = height.saturating_sub(1) as f64;
        m = mul(&m, &[[-1.0, 0.0, last], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
    }
    Some(top_rows(&m))
}

/// scipy's `affine_transform(order=1, mode=fill, cval)` for every image of the batch, each
/// with its own matrix: output `(r, c)` of image `b` is the image sampled at
/// `matrices[b] · (r, c, 1)`. With `crops`, as [`line_sampler`](super::line_sampler) does: the
/// matrix gives coordinates in the cropped image, `fill` acts at its borders, and each image's
/// crop maps (`[row offset, row scale, column offset, column scale]`) take them into the image,
/// clamped to its edges, for one bilinear sample.
fn sample_affine(
    images: Tensor<4>,
    matrices: &[[f64; 6]],
    crops: Option<&[[f64; 4]]>,
    fill: FillMode,
    cval: f64,
) -> Tensor<4> {
    let device = images.device();
    let [batch, _, height, width] = images.dims();
    let full = [batch, height, width];
    // Crops and flips keep rows apart from columns: their coordinates and taps need one value
    // per row and per column, not per pixel, which saves most of the work of a pass.
    let separable = matrices.iter().all(|m| m[1] == 0.0 && m[3] == 0.0);
    let (row_shape, col_shape) = if separable {
        ([batch, height, 1], [batch, 1, width])
    } else {
        (full, full)
    };
    let per_image = |values: Vec<f32>, columns: usize| {
        Tensor::<2>::from_data(TensorData::new(values, [batch, columns]), &device)
    };
    let m = per_image(matrices.iter().flatten().map(|&v| v as f32).collect(), 6);
    let entry = |m: &Tensor<2>, k: usize, shape: [usize; 3]| {
        m.clone()
            .slice([0..batch, k..k + 1])
            .reshape([batch, 1, 1])
            .expand(shape)
    };
    let rows = |shape: [usize; 3]| {
        Tensor::<1, Int>::arange(0..height as i64, &device)
            .float()
            .reshape([1, height, 1])
            .expand(shape)
    };
    let cols = |shape: [usize; 3]| {
        Tensor::<1, Int>::arange(0..width as i64, &device)
            .float()
            .reshape([1, 1, width])
            .expand(shape)
    };
    // scipy sums `r·m0 + c·m1` first, then adds the offset. In the separable case the missing
    // `+ c·0` changes nothing, in `f32` as in `f64`.
    let (row, col) = if separable {
        (
            rows(row_shape) * entry(&m, 0, row_shape) + entry(&m, 2, row_shape),
            cols(col_shape) * entry(&m, 4, col_shape) + entry(&m, 5, col_shape),
        )
    } else {
        (
            rows(full) * entry(&m, 0, full) + cols(full) * entry(&m, 1, full) + entry(&m, 2, full),
            rows(full) * entry(&m, 3, full) + cols(full) * entry(&m, 4, full) + entry(&m, 5, full),
        )
    };

    let (row, row_outside) = border_map(row, height, fill);
    let (col, col_outside) = border_map(col, width, fill);
    let (row, col) = match crops {
        None => (row, col),
        Some(crops) => {
            let k = per_image(crops.iter().flatten().map(|&v| v as f32).collect(), 4);
            let into_image = |x: Tensor<3>, offset: usize, len: usize| {
                let shape = x.dims();
                (x * entry(&k, offset + 1, shape) + entry(&k, offset, shape))
                    .clamp(0.0, (len - 1) as f32)
            };
            (into_image(row, 0, height), into_image(col, 2, width))
        }
    };
    let r = clamped_taps(row, height);
    let c = clamped_taps(col, width);
    let source = images.reshape([batch, height * width]);
    let row_start = |i: &Tensor<3, Int>| (i.clone() * width as i64).expand(full);
    let (r0, r1) = (row_start(&r.i0), row_start(&r.i1));
    let (c0, c1) = (c.i0.expand(full), c.i1.expand(full));
    let tap = |ri: &Tensor<3, Int>, ci: &Tensor<3, Int>| {
        let index = (ri.clone() + ci.clone()).reshape([batch, height * width]);
        source.clone().gather(1, index).reshape(full)
    };
    let (wr0, wr1) = (r.w0.expand(full), r.w1.expand(full));
    let (wc0, wc1) = (c.w0.expand(full), c.w1.expand(full));
    // scipy's order: taps row-major, each value times the row weight, then the column weight.
    let total = tap(&r0, &c0) * wr0.clone() * wc0.clone()
        + tap(&r0, &c1) * wr0 * wc1.clone()
        + tap(&r1, &c0) * wr1.clone() * wc0
        + tap(&r1, &c1) * wr1 * wc1;
    let total = match (row_outside, col_outside) {
        (Some(ro), Some(co)) => {
            total.mask_fill(ro.expand(full).bool_or(co.expand(full)), cval as f32)
        }
        _ => total,
    };
    total.reshape([batch, 1, height, width])
}

/// The two neighbours along one axis and their weights, for every output pixel.
struct Taps {
    i0: Tensor<3, Int>,
    i1: Tensor<3, Int>,
    w0: Tensor<3>,
    w1: Tensor<3>,
}

/// Where scipy's border mode `fill` puts coordinate `x` on an axis of `len`, within
/// `[0, len − 1]`, and where it returns `cval` instead (`constant` only), as
/// `line_sampler::border` does on the CPU.
///
/// `reflect` maps into `(−1, len)` and reflects the taps −1 and `len` onto 0 and `len − 1`, so
/// beyond the last pixel it reads that pixel alone: the same as clamping the mapped coordinate.
fn border_map(x: Tensor<3>, len: usize, fill: FillMode) -> (Tensor<3>, Option<Tensor<3, Bool>>) {
    let n = len as f32;
    let last = n - 1.0;
    // scipy maps everything to sample 0 on a one-sample axis; `wrap`'s period would be 0.
    let fill = if len == 1 && fill == FillMode::Wrap {
        FillMode::Nearest
    } else {
        fill
    };
    match fill {
        FillMode::Constant => {
            let outside = x
                .clone()
                .lower_elem(0.0)
                .bool_or(x.clone().greater_elem(last));
            (x.clamp(0.0, last), Some(outside))
        }
        FillMode::Nearest => (x.clamp(0.0, last), None),
        FillMode::Reflect => {
            // Period 2n, mirrored about −½ and n − ½; equal to scipy's branches for every x.
            let period = 2.0 * n;
            let y = x.clone() - (x / period).floor() * period;
            let mirrored = y.clone().neg() + (period - 1.0);
            let y = y.clone().mask_where(y.greater_equal_elem(n), mirrored);
            (y.clamp(0.0, last), None)
        }
        FillMode::Wrap => {
            // Period n − 1. scipy's truncating division differs from a floored modulo only on
            // exact multiples: x = n − 1 stays the last sample, and a negative multiple maps
            // to the last sample rather than the first.
            let y = x.clone() - (x.clone() / last).floor() * last;
            let at_last = x
                .clone()
                .equal_elem(last)
                .bool_or(x.lower_elem(0.0).bool_and(y.clone().equal_elem(0.0)));
            (y.mask_fill(at_last, last), None)
        }
    }
}

/// The taps around `x`, already within `[0, len − 1]`, and scipy's order-1 weights.
fn clamped_taps(x: Tensor<3>, len: usize) -> Taps {
    let last = (len as f32 - 1.0).max(0.0);
    let start = x.clone().floor();
    // scipy's order-1 weights are 1 − |tap − x|, i.e. 1 − frac and frac: `x − start` is exact
    // in floating point (Sterbenz), so only `1 − (1 − frac)` could differ, in its last bit.
    let w1 = x - start.clone();
    let w0 = w1.clone().neg() + 1.0;
    let next = (start.clone() + 1.0).clamp(0.0, last);
    Taps {
        i0: start.int(),
        i1: next.int(),
        w0,
        w1,
    }
}

/// One value per image, as a `[B, 1, H, W]` tensor shaped like `like`.
fn per_image(
    params: &[TransformParams],
    value: impl Fn(&TransformParams) -> f64,
    like: &Tensor<4>,
) -> Tensor<4> {
    let dims = like.dims();
    let values: Vec<f32> = params.iter().map(|p| value(p) as f32).collect();
    Tensor::<4>::from_data(TensorData::new(values, [dims[0], 1, 1, 1]), &like.device()).expand(dims)
}

/// Which images a step applies to, as a `[B, 1, H, W]` mask shaped like `like`.
fn image_mask(
    params: &[TransformParams],
    applies: impl Fn(&TransformParams) -> bool,
    like: &Tensor<4>,
) -> Tensor<4, Bool> {
    let dims = like.dims();
    let values: Vec<bool> = params.iter().map(applies).collect();
    Tensor::<4, Bool>::from_data(TensorData::new(values, [dims[0], 1, 1, 1]), &like.device())
        .expand(dims)
}

/// Each image's min and max, broadcast to its pixels.
fn image_min_max(x: &Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let dims = x.dims();
    let flat = x.clone().reshape([dims[0], dims[2] * dims[3]]);
    let lo = flat
        .clone()
        .min_dim(1)
        .reshape([dims[0], 1, 1, 1])
        .expand(dims);
    let hi = flat.max_dim(1).reshape([dims[0], 1, 1, 1]).expand(dims);
    (lo, hi)
}

/// Each image's mean, broadcast to its pixels.
fn image_mean(x: &Tensor<4>) -> Tensor<4> {
    let dims = x.dims();
    x.clone()
        .reshape([dims[0], dims[2] * dims[3]])
        .mean_dim(1)
        .reshape([dims[0], 1, 1, 1])
        .expand(dims)
}

/// `intensity::keras_brightness` on every image: min–max to 0–255, truncate to `u8`, times
/// the factor, truncate again. All values are non-negative, so truncation is a floor.
fn keras_brightness(x: Tensor<4>, factors: Tensor<4>) -> Tensor<4> {
    let (lo, _) = image_min_max(&x);
    let shifted = x - lo;
    let (_, top) = image_min_max(&shifted);
    // A flat image has `shifted` all 0: dividing by 1 instead of 0 keeps it 0, as the CPU does.
    let top = top.clone().mask_fill(top.equal_elem(0.0), 1.0);
    let grey = (shifted / top * GREY_MAX).clamp(0.0, GREY_MAX).floor();
    (grey * factors).clamp(0.0, GREY_MAX).floor()
}

/// `std · N(0, 1)` per pixel, drawn on the CPU from each image's seed exactly as `add_noise`
/// draws it (the generator is sequential), zero for images without noise.
fn noise_tensor(
    params: &[TransformParams],
    height: usize,
    width: usize,
    device: &Device,
) -> Tensor<4> {
    let pixels = height * width;
    let mut values = Vec::with_capacity(params.len() * pixels);
    for p in params {
        match &p.noise {
            Some(noise) => {
                let mut rng = SplitMix64::new(noise.seed);
                values.extend((0..pixels).map(|_| (noise.std * rng.normal()) as f32));
            }
            None => values.resize(values.len() + pixels, 0.0),
        }
    }
    Tensor::<4>::from_data(
        TensorData::new(values, [params.len(), 1, height, width]),
        device,
    )
}

/// The erased rectangles (clipped to the image), as a mask.
fn erase_mask(
    params: &[TransformParams],
    height: usize,
    width: usize,
    device: &Device,
) -> Tensor<4, Bool> {
    let batch = params.len();
    // Per image: first row, end row, first column, end column; an empty range when not erased.
    let mut bounds = Vec::with_capacity(batch * 4);
    for p in params {
        let [top, bottom, left, right] = p.erase.map_or([0, 0, 0, 0], |e| {
            [
                e.top.min(height),
                (e.top + e.height).min(height),
                e.left.min(width),
                (e.left + e.width).min(width),
            ]
        });
        bounds.extend([top, bottom, left, right].map(|v| v as i64));
    }
    let bounds = Tensor::<2, Int>::from_data(TensorData::new(bounds, [batch, 4]), device);
    let bound = |k: usize| {
        bounds
            .clone()
            .slice([0..batch, k..k + 1])
            .reshape([batch, 1, 1, 1])
            .expand([batch, 1, height, width])
    };
    let rows = Tensor::<1, Int>::arange(0..height as i64, device)
        .reshape([1, 1, height, 1])
        .expand([batch, 1, height, width]);
    let cols = Tensor::<1, Int>::arange(0..width as i64, device)
        .reshape([1, 1, 1, width])
        .expand([batch, 1, height, width]);
    rows.clone()
        .greater_equal(bound(0))
        .bool_and(rows.lower(bound(1)))
        .bool_and(cols.clone().greater_equal(bound(2)))
        .bool_and(cols.lower(bound(3)))
}

#[cfg(test)]
#[path = "gpu_tests.rs"]
mod tests;
