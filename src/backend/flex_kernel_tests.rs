//! The kernels vendor/burn-flex adds to burn-flex 0.22.1 (vendor/burn-flex/PATCHES.md), against
//! their definitions: the convolution and both its gradients against the sums they are, in f64
//! loops; batch
//! norm against the formula in f64 and, for its gradients, against burn's autodiff of the same
//! normalisation composed from tensor ops.

use burn::tensor::module::{batch_norm, batch_norm_train, conv2d, conv2d_weight_backward};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};

use super::cpu_device;

/// Deterministic values in [-1, 1) (splitmix64), so that failures reproduce.
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

fn tensor<const D: usize>(data: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn read<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().expect("f32 tensor")
}

/// Largest difference, relative to the largest reference magnitude.
fn relative_error(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1e-12_f64, |m, v| m.max(v.abs()));
    got.iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w).abs())
        .fold(0.0, f64::max)
        / scale
}

/// A convolution's shape: `[batch, c_in, c_out, h, w]`, kernel, stride, padding as (before,
/// after) pairs, dilation, groups.
struct Case {
    dims: [usize; 5],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [(usize, usize); 2],
    dilation: [usize; 2],
    groups: usize,
}

impl Case {
    fn options(&self) -> ConvOptions<2> {
        ConvOptions {
            stride: self.stride,
            padding: self.padding,
            dilation: self.dilation,
            groups: self.groups,
        }
    }

    fn output_size(&self) -> [usize; 2] {
        [0, 1].map(|a| {
            let [h, w] = [self.dims[3], self.dims[4]];
            let size = [h, w][a] + self.padding[a].0 + self.padding[a].1;
            (size - self.dilation[a] * (self.kernel[a] - 1) - 1) / self.stride[a] + 1
        })
    }
}

/// The convolution by its definition, in f64: for every output pixel, kernel tap and channel
/// whose input pixel `(oy·s + ky·d − p, …)` is inside the image, `y += w·x`, and for the
/// gradients of `Σ y·g`: `dx += w·g`, `dw += g·x`. Returns `[y, dx, dw]`.
fn convolution_by_definition(
    case: &Case,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    g: &[f32],
) -> [Vec<f64>; 3] {
    let [batch, c_in, c_out, h, width] = case.dims;
    let [kh, kw] = case.kernel;
    let [out_h, out_w] = case.output_size();
    let (in_per_group, out_per_group) = (c_in / case.groups, c_out / case.groups);
    let mut y = vec![0.0; batch * c_out * out_h * out_w];
    let mut dx = vec![0.0; x.len()];
    let mut dw = vec![0.0; w.len()];
    for b in 0..batch {
        for (o, &bias_o) in bias.iter().enumerate() {
            for oy in 0..out_h {
                for ox in 0..out_w {
                    let out = ((b * c_out + o) * out_h + oy) * out_w + ox;
                    y[out] = bias_o as f64;
                    for i in 0..in_per_group {
                        let channel = (o / out_per_group) * in_per_group + i;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * case.stride[0] + ky * case.dilation[0]) as isize
                                    - case.padding[0].0 as isize;
                                let ix = (ox * case.stride[1] + kx * case.dilation[1]) as isize
                                    - case.padding[1].0 as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= width as isize {
                                    continue;
                                }
                                let xi =
                                    ((b * c_in + channel) * h + iy as usize) * width + ix as usize;
                                let wi = ((o * in_per_group + i) * kh + ky) * kw + kx;
                                y[out] += w[wi] as f64 * x[xi] as f64;
                                dx[xi] += w[wi] as f64 * g[out] as f64;
                                dw[wi] += g[out] as f64 * x[xi] as f64;
                            }
                        }
                    }
                }
            }
        }
    }
    [y, dx, dw]
}

#[test]
fn convolution_and_its_gradients_are_the_sums_they_stand_for() {
    let device = cpu_device();
    let case = |dims, kernel, stride, padding: [usize; 2], dilation, groups| Case {
        dims,
        kernel,
        stride,
        padding: padding.map(|p| (p, p)),
        dilation,
        groups,
    };
    let mut cases = vec![
        // DenseNet's 3x3 (padding 1), 1x1 bottleneck and 7x7/2 stem.
        case([3, 8, 4, 9, 7], [3, 3], [1, 1], [1, 1], [1, 1], 1),
        case([2, 6, 3, 8, 8], [1, 1], [1, 1], [0, 0], [1, 1], 1),
        case([2, 1, 4, 13, 11], [7, 7], [2, 2], [3, 3], [1, 1], 1),
        // Enough channels that the im2col matrix is cut into tiles of output rows (9, 9, 6).
        case([2, 128, 8, 24, 24], [3, 3], [1, 1], [1, 1], [1, 1], 1),
        // Groups, dilation, uneven stride and padding; a strided 1x1; more images than threads;
        // few channels per group (flex's own forward, these gradients).
        case([2, 16, 6, 9, 10], [3, 2], [2, 1], [0, 1], [2, 1], 2),
        case([5, 3, 2, 5, 6], [1, 1], [2, 2], [0, 0], [1, 1], 1),
        case([4, 3, 3, 6, 5], [2, 3], [3, 2], [2, 0], [1, 2], 3),
        // Small images, several to a weight-gradient GEMM (side by side): 1x1, in groups too.
        case([6, 10, 7, 2, 3], [1, 1], [1, 1], [0, 0], [1, 1], 1),
        case([6, 8, 6, 2, 2], [1, 1], [1, 1], [0, 0], [1, 1], 2),
        // Dilated "same" convolution: input and output rows of one length, read as one run.
        case([2, 8, 3, 7, 9], [3, 3], [1, 1], [2, 2], [2, 2], 1),
        // 3x3 "same" convolutions with ≥ 8 channels on both sides, which go through Winograd
        // F(2x2, 3x3) both ways: odd and even sizes (cut-off blocks), images of one pixel and
        // one row, more images than threads (tasks of several images), and DenseNet's 128 → 32
        // at a size cut into several chunks of block rows.
        case([9, 16, 12, 5, 3], [3, 3], [1, 1], [1, 1], [1, 1], 1),
        case([3, 8, 8, 1, 1], [3, 3], [1, 1], [1, 1], [1, 1], 1),
        case([4, 12, 16, 2, 7], [3, 3], [1, 1], [1, 1], [1, 1], 1),
        case([2, 128, 32, 30, 26], [3, 3], [1, 1], [1, 1], [1, 1], 1),
    ];
    // Padding that differs before and after.
    cases.push(Case {
        padding: [(1, 2), (0, 1)],
        ..case([2, 8, 5, 7, 6], [3, 3], [2, 1], [0, 0], [1, 1], 1)
    });
    for (n, case) in cases.iter().enumerate() {
        let [batch, c_in, c_out, h, w] = case.dims;
        let [kh, kw] = case.kernel;
        let [out_h, out_w] = case.output_size();
        let weight_shape = [c_out, c_in / case.groups, kh, kw];
        let seed = 10 * n as u64;
        let x = values(batch * c_in * h * w, seed + 1);
        let weight = values(weight_shape.iter().product(), seed + 2);
        let bias = values(c_out, seed + 3);
        let g = values(batch * c_out * out_h * out_w, seed + 4);
        let [want_y, want_dx, want_dw] = convolution_by_definition(case, &x, &weight, &bias, &g);

        let x_t = tensor(x.clone(), [batch, c_in, h, w], &device)
            .autodiff()
            .require_grad();
        let w_t = tensor(weight.clone(), weight_shape, &device)
            .autodiff()
            .require_grad();
        let y = conv2d(
            x_t.clone(),
            w_t.clone(),
            Some(tensor(bias, [c_out], &device).autodiff()),
            case.options(),
        );
        let g_t = tensor(g.clone(), [batch, c_out, out_h, out_w], &device);
        let grads = (y.clone() * g_t.clone().autodiff()).sum().backward();
        let checks = [
            ("output", read(y.inner()), want_y),
            (
                "input gradient",
                read(x_t.grad(&grads).expect("x gradient")),
                want_dx,
            ),
            (
                "weight gradient",
                read(w_t.grad(&grads).expect("w gradient")),
                want_dw.clone(),
            ),
        ];
        for (what, got, want) in checks {
            let error = relative_error(&got, &want);
            assert!(error < 1e-5, "case {n}: {what} off by {error:e}");
        }
        // The weight gradient called directly, as burn's modules do not.
        let direct = conv2d_weight_backward(
            tensor(x, [batch, c_in, h, w], &device),
            Tensor::<4>::zeros(weight_shape, &device),
            g_t,
            case.options(),
        );
        let error = relative_error(&read(direct), &want_dw);
        assert!(
            error < 1e-5,
            "case {n}: direct weight gradient off by {error:e}"
        );
    }
}

/// Per-channel mean and biased variance of `[batch, channels, spatial]` data, in f64.
fn channel_statistics(x: &[f32], dims: [usize; 3]) -> Vec<(f64, f64)> {
    let [batch, channels, spatial] = dims;
    (0..channels)
        .map(|c| {
            let run = |b: usize| &x[(b * channels + c) * spatial..][..spatial];
            let n = (batch * spatial) as f64;
            let mean = (0..batch).flat_map(run).map(|&v| v as f64).sum::<f64>() / n;
            let variance = (0..batch)
                .flat_map(run)
                .map(|&v| (v as f64 - mean).powi(2))
                .sum::<f64>()
                / n;
            (mean, variance)
        })
        .collect()
}

/// Data whose channels sit far from zero with a small spread, where a one-pass variance
/// without a shift would cancel.
fn offset_channels(dims: [usize; 3], spacing: f32, seed: u64) -> Vec<f32> {
    let [_, channels, spatial] = dims;
    values(dims.iter().product(), seed)
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let c = (i / spatial) % channels;
            spacing * (c as f32 - 0.5) + (0.5 + c as f32) * v
        })
        .collect()
}

#[test]
fn batch_norm_matches_its_formula_in_training_and_inference() {
    let device = cpu_device();
    let epsilon = 1e-5;
    // The last shape's images are written in two chunks of 3 channels each.
    for (n, shape) in [[4, 6, 5, 7], [3, 5, 1, 1], [2, 3, 40, 33], [2, 6, 64, 100]]
        .into_iter()
        .enumerate()
    {
        let dims = [shape[0], shape[1], shape[2] * shape[3]];
        let [_, channels, spatial] = dims;
        let x = offset_channels(dims, 100.0, 7 + n as u64);
        let gamma = values(channels, 20 + n as u64);
        let beta = values(channels, 30 + n as u64);
        let stats = channel_statistics(&x, dims);
        let expected = |stats: &[(f64, f64)]| -> Vec<f64> {
            (0..x.len())
                .map(|i| {
                    let c = (i / spatial) % channels;
                    let (mean, variance) = stats[c];
                    (x[i] as f64 - mean) / (variance + epsilon).sqrt() * gamma[c] as f64
                        + beta[c] as f64
                })
                .collect()
        };
        let trained = batch_norm_train(
            tensor(x.clone(), shape, &device),
            tensor(gamma.clone(), [channels], &device),
            tensor(beta.clone(), [channels], &device),
            epsilon,
        );
        let mean: Vec<f64> = stats.iter().map(|s| s.0).collect();
        let variance: Vec<f64> = stats.iter().map(|s| s.1).collect();
        let out_error = relative_error(&read(trained.output), &expected(&stats));
        let mean_error = relative_error(&read(trained.mean), &mean);
        let variance_error = relative_error(&read(trained.variance), &variance);
        assert!(out_error < 1e-5, "shape {n}: output off by {out_error:e}");
        assert!(mean_error < 1e-6, "shape {n}: mean off by {mean_error:e}");
        assert!(
            variance_error < 1e-5,
            "shape {n}: variance off by {variance_error:e}"
        );

        // Inference with running statistics other than the batch's own.
        let running: Vec<(f64, f64)> = stats.iter().map(|&(m, v)| (m + 0.25, v * 1.5)).collect();
        let infer = |x: Tensor<4>| {
            batch_norm(
                x,
                tensor(gamma.clone(), [channels], &device),
                tensor(beta.clone(), [channels], &device),
                tensor(
                    running.iter().map(|s| s.0 as f32).collect(),
                    [channels],
                    &device,
                ),
                tensor(
                    running.iter().map(|s| s.1 as f32).collect(),
                    [channels],
                    &device,
                ),
                epsilon,
            )
        };
        let inferred = infer(tensor(x.clone(), shape, &device));
        let error = relative_error(&read(inferred), &expected(&running));
        assert!(error < 1e-5, "shape {n}: inference off by {error:e}");

        // The same on a view of the leading channels of a wider tensor (as a dense block's
        // buffer is read), whose images lie further apart than its own channels make.
        let extra = 3;
        let image = channels * spatial;
        let wide: Vec<f32> = (0..shape[0])
            .flat_map(|b| {
                let junk = (0..extra * spatial).map(|i| i as f32);
                x[b * image..][..image].iter().copied().chain(junk)
            })
            .collect();
        let [batch, _, height, width] = shape;
        let wide = tensor(wide, [batch, channels + extra, height, width], &device);
        let inferred = infer(wide.slice([0..batch, 0..channels]));
        let error = relative_error(&read(inferred), &expected(&running));
        assert!(
            error < 1e-5,
            "shape {n}: inference on a view off by {error:e}"
        );
    }
}

/// Batch norm composed from tensor ops, which burn's autodiff differentiates op by op.
fn composed_batch_norm(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, epsilon: f64) -> Tensor<4> {
    let channels = gamma.dims()[0];
    let per_channel = |t: Tensor<4>| t.mean_dim(0).mean_dim(2).mean_dim(3);
    let mean = per_channel(x.clone());
    let centred = x - mean;
    let variance = per_channel(centred.clone() * centred.clone());
    let normalised = centred / variance.add_scalar(epsilon).sqrt();
    normalised * gamma.reshape([1, channels, 1, 1]) + beta.reshape([1, channels, 1, 1])
}

#[test]
fn batch_norm_gradients_match_autodiff_of_the_composed_normalisation() {
    let device = cpu_device();
    let epsilon = 1e-5;
    for (n, shape) in [[4, 6, 5, 7], [2, 3, 40, 33], [3, 4, 1, 1]]
        .into_iter()
        .enumerate()
    {
        let dims = [shape[0], shape[1], shape[2] * shape[3]];
        let channels = shape[1];
        // Closer channels than above: the composed reference itself computes in f32.
        let x = offset_channels(dims, 2.0, 40 + n as u64);
        let gamma = values(channels, 50 + n as u64);
        let beta = values(channels, 60 + n as u64);
        let upstream = values(x.len(), 70 + n as u64);
        let gradients = |fused: bool| -> [Vec<f32>; 3] {
            let x = tensor(x.clone(), shape, &device).autodiff().require_grad();
            let gamma = tensor(gamma.clone(), [channels], &device)
                .autodiff()
                .require_grad();
            let beta = tensor(beta.clone(), [channels], &device)
                .autodiff()
                .require_grad();
            let out = if fused {
                batch_norm_train(x.clone(), gamma.clone(), beta.clone(), epsilon).output
            } else {
                composed_batch_norm(x.clone(), gamma.clone(), beta.clone(), epsilon)
            };
            let grads = (out * tensor(upstream.clone(), shape, &device).autodiff())
                .sum()
                .backward();
            [
                read(x.grad(&grads).expect("x gradient")),
                read(gamma.grad(&grads).expect("gamma gradient")),
                read(beta.grad(&grads).expect("beta gradient")),
            ]
        };
        let fused = gradients(true);
        let composed = gradients(false);
        for (name, (got, want)) in ["x", "gamma", "beta"]
            .iter()
            .zip(fused.iter().zip(&composed))
        {
            let want: Vec<f64> = want.iter().map(|&v| v as f64).collect();
            let error = relative_error(got, &want);
            assert!(error < 1e-4, "shape {n}: {name} gradient off by {error:e}");
        }
    }
}

/// Concatenating DenseNet's growing features along channels, large enough to be copied on
/// rayon's pool (`cat_outer_parallel`), against the same concatenation done by hand: every
/// image's channels of the first tensor, then of the second, then of the third.
#[test]
fn large_channel_concatenation_keeps_each_image_s_channels_in_order() {
    let device = cpu_device();
    let (batch, plane) = (3, 32 * 32);
    let channels = [96, 32, 7];
    let parts: Vec<Vec<f32>> = channels
        .iter()
        .enumerate()
        .map(|(n, &c)| values(batch * c * plane, 100 + n as u64))
        .collect();
    let tensors = parts
        .iter()
        .zip(channels)
        .map(|(data, c)| tensor(data.clone(), [batch, c, 32, 32], &device))
        .collect();
    let got = read(Tensor::cat(tensors, 1));
    let mut want = Vec::new();
    for b in 0..batch {
        for (data, c) in parts.iter().zip(channels) {
            want.extend_from_slice(&data[b * c * plane..][..c * plane]);
        }
    }
    assert!(want.len() >= 256 * 1024, "big enough for the parallel copy");
    assert_eq!(got, want);
}

/// A pooling's shape: `[batch, channels, h, w]`, kernel, stride, padding, dilation, ceil mode.
#[derive(Clone, Copy)]
struct PoolCase {
    dims: [usize; 4],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    ceil_mode: bool,
}

impl PoolCase {
    /// Output size along axis `a`: PyTorch's rule, where in ceil mode a last window that
    /// would start in the end padding is dropped.
    fn output_len(&self, a: usize) -> usize {
        let (input, k, s, p, d) = (
            self.dims[2 + a],
            self.kernel[a],
            self.stride[a],
            self.padding[a],
            self.dilation[a],
        );
        let span = input + 2 * p - d * (k - 1) - 1;
        if !self.ceil_mode {
            return span / s + 1;
        }
        let out = span.div_ceil(s) + 1;
        if (out - 1) * s >= input + p {
            out - 1
        } else {
            out
        }
    }

    /// Input positions along axis `a` of output `o`'s taps, in order; `None` for taps in the
    /// padding (before the input or after it).
    fn taps(&self, a: usize, o: usize) -> Vec<Option<usize>> {
        (0..self.kernel[a])
            .map(|k| {
                let at =
                    (o * self.stride[a] + k * self.dilation[a]) as isize - self.padding[a] as isize;
                (at >= 0 && (at as usize) < self.dims[2 + a]).then_some(at as usize)
            })
            .collect()
    }

    fn planes(&self) -> usize {
        self.dims[0] * self.dims[1]
    }
}

/// Max pooling by its definition: over the window's taps inside the input, in order, the
/// first tap, any larger value and any NaN take the place (so NaN wins and the last NaN's
/// position is kept, as in PyTorch). Returns values and positions in the input plane.
fn max_pool_by_definition(x: &[f32], case: &PoolCase) -> (Vec<f32>, Vec<i64>) {
    let [h, w] = [case.dims[2], case.dims[3]];
    let (mut values, mut indices) = (Vec::new(), Vec::new());
    for plane in x.chunks(h * w).take(case.planes()) {
        for oh in 0..case.output_len(0) {
            for ow in 0..case.output_len(1) {
                let (mut best, mut at) = (f32::NEG_INFINITY, -1i64);
                for ih in case.taps(0, oh).into_iter().flatten() {
                    for iw in case.taps(1, ow).into_iter().flatten() {
                        let v = plane[ih * w + iw];
                        if at < 0 || v > best || v.is_nan() {
                            (best, at) = (v, (ih * w + iw) as i64);
                        }
                    }
                }
                values.push(best);
                indices.push(at);
            }
        }
    }
    (values, indices)
}

/// Average pooling by its definition, in f64: the sum over the taps inside the input, divided
/// by the taps inside the padded input (`count_include_pad`) or by those inside the input.
fn avg_pool_by_definition(x: &[f32], case: &PoolCase, count_include_pad: bool) -> Vec<f64> {
    let [h, w] = [case.dims[2], case.dims[3]];
    // Taps of output `o` along axis `a` that fall inside the padded input.
    let in_padded = |a: usize, o: usize| {
        (0..case.kernel[a])
            .filter(|k| o * case.stride[a] + k < case.dims[2 + a] + 2 * case.padding[a])
            .count()
    };
    let mut out = Vec::new();
    for plane in x.chunks(h * w).take(case.planes()) {
        for oh in 0..case.output_len(0) {
            for ow in 0..case.output_len(1) {
                let (rows, columns) = (case.taps(0, oh), case.taps(1, ow));
                let mut sum = 0.0;
                for ih in rows.iter().flatten() {
                    for iw in columns.iter().flatten() {
                        sum += plane[ih * w + iw] as f64;
                    }
                }
                let divisor = if count_include_pad {
                    in_padded(0, oh) * in_padded(1, ow)
                } else {
                    rows.iter().flatten().count() * columns.iter().flatten().count()
                };
                out.push(sum / divisor.max(1) as f64);
            }
        }
    }
    out
}

#[test]
fn pooling_matches_its_definition_with_ties_nans_padding_and_ceil_mode() {
    use burn::tensor::module::{avg_pool2d, max_pool2d, max_pool2d_with_indices};
    use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};

    let device = cpu_device();
    let case = |dims, kernel, stride, padding, dilation, ceil_mode| PoolCase {
        dims,
        kernel,
        stride,
        padding,
        dilation,
        ceil_mode,
    };
    let cases = [
        // DenseNet's stem max pool (3x3/2, padding 1), on odd and even sizes.
        case([2, 3, 13, 12], [3, 3], [2, 2], [1, 1], [1, 1], false),
        // DenseNet's transition average pool (2x2/2), odd sizes drop the last row/column; in
        // ceil mode they keep it, in windows of 2 or 1 values.
        case([2, 4, 9, 7], [2, 2], [2, 2], [0, 0], [1, 1], false),
        case([2, 4, 9, 7], [2, 2], [2, 2], [0, 0], [1, 1], true),
        // Uneven kernel, stride and padding, dilation, ceil mode; many small planes (several
        // to a task).
        case([3, 70, 10, 7], [3, 2], [2, 3], [1, 1], [2, 1], true),
        // Large planes, more than one task's worth each.
        case([1, 2, 190, 150], [3, 3], [2, 2], [1, 1], [1, 1], true),
    ];
    for (n, case) in cases.iter().enumerate() {
        let len = case.dims.iter().product();
        // Values on a grid of quarters, so that windows hold ties, and a few NaNs.
        let mut x: Vec<f32> = values(len, 300 + n as u64)
            .into_iter()
            .map(|v| (v * 4.0).round() / 4.0)
            .collect();
        for i in (5..len).step_by(97) {
            x[i] = f32::NAN;
        }
        let options = MaxPoolOptions::new(case.kernel)
            .with_stride(case.stride)
            .with_padding(case.padding)
            .with_dilation(case.dilation)
            .with_ceil_mode(case.ceil_mode);

        let (want, want_indices) = max_pool_by_definition(&x, case);
        let same = |got: &[f32]| {
            got.len() == want.len()
                && got
                    .iter()
                    .zip(&want)
                    .all(|(g, w)| g == w || (g.is_nan() && w.is_nan()))
        };
        let (values, indices) =
            max_pool2d_with_indices(tensor(x.clone(), case.dims, &device), options.clone());
        let indices = indices
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        assert!(same(&read(values)), "case {n}: max pool with indices");
        assert_eq!(indices, want_indices, "case {n}: max pool indices");
        assert!(
            same(&read(max_pool2d(
                tensor(x.clone(), case.dims, &device),
                options
            ))),
            "case {n}: max pool"
        );
        assert!(
            want.iter().any(|v| v.is_nan()),
            "case {n}: NaN reaches the output"
        );

        // Average pooling (which has no dilation), on the values without NaNs.
        let case = &PoolCase {
            dilation: [1, 1],
            ..*case
        };
        x.iter_mut().filter(|v| v.is_nan()).for_each(|v| *v = 0.5);
        for count_include_pad in [true, false] {
            let options = AvgPoolOptions::new(case.kernel)
                .with_stride(case.stride)
                .with_padding(case.padding)
                .with_count_include_pad(count_include_pad)
                .with_ceil_mode(case.ceil_mode);
            let got = read(avg_pool2d(tensor(x.clone(), case.dims, &device), options));
            let want = avg_pool_by_definition(&x, case, count_include_pad);
            let error = relative_error(&got, &want);
            assert!(
                error < 1e-6,
                "case {n}: avg pool (count_include_pad {count_include_pad}) off by {error}"
            );
        }
    }
}
