//! Batch normalisation as per-channel passes (CXR Lab patch).
//!
//! burn-backend's defaults compose batch norm out of whole-tensor ops: ~6 for the training
//! forward and ~14 for its backward, two of them transposing copies (`swap_dims(0, 1)` +
//! `reshape`) to reduce per channel. Here a channel's statistics take one pass over its values
//! (sums of `x - shift` and their squares, with the channel's first value as the shift so that
//! the variance does not cancel), the backward's two sums one pass over `x` and the gradient,
//! and the output one pass: `y = a·(x − mean) + β` forward, `dx = A·g + B·(x − mean) + C`
//! backward (centred first: with `|mean| ≫ σ`, `a·x + b` would cancel in f32).
//! Sums run in lanes of the tensor's type over blocks and in f64 across blocks.

use alloc::vec::Vec;
use core::mem::MaybeUninit;

use burn_std::Shape;

use crate::ops::kernel_float::{
    KernelFloat, VectorFloat, in_float_type, tensor, written_in_chunks,
};
use crate::{FlexTensor, Layout};

/// Elements per f64 partial sum; shorter runs keep the lanes' rounding error small.
const BLOCK: usize = 1024;
/// Elements below which a thread's share is not worth a task.
const GRAIN: usize = 32 * 1024;

/// `[batch, channels, spatial…]` seen as `batch` runs of `spatial` values per channel.
#[derive(Clone, Copy)]
struct Dims {
    batch: usize,
    channels: usize,
    spatial: usize,
    /// Where image 0's first run starts in the storage.
    start: usize,
    /// From one image's runs to the next's: `channels · spatial` when contiguous, more in a
    /// slice of an image's leading channels.
    batch_stride: usize,
}

impl Dims {
    /// A contiguous tensor of `shape`.
    fn of(shape: &Shape) -> Self {
        let batch = shape[0];
        let channels = shape[1];
        let spatial = shape.iter().skip(2).product();
        Self {
            batch,
            channels,
            spatial,
            start: 0,
            batch_stride: channels * spatial,
        }
    }

    /// `layout`'s, if each image's runs lie one after another (a contiguous tensor, or a slice
    /// of the leading channels of one: DenseNet's features growing in one buffer), so that it
    /// is read where it lies rather than copied first.
    fn of_runs(layout: &Layout) -> Option<Self> {
        let (shape, strides) = (layout.shape(), layout.strides());
        let contiguous = Self::of(shape);
        let mut expected = 1;
        for d in (1..shape.num_dims()).rev() {
            if shape[d] > 1 && strides[d] != expected as isize {
                return None;
            }
            expected *= shape[d];
        }
        let batch_stride = match (shape[0], usize::try_from(strides[0])) {
            (1, _) => contiguous.batch_stride,
            (_, Ok(stride)) if stride >= contiguous.batch_stride => stride,
            _ => return None,
        };
        Some(Self {
            start: layout.start_offset(),
            batch_stride,
            ..contiguous
        })
    }

    fn count(&self) -> usize {
        self.batch * self.spatial
    }

    /// Elements of a contiguous tensor of these dims.
    fn len(&self) -> usize {
        self.batch * self.channels * self.spatial
    }

    /// Channel `c`'s values in image `b`.
    fn run<'a, T>(&self, data: &'a [T], b: usize, c: usize) -> &'a [T] {
        &data[self.start + b * self.batch_stride + c * self.spatial..][..self.spatial]
    }
}

/// Runs `f` for every channel, on rayon's pool when it has one.
fn per_channel<R: Send>(channels: usize, f: impl Fn(usize) -> R + Sync + Send) -> Vec<R> {
    #[cfg(feature = "rayon")]
    {
        use rayon::prelude::*;
        (0..channels).into_par_iter().map(f).collect()
    }
    #[cfg(not(feature = "rayon"))]
    {
        (0..channels).map(f).collect()
    }
}

/// Runs (of one image and channel) per task when a vector is written run by run.
fn runs_per_task(spatial: usize) -> usize {
    (GRAIN / spatial.max(1)).max(1)
}

/// `[Σ (x − shift), Σ (x − shift)²]` over a run: in the lanes of a vector of `T` over blocks of
/// `BLOCK` values, then in f64 across blocks.
#[cfg_attr(feature = "simd", macerator::with_simd)]
fn centred_sums<#[cfg(feature = "simd")] S: macerator::Simd, T: VectorFloat>(
    run: &[T],
    shift: T,
) -> [f64; 2] {
    let mut totals = [0.0; 2];
    for block in run.chunks(BLOCK) {
        #[allow(unused_mut)]
        let (mut i, mut sum, mut squares) = (0, T::ZERO, T::ZERO);
        #[cfg(feature = "simd")]
        {
            use macerator::vload_unaligned;
            let lanes = T::lanes::<S>();
            let shift = shift.splat::<S>();
            let (mut sums, mut squared) = (T::ZERO.splat::<S>(), T::ZERO.splat::<S>());
            while i + lanes <= block.len() {
                // SAFETY: `i + lanes ≤ block.len()`.
                let d = unsafe { vload_unaligned::<S, T>(block.as_ptr().add(i)) } - shift;
                sums = sums + d;
                squared = d.mul_add(d, squared);
                i += lanes;
            }
            (sum, squares) = (sum + sums.reduce_add(), squares + squared.reduce_add());
        }
        for &v in &block[i..] {
            let d = v - shift;
            (sum, squares) = (sum + d, squares + d * d);
        }
        totals[0] += sum.to_f64();
        totals[1] += squares.to_f64();
    }
    totals
}

/// `[Σ g, Σ g · (x − mean)]` over a run of the output gradient `g` and the input `x`, summed as
/// [`centred_sums`] sums.
#[cfg_attr(feature = "simd", macerator::with_simd)]
fn gradient_sums<#[cfg(feature = "simd")] S: macerator::Simd, T: VectorFloat>(
    g: &[T],
    x: &[T],
    mean: T,
) -> [f64; 2] {
    assert_eq!(g.len(), x.len(), "gradient_sums: runs of different lengths");
    let mut totals = [0.0; 2];
    for (g, x) in g.chunks(BLOCK).zip(x.chunks(BLOCK)) {
        #[allow(unused_mut)]
        let (mut i, mut sum_g, mut sum_gx) = (0, T::ZERO, T::ZERO);
        #[cfg(feature = "simd")]
        {
            use macerator::vload_unaligned;
            let lanes = T::lanes::<S>();
            let mean = mean.splat::<S>();
            let (mut sums_g, mut sums_gx) = (T::ZERO.splat::<S>(), T::ZERO.splat::<S>());
            while i + lanes <= g.len() {
                // SAFETY: `i + lanes ≤ g.len() = x.len()`.
                let (gv, xv) = unsafe {
                    (
                        vload_unaligned::<S, T>(g.as_ptr().add(i)),
                        vload_unaligned::<S, T>(x.as_ptr().add(i)),
                    )
                };
                sums_g = sums_g + gv;
                sums_gx = gv.mul_add(xv - mean, sums_gx);
                i += lanes;
            }
            (sum_g, sum_gx) = (sum_g + sums_g.reduce_add(), sum_gx + sums_gx.reduce_add());
        }
        for (&g, &x) in g[i..].iter().zip(&x[i..]) {
            (sum_g, sum_gx) = (sum_g + g, sum_gx + g * (x - mean));
        }
        totals[0] += sum_g.to_f64();
        totals[1] += sum_gx.to_f64();
    }
    totals
}

/// `out = (x − centre) · scale + offset` over consecutive runs of `run` values, run `k` with
/// `coefficients[k]` = `[centre, scale, offset]`, then with `relu` ReLU of it as flex's `relu`
/// computes it (NaN kept, −0 and below to +0); writes every element of `out`. Several runs per
/// call: in the late dense blocks a run is 4 to 16 values, and a call per run cost more than
/// the run's arithmetic (in the browser above all).
#[cfg_attr(feature = "simd", macerator::with_simd)]
fn affine_runs<#[cfg(feature = "simd")] S: macerator::Simd, T: VectorFloat>(
    x: &[T],
    run: usize,
    coefficients: &[[T; 3]],
    relu: bool,
    out: &mut [MaybeUninit<T>],
) {
    assert_eq!(x.len(), out.len(), "affine_runs: input and output differ");
    assert_eq!(x.len(), run * coefficients.len(), "affine_runs: other runs");
    let runs = x
        .chunks_exact(run.max(1))
        .zip(out.chunks_exact_mut(run.max(1)));
    for ((x, out), &[centre, scale, offset]) in runs.zip(coefficients) {
        // `y ≤ 0` is false for NaN, which stays.
        let relu_of = |y: T| if relu && y <= T::ZERO { T::ZERO } else { y };
        #[allow(unused_mut)]
        let mut i = 0;
        #[cfg(feature = "simd")]
        {
            use macerator::{vload_unaligned, vstore_unaligned};
            let lanes = T::lanes::<S>();
            let (centre, scale, offset) =
                (centre.splat::<S>(), scale.splat::<S>(), offset.splat::<S>());
            let zero = T::ZERO.splat::<S>();
            while i + lanes <= x.len() {
                // SAFETY: `i + lanes ≤ x.len() = out.len()`; a `MaybeUninit<T>` is laid out as a
                // `T`.
                unsafe {
                    let v = vload_unaligned::<S, T>(x.as_ptr().add(i));
                    let y = (v - centre).mul_add(scale, offset);
                    // `y ≤ 0` is false for NaN, which stays.
                    let y = if relu { y.le(zero).select(zero, y) } else { y };
                    vstore_unaligned(out.as_mut_ptr().add(i).cast::<T>(), y);
                }
                i += lanes;
            }
        }
        for (slot, &v) in out[i..].iter_mut().zip(&x[i..]) {
            slot.write(relu_of((v - centre) * scale + offset));
        }
    }
}

/// `out = g · a + (x − mean) · b + offset` over a run (batch norm's input gradient),
/// `coefficients` = `[a, b, offset, mean]`; writes every element of `out`.
#[cfg_attr(feature = "simd", macerator::with_simd)]
fn gradient_run<#[cfg(feature = "simd")] S: macerator::Simd, T: VectorFloat>(
    g: &[T],
    x: &[T],
    coefficients: [T; 4],
    out: &mut [MaybeUninit<T>],
) {
    let [a, b, offset, mean] = coefficients;
    assert!(
        g.len() == out.len() && x.len() == out.len(),
        "gradient_run: runs of different lengths"
    );
    #[allow(unused_mut)]
    let mut i = 0;
    #[cfg(feature = "simd")]
    {
        use macerator::{vload_unaligned, vstore_unaligned};
        let lanes = T::lanes::<S>();
        let (av, bv) = (a.splat::<S>(), b.splat::<S>());
        let (offset_v, mean_v) = (offset.splat::<S>(), mean.splat::<S>());
        while i + lanes <= out.len() {
            // SAFETY: `i + lanes ≤ out.len() = g.len() = x.len()`; a `MaybeUninit<T>` is laid
            // out as a `T`.
            unsafe {
                let gv = vload_unaligned::<S, T>(g.as_ptr().add(i));
                let xv = vload_unaligned::<S, T>(x.as_ptr().add(i));
                let value = (xv - mean_v).mul_add(bv, gv.mul_add(av, offset_v));
                vstore_unaligned(out.as_mut_ptr().add(i).cast::<T>(), value);
            }
            i += lanes;
        }
    }
    for ((slot, &g), &x) in out[i..].iter_mut().zip(&g[i..]).zip(&x[i..]) {
        slot.write(g * a + (x - mean) * b + offset);
    }
}

/// Mean and biased variance of each channel.
fn statistics<T: VectorFloat>(x: &[T], dims: Dims) -> Vec<(f64, f64)> {
    per_channel(dims.channels, |c| {
        let n = dims.count() as f64;
        let shift = dims.run(x, 0, c).first().copied().unwrap_or(T::ZERO);
        let (mut sum, mut squares) = (0.0, 0.0);
        for b in 0..dims.batch {
            let [run_sum, run_squares] = centred_sums(dims.run(x, b, c), shift);
            sum += run_sum;
            squares += run_squares;
        }
        let centred_mean = sum / n;
        let mean = shift.to_f64() + centred_mean;
        let variance = (squares / n - centred_mean * centred_mean).max(0.0);
        (mean, variance)
    })
}

/// `out = scale[c] · (x − centre[c]) + offset[c]`, channel by channel, and with `relu` ReLU
/// of it.
fn affine<T: VectorFloat>(
    x: &[T],
    dims: Dims,
    [centre, scale, offset]: [&[T]; 3],
    relu: bool,
) -> Vec<T> {
    let coefficients: Vec<[T; 3]> = (0..dims.channels)
        .map(|c| [centre[c], scale[c], offset[c]])
        .collect();
    let group = channels_per_chunk(dims);
    let write = |i: usize, out: &mut [MaybeUninit<T>]| {
        let first = i * group;
        let (b, c) = (first / dims.channels, first % dims.channels);
        let runs = &x[dims.start + b * dims.batch_stride + c * dims.spatial..][..out.len()];
        affine_runs(runs, dims.spatial, &coefficients[c..c + group], relu, out);
    };
    let chunk = group * dims.spatial;
    // SAFETY: `affine_runs` writes every element of its runs (whose length it asserts).
    unsafe { written_in_chunks(dims.len(), chunk, (GRAIN / chunk.max(1)).max(1), write) }
}

/// Channels per chunk of `affine`'s output: the runs of one image, which lie one after another
/// in the input as in the output, as many as make up to [`GRAIN`] values, and a divisor of the
/// channel count, so that no chunk reaches into the next image.
fn channels_per_chunk(dims: Dims) -> usize {
    let most = (GRAIN / dims.spatial.max(1)).clamp(1, dims.channels.max(1));
    (1..=most)
        .rev()
        .find(|g| dims.channels % g == 0)
        .unwrap_or(1)
}

fn values<T: KernelFloat>(tensor: FlexTensor) -> Vec<T> {
    tensor.to_contiguous().storage::<T>().to_vec()
}

/// `batch_norm` with given statistics (inference).
pub(crate) fn batch_norm(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    mean: FlexTensor,
    variance: FlexTensor,
    epsilon: f64,
) -> FlexTensor {
    inference(x, [gamma, beta, mean, variance], epsilon, false)
}

/// `relu(batch_norm(x, …))` with given statistics (inference), in one pass: the same values as
/// flex's `relu` of flex's `batch_norm`, without writing batch norm's output and reading it
/// back. burn has no fused op for it; a model calls this on the CPU through the tensor's `Flex`
/// primitive (as DenseNet's layers do, where the ReLU's pass over each batch norm's whole
/// output was ~3–4 % of inference).
pub fn batch_norm_relu(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    mean: FlexTensor,
    variance: FlexTensor,
    epsilon: f64,
) -> FlexTensor {
    inference(x, [gamma, beta, mean, variance], epsilon, true)
}

/// Batch norm with given statistics, and with `relu` ReLU of it.
fn inference(
    x: FlexTensor,
    [gamma, beta, mean, variance]: [FlexTensor; 4],
    epsilon: f64,
    relu: bool,
) -> FlexTensor {
    fn run<T: VectorFloat>(
        [x, gamma, beta, mean, variance]: [FlexTensor; 5],
        epsilon: f64,
        relu: bool,
    ) -> FlexTensor {
        let shape = x.layout().shape().clone();
        let (gamma, beta) = (values::<T>(gamma), values::<T>(beta));
        let (mean, variance) = (values::<T>(mean), values::<T>(variance));
        let (x, dims) = match Dims::of_runs(x.layout()) {
            Some(dims) => (x, dims),
            None => (x.to_contiguous(), Dims::of(&shape)),
        };
        let scale: Vec<T> = (0..dims.channels)
            .map(|c| T::from_f64(gamma[c].to_f64() / (variance[c].to_f64() + epsilon).sqrt()))
            .collect();
        tensor(
            affine(x.storage::<T>(), dims, [&mean, &scale, &beta], relu),
            shape,
        )
    }
    in_float_type(
        "batch_norm",
        [x, gamma, beta, mean, variance],
        |t| run::<f32>(t, epsilon, relu),
        |t| run::<f64>(t, epsilon, relu),
        |r, back| back(r),
    )
}

/// `batch_norm_train`: output, batch mean and biased batch variance.
pub(crate) fn batch_norm_train(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    epsilon: f64,
) -> [FlexTensor; 3] {
    fn run<T: VectorFloat>([x, gamma, beta]: [FlexTensor; 3], epsilon: f64) -> [FlexTensor; 3] {
        let x = x.to_contiguous();
        let shape = x.layout().shape().clone();
        let dims = Dims::of(&shape);
        let (gamma, beta) = (values::<T>(gamma), values::<T>(beta));
        let data: &[T] = x.storage();
        let stats = statistics(data, dims);
        let mean: Vec<T> = stats.iter().map(|s| T::from_f64(s.0)).collect();
        let variance: Vec<T> = stats.iter().map(|s| T::from_f64(s.1)).collect();
        let scale: Vec<T> = (0..dims.channels)
            .map(|c| T::from_f64(gamma[c].to_f64() / (stats[c].1 + epsilon).sqrt()))
            .collect();
        let channels = Shape::new([dims.channels]);
        [
            tensor(affine(data, dims, [&mean, &scale, &beta], false), shape),
            tensor(mean, channels.clone()),
            tensor(variance, channels),
        ]
    }
    in_float_type(
        "batch_norm_train",
        [x, gamma, beta],
        |t| run::<f32>(t, epsilon),
        |t| run::<f64>(t, epsilon),
        |r, back| r.map(back),
    )
}

/// `batch_norm_train_backward`: gradients of the input, `gamma` and `beta`.
pub(crate) fn batch_norm_train_backward(
    x: FlexTensor,
    gamma: FlexTensor,
    mean: FlexTensor,
    variance: FlexTensor,
    epsilon: f64,
    output_grad: FlexTensor,
) -> [FlexTensor; 3] {
    fn run<T: VectorFloat>(
        [x, gamma, mean, variance, grad]: [FlexTensor; 5],
        epsilon: f64,
    ) -> [FlexTensor; 3] {
        let (x, grad) = (x.to_contiguous(), grad.to_contiguous());
        let shape = x.layout().shape().clone();
        let dims = Dims::of(&shape);
        let (gamma, mean, variance) =
            (values::<T>(gamma), values::<T>(mean), values::<T>(variance));
        let (xs, gs): (&[T], &[T]) = (x.storage(), grad.storage());
        // Per channel: Σg and Σg·(x − mean).
        let sums = per_channel(dims.channels, |c| {
            let (mut sum_g, mut sum_gx) = (0.0, 0.0);
            for b in 0..dims.batch {
                let [run_g, run_gx] =
                    gradient_sums(dims.run(gs, b, c), dims.run(xs, b, c), mean[c]);
                sum_g += run_g;
                sum_gx += run_gx;
            }
            (sum_g, sum_gx)
        });
        // dx = γ/σ · (g − Σg/n − x̂ · Σg·x̂/n) = A·g + B·(x − mean) + C.
        let n = dims.count() as f64;
        let mut coefficients = Vec::with_capacity(dims.channels);
        let (mut gamma_grad, mut beta_grad) = (Vec::new(), Vec::new());
        for (c, &(sum_g, sum_gx)) in sums.iter().enumerate() {
            let inv_std = 1.0 / (variance[c].to_f64() + epsilon).sqrt();
            let a = gamma[c].to_f64() * inv_std;
            let b = -a * inv_std * inv_std * sum_gx / n;
            let offset = -a * sum_g / n;
            coefficients.push([T::from_f64(a), T::from_f64(b), T::from_f64(offset), mean[c]]);
            gamma_grad.push(T::from_f64(sum_gx * inv_std));
            beta_grad.push(T::from_f64(sum_g));
        }
        let write = |i: usize, out: &mut [MaybeUninit<T>]| {
            let (b, c) = (i / dims.channels, i % dims.channels);
            gradient_run(dims.run(gs, b, c), dims.run(xs, b, c), coefficients[c], out);
        };
        // SAFETY: `gradient_run` writes every element of its run (whose length it asserts).
        let x_grad = unsafe {
            written_in_chunks(xs.len(), dims.spatial, runs_per_task(dims.spatial), write)
        };
        let channels = Shape::new([dims.channels]);
        [
            tensor(x_grad, shape),
            tensor(gamma_grad, channels.clone()),
            tensor(beta_grad, channels),
        ]
    }
    in_float_type(
        "batch_norm_train_backward",
        [x, gamma, mean, variance, output_grad],
        |t| run::<f32>(t, epsilon),
        |t| run::<f64>(t, epsilon),
        |r, back| r.map(back),
    )
}
