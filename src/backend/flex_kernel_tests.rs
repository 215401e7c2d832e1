//! The kernels vendor/burn-flex adds to burn-flex 0.22.1 (vendor/burn-flex/PATCHES.md), against
//! their definitions: the convolution weight gradient against the sum it is, in f64 loops; batch
//! norm against the formula in f64 and, for its gradients, against burn's autodiff of the same
//! normalisation composed from tensor ops.

use burn::tensor::module::{batch_norm, batch_norm_train, conv2d_weight_backward};
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

/// A convolution's shape: `[batch, c_in, c_out, h, w]`, kernel, stride, padding, dilation,
/// groups.
struct Case {
    dims: [usize; 5],
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
}

/// `dW[o, i, ky, kx] = Σ_b Σ_(oy, ox) g[b, o, oy, ox] · x[b, group·c_in/G + i, oy·s + ky·d − p, …]`.
fn weight_gradient_by_definition(case: &Case, x: &[f32], g: &[f32], out: [usize; 2]) -> Vec<f64> {
    let [batch, c_in, c_out, h, w] = case.dims;
    let [kh, kw] = case.kernel;
    let (in_per_group, out_per_group) = (c_in / case.groups, c_out / case.groups);
    let mut grad = vec![0.0; c_out * in_per_group * kh * kw];
    for o in 0..c_out {
        let group = o / out_per_group;
        for i in 0..in_per_group {
            let channel = group * in_per_group + i;
            for ky in 0..kh {
                for kx in 0..kw {
                    let mut sum = 0.0;
                    for b in 0..batch {
                        for oy in 0..out[0] {
                            for ox in 0..out[1] {
                                let iy = (oy * case.stride[0] + ky * case.dilation[0]) as isize
                                    - case.padding[0] as isize;
                                let ix = (ox * case.stride[1] + kx * case.dilation[1]) as isize
                                    - case.padding[1] as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let xv =
                                    x[((b * c_in + channel) * h + iy as usize) * w + ix as usize];
                                let gv = g[((b * c_out + o) * out[0] + oy) * out[1] + ox];
                                sum += xv as f64 * gv as f64;
                            }
                        }
                    }
                    grad[((o * in_per_group + i) * kh + ky) * kw + kx] = sum;
                }
            }
        }
    }
    grad
}

#[test]
fn the_convolution_weight_gradient_is_the_sum_it_stands_for() {
    let device = cpu_device();
    let case = |dims, kernel, stride, padding, dilation, groups| Case {
        dims,
        kernel,
        stride,
        padding,
        dilation,
        groups,
    };
    let cases = [
        // DenseNet's 3x3 (padding 1), 1x1 bottleneck and 7x7/2 stem.
        case([3, 5, 4, 9, 7], [3, 3], [1, 1], [1, 1], [1, 1], 1),
        case([2, 6, 3, 8, 8], [1, 1], [1, 1], [0, 0], [1, 1], 1),
        case([2, 2, 4, 13, 11], [7, 7], [2, 2], [3, 3], [1, 1], 1),
        // Enough channels that the im2col matrix is cut into tiles of output rows (9, 9, 6).
        case([2, 128, 8, 24, 24], [3, 3], [1, 1], [1, 1], [1, 1], 1),
        // Groups, dilation, uneven stride and padding; a strided 1x1; more images than threads.
        case([2, 4, 6, 9, 10], [3, 2], [2, 1], [0, 1], [2, 1], 2),
        case([5, 3, 2, 5, 6], [1, 1], [2, 2], [0, 0], [1, 1], 1),
        case([4, 3, 3, 6, 5], [2, 3], [3, 2], [2, 0], [1, 2], 3),
    ];
    for (n, case) in cases.iter().enumerate() {
        let [batch, c_in, c_out, h, w] = case.dims;
        let [kh, kw] = case.kernel;
        let out = [0, 1].map(|a| {
            let size = [h, w][a] + 2 * case.padding[a];
            (size - case.dilation[a] * (case.kernel[a] - 1) - 1) / case.stride[a] + 1
        });
        let x = values(batch * c_in * h * w, 1 + n as u64);
        let g = values(batch * c_out * out[0] * out[1], 100 + n as u64);
        let weight_shape = [c_out, c_in / case.groups, kh, kw];
        let got = conv2d_weight_backward(
            tensor(x.clone(), [batch, c_in, h, w], &device),
            Tensor::<4>::zeros(weight_shape, &device),
            tensor(g.clone(), [batch, c_out, out[0], out[1]], &device),
            ConvOptions::new(case.stride, case.padding, case.dilation, case.groups),
        );
        assert_eq!(got.dims(), weight_shape, "case {n}");
        let error = relative_error(
            &read(got),
            &weight_gradient_by_definition(case, &x, &g, out),
        );
        assert!(error < 1e-5, "case {n}: relative error {error:e}");
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
    for (n, shape) in [[4, 6, 5, 7], [3, 5, 1, 1], [2, 3, 40, 33]]
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
        let inferred = batch_norm(
            tensor(x.clone(), shape, &device),
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
        );
        let error = relative_error(&read(inferred), &expected(&running));
        assert!(error < 1e-5, "shape {n}: inference off by {error:e}");
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
