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

use burn_std::Shape;

use crate::FlexTensor;
use crate::ops::kernel_float::{KernelFloat, collected_in_chunks, in_float_type, tensor};

/// Elements per f64 partial sum; shorter runs keep the lanes' rounding error small.
const BLOCK: usize = 1024;
/// Accumulators per sum, so that the loop vectorises without reassociating floats.
const LANES: usize = 8;
/// Elements below which a thread's share is not worth a task.
const GRAIN: usize = 32 * 1024;

/// `[batch, channels, spatial…]` seen as `batch` runs of `spatial` values per channel.
#[derive(Clone, Copy)]
struct Dims {
    batch: usize,
    channels: usize,
    spatial: usize,
}

impl Dims {
    fn of(shape: &Shape) -> Self {
        let batch = shape[0];
        let channels = shape[1];
        let spatial = shape.iter().skip(2).product();
        Self {
            batch,
            channels,
            spatial,
        }
    }

    fn count(&self) -> usize {
        self.batch * self.spatial
    }

    /// Channel `c`'s values in image `b`.
    fn run<'a, T>(&self, data: &'a [T], b: usize, c: usize) -> &'a [T] {
        &data[(b * self.channels + c) * self.spatial..][..self.spatial]
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

/// A vector of `len` values made run by run (`spatial` values of one image and channel each,
/// written once, not zeroed first); `f` gets the run's index `b · channels + c` and yields its
/// values.
fn fill_runs<T: KernelFloat, I: IntoIterator<Item = T>>(
    len: usize,
    spatial: usize,
    f: impl Fn(usize) -> I + Sync + Send,
) -> Vec<T> {
    collected_in_chunks(len, spatial, (GRAIN / spatial.max(1)).max(1), f)
}

/// `Σ f(i)` over a run, in lanes, then f64.
#[inline(always)]
fn lane_sum<T: KernelFloat>(len: usize, f: impl Fn(usize) -> T) -> f64 {
    let mut total = 0.0;
    let mut start = 0;
    while start < len {
        let end = (start + BLOCK).min(len);
        let mut lanes = [T::ZERO; LANES];
        let mut i = start;
        while i + LANES <= end {
            for (lane, acc) in lanes.iter_mut().enumerate() {
                *acc = *acc + f(i + lane);
            }
            i += LANES;
        }
        for j in i..end {
            lanes[0] = lanes[0] + f(j);
        }
        total += lanes.iter().map(|v| v.to_f64()).sum::<f64>();
        start = end;
    }
    total
}

/// Mean and biased variance of each channel.
fn statistics<T: KernelFloat>(x: &[T], dims: Dims) -> Vec<(f64, f64)> {
    per_channel(dims.channels, |c| {
        let n = dims.count() as f64;
        let shift = dims.run(x, 0, c).first().copied().unwrap_or(T::ZERO);
        let (mut sum, mut squares) = (0.0, 0.0);
        for b in 0..dims.batch {
            let run = dims.run(x, b, c);
            sum += lane_sum(run.len(), |i| run[i] - shift);
            squares += lane_sum(run.len(), |i| (run[i] - shift) * (run[i] - shift));
        }
        let centred_mean = sum / n;
        let mean = shift.to_f64() + centred_mean;
        let variance = (squares / n - centred_mean * centred_mean).max(0.0);
        (mean, variance)
    })
}

/// `out = scale[c] · (x − centre[c]) + offset[c]`, channel by channel.
fn affine<T: KernelFloat>(x: &[T], dims: Dims, centre: &[T], scale: &[T], offset: &[T]) -> Vec<T> {
    fill_runs(x.len(), dims.spatial, |i| {
        let (b, c) = (i / dims.channels, i % dims.channels);
        let (m, a, o) = (centre[c], scale[c], offset[c]);
        dims.run(x, b, c).iter().map(move |&v| (v - m) * a + o)
    })
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
    fn run<T: KernelFloat>(
        [x, gamma, beta, mean, variance]: [FlexTensor; 5],
        epsilon: f64,
    ) -> FlexTensor {
        let shape = x.layout().shape().clone();
        let dims = Dims::of(&shape);
        let (gamma, beta) = (values::<T>(gamma), values::<T>(beta));
        let (mean, variance) = (values::<T>(mean), values::<T>(variance));
        let scale: Vec<T> = (0..dims.channels)
            .map(|c| T::from_f64(gamma[c].to_f64() / (variance[c].to_f64() + epsilon).sqrt()))
            .collect();
        let x = x.to_contiguous();
        tensor(affine(x.storage::<T>(), dims, &mean, &scale, &beta), shape)
    }
    in_float_type(
        "batch_norm",
        [x, gamma, beta, mean, variance],
        |t| run::<f32>(t, epsilon),
        |t| run::<f64>(t, epsilon),
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
    fn run<T: KernelFloat>([x, gamma, beta]: [FlexTensor; 3], epsilon: f64) -> [FlexTensor; 3] {
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
            tensor(affine(data, dims, &mean, &scale, &beta), shape),
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
    fn run<T: KernelFloat>(
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
            let m = mean[c];
            let (mut sum_g, mut sum_gx) = (0.0, 0.0);
            for b in 0..dims.batch {
                let (xr, gr) = (dims.run(xs, b, c), dims.run(gs, b, c));
                sum_g += lane_sum(gr.len(), |i| gr[i]);
                sum_gx += lane_sum(gr.len(), |i| gr[i] * (xr[i] - m));
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
        let x_grad = fill_runs(xs.len(), dims.spatial, |i| {
            let (b, c) = (i / dims.channels, i % dims.channels);
            let [a, bx, o, m] = coefficients[c];
            let (xr, gr) = (dims.run(xs, b, c), dims.run(gs, b, c));
            gr.iter()
                .zip(xr)
                .map(move |(&g, &v)| g * a + (v - m) * bx + o)
        });
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
