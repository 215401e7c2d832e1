//! Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
//! Gradient-based Localization", ICCV 2017): where in an X-ray the DenseNet found the evidence
//! for one of its outputs, as a heatmap the page lays over the image.
//!
//! # What it shows
//! For output `c` with logit `y_c`, and the last dense block's feature maps `A_k` (after `norm5`
//! and ReLU, from [`DenseNet::forward_features`]), each map gets a weight
//! `α_k = mean over (h, w) of ∂y_c/∂A_k(h, w)`, and the heatmap is `ReLU(Σ_k α_k A_k)`: the
//! places whose features push the logit up. Negative evidence is cut by the ReLU, as in the
//! paper. For DenseNet the head is a global average pool and a linear layer, so `α_k` is the
//! classifier weight `W[k, c] / (h·w)` and Grad-CAM coincides with CAM (Zhou et al., 2016) up to
//! scale; the gradient is still taken with autodiff, so the function stays right if the head
//! changes (the tests check the two agree).
//!
//! # Limits
//! - **Coarse.** The map has the feature resolution: 7×7 for DenseNet121 at 224² (one cell per
//!   32×32 pixels), 4×4 for a 128² input. Upsampling ([`Heatmap::upsample`]) smooths it; it adds
//!   no detail. A small nodule lights up a 32-pixel cell, not its outline.
//! - **Where, not what.** It says which region raised the score, not which feature there (a
//!   tube, a letter "R", an edge of the film can be the "evidence"; that is often the point of
//!   looking).
//! - **Per output, relative.** The map is normalised to `[0, 1]` per image and output: a bright
//!   spot on an image with probability 0.02 is the strongest of weak evidence. Read it with the
//!   probability ([`GradCam::probability`]).
//! - **Positive evidence only.** Regions that lower the score are zero, like regions that do
//!   nothing.
//!
//! The model runs in inference mode (batch norm on its running statistics), exactly as for
//! classification, and every read is async so that it runs on WebGPU in the browser.

use burn::module::Module;
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Device, Tensor};

use super::densenet::DenseNet;

/// Why a heatmap could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GradCamError {
    /// The output index is past the model's outputs (a bug in the caller).
    #[error("the model has {outputs} outputs; output {output} does not exist")]
    NoOutput {
        /// The output asked for.
        output: usize,
        /// How many the model has.
        outputs: usize,
    },
    /// The image tensor is not one preprocessed image.
    #[error(
        "Grad-CAM explains one image at a time: expected [1, channels, height, width], got {0:?}"
    )]
    NotOneImage([usize; 4]),
    /// The backward pass gave no gradient for the feature maps (the device has no autodiff).
    #[error("no gradient reached the feature maps: pass an autodiff device (`device.autodiff()`)")]
    NoGradient,
    /// Reading results back from the device failed.
    #[error("could not read the heatmap back from the device: {0}")]
    Read(String),
    /// The grey image handed to [`overlay_rgba`] does not have `side × side` pixels.
    #[error("the image has {pixels} pixels, expected {side}×{side}")]
    ImageSize {
        /// Pixels given.
        pixels: usize,
        /// Side expected.
        side: u32,
    },
}

/// A heatmap in `[0, 1]`, row-major, `width × height` values.
#[derive(Clone, Debug, PartialEq)]
pub struct Heatmap {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// `height` rows of `width` values, each in `[0, 1]`.
    pub values: Vec<f32>,
}

/// What [`grad_cam`] found for one image and output.
#[derive(Clone, Debug, PartialEq)]
pub struct GradCam {
    /// The heatmap at feature resolution (7×7 for DenseNet121 at 224²); upsample it with
    /// [`Heatmap::upsample`] to lay it over the image.
    pub heatmap: Heatmap,
    /// The model's probability for the output: the map says where, this says how much.
    pub probability: f32,
}

/// Grad-CAM heatmap of `output` for one preprocessed image; see the module doc.
///
/// `image` is `[1, channels, height, width]` as [`crate::train::preprocess::preprocess`] makes
/// it. `model` may be in training or inference mode, on an autodiff device or not: it is run as
/// `model.valid()`, so batch norm uses its running statistics and is never updated. `device`
/// is the device to run on; the gradient is taken on its autodiff form.
///
/// How: the backbone runs on the plain device (no graph is recorded for it, which saves memory
/// and time on a 121-layer network). Its output becomes a fresh autodiff leaf that requires
/// grad (the "detach then require grad" of the method), the head runs on it with its weights as
/// constants, and one backward gives `∂y_c/∂A`. Running the trained model as-is instead would
/// normalise a batch of one with its own statistics and move the running statistics.
///
/// # Errors
/// [`GradCamError`] if the image is not one image, `output` does not exist, or a device read
/// fails.
pub async fn grad_cam(
    model: &DenseNet,
    image: Tensor<4>,
    output: usize,
    device: &Device,
) -> Result<GradCam, GradCamError> {
    let dims = image.dims();
    if dims[0] != 1 {
        return Err(GradCamError::NotOneImage(dims));
    }
    let [_, outputs] = model.classifier.weight.dims();
    if output >= outputs {
        return Err(GradCamError::NoOutput { output, outputs });
    }
    let plain = device.clone().without_autodiff();
    let inference = model.valid().to_device(&plain);
    let image = image.without_autodiff().to_device(&plain);

    let features = inference.forward_features(image); // [1, K, h, w], no graph
    // A plain tensor made autodiff has no history: it is a leaf, as `detach` would make it.
    let leaf = features.clone().autodiff().require_grad(); // [1, K, h, w]
    let logits = inference.head(leaf.clone()); // [1, outputs]
    let logit = logits.slice([0..1, output..output + 1]); // [1, 1]
    let grads = logit.clone().sum().backward();
    let gradient = leaf
        .grad(&grads)
        .ok_or(GradCamError::NoGradient)?
        .without_autodiff(); // [1, K, h, w]

    let weights = gradient.mean_dims(&[2, 3]); // α: [1, K, 1, 1]
    let cam = relu((features * weights).sum_dim(1)); // [1, 1, h, w]
    let [_, _, height, width] = cam.dims();
    let cam = read(cam).await?;
    let probability = read(sigmoid(logit.without_autodiff())).await?;
    Ok(GradCam {
        heatmap: Heatmap {
            width: dim_u32(width),
            height: dim_u32(height),
            values: normalise(cam),
        },
        probability: probability.first().copied().unwrap_or(f32::NAN),
    })
}

/// Reads a tensor back, asynchronously (a synchronous read panics on WebGPU in the browser).
async fn read<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, GradCamError> {
    tensor
        .into_data_async()
        .await
        .map_err(|e| GradCamError::Read(format!("{e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| GradCamError::Read(format!("{e:?}")))
}

/// Feature maps are a few cells wide; a side past `u32` would be a tensor of exabytes.
fn dim_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Scales a non-negative map so its maximum is 1.
///
/// Dividing by the maximum, without subtracting the minimum, keeps 0 meaning "no positive
/// evidence" (a min-max scaling would paint the weakest cell of a uniformly hot map cold). A map
/// with no positive value (or a non-finite one, from a diverged model) is all zeros, never NaN.
fn normalise(mut cam: Vec<f32>) -> Vec<f32> {
    // `f32::max` skips NaN, so a NaN cell would survive the division: test finiteness first.
    let finite = cam.iter().all(|v| v.is_finite());
    let max = cam.iter().copied().fold(0.0_f32, f32::max);
    if finite && max > 0.0 {
        cam.iter_mut().for_each(|v| *v = (*v / max).clamp(0.0, 1.0));
    } else {
        cam.iter_mut().for_each(|v| *v = 0.0);
    }
    cam
}

impl Heatmap {
    /// The heatmap resampled bilinearly to `side × side`.
    ///
    /// Pixel centres are aligned as PyTorch's `interpolate(mode="bilinear",
    /// align_corners=False)` and OpenCV's `resize` (which Grad-CAM code commonly uses) align
    /// them: output pixel `x` samples the input at `(x + 0.5)·w/side - 0.5`, clamped to the edge.
    /// Each cell's value then sits over the centre of the image region it covers.
    #[must_use]
    pub fn upsample(&self, side: u32) -> Heatmap {
        let (w, h) = (self.width as usize, self.height as usize);
        let n = side as usize;
        if w == 0 || h == 0 || self.values.len() < w * h {
            return Heatmap {
                width: side,
                height: side,
                values: vec![0.0; n * n],
            };
        }
        let xs: Vec<(usize, usize, f32)> = (0..n).map(|x| source(x, n, w)).collect();
        let ys: Vec<(usize, usize, f32)> = (0..n).map(|y| source(y, n, h)).collect();
        let at = |x: usize, y: usize| self.values[y * w + x];
        let mut values = Vec::with_capacity(n * n);
        for &(y0, y1, fy) in &ys {
            for &(x0, x1, fx) in &xs {
                let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
                let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
                values.push(top * (1.0 - fy) + bottom * fy);
            }
        }
        Heatmap {
            width: side,
            height: side,
            values,
        }
    }

    /// The `(x, y)` of the largest value (the first one, in row-major order, on ties).
    #[must_use]
    pub fn peak(&self) -> Option<(u32, u32)> {
        let width = self.width.max(1) as usize;
        let mut best: Option<(usize, f32)> = None;
        for (i, v) in self.values.iter().enumerate() {
            if best.is_none_or(|(_, b)| *v > b) {
                best = Some((i, *v));
            }
        }
        best.map(|(i, _)| (dim_u32(i % width), dim_u32(i / width)))
    }
}

/// Half-pixel-centred bilinear source of output index `i` of `n`, from an input of `m`: the two
/// input indices and the weight of the second.
fn source(i: usize, n: usize, m: usize) -> (usize, usize, f32) {
    let s = ((i as f32 + 0.5) * m as f32 / n as f32 - 0.5).clamp(0.0, (m - 1) as f32);
    let i0 = s.floor() as usize;
    let i1 = (i0 + 1).min(m - 1);
    (i0, i1, s - i0 as f32)
}

/// The jet colormap, piecewise linear as matplotlib's: dark blue (0, 0, 0.5) at 0, cyan-ish
/// green at 0.5, dark red (0.5, 0, 0) at 1. Each channel is a clamped tent:
/// `clamp(1.5 - |4v - centre|)` with centres 3 (red), 2 (green), 1 (blue).
#[must_use]
pub fn jet(value: f32) -> [u8; 3] {
    let v = if value.is_finite() {
        value.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let channel = |centre: f32| {
        let c = (1.5 - (4.0 * v - centre).abs()).clamp(0.0, 1.0);
        (c * 255.0).round() as u8
    };
    [channel(3.0), channel(2.0), channel(1.0)]
}

/// The grey image (`side × side`, one byte per pixel) with the heatmap laid over it in the
/// [`jet`] colormap, as RGBA bytes for a canvas `ImageData`.
///
/// Each pixel is `(1 - alpha)·grey + alpha·jet(heat)`, opaque; `alpha` (clamped to `[0, 1]`) is
/// how much colour covers the X-ray: 0 gives the X-ray, 1 the heatmap alone. The heatmap is
/// upsampled to `side` when it is coarser.
///
/// # Errors
/// [`GradCamError::ImageSize`] if `grey` does not have `side²` pixels.
pub fn overlay_rgba(
    grey: &[u8],
    side: u32,
    heatmap: &Heatmap,
    alpha: f32,
) -> Result<Vec<u8>, GradCamError> {
    let n = side as usize;
    if grey.len() != n * n {
        return Err(GradCamError::ImageSize {
            pixels: grey.len(),
            side,
        });
    }
    let upsampled;
    let heat = if heatmap.width == side && heatmap.height == side && heatmap.values.len() == n * n {
        heatmap
    } else {
        upsampled = heatmap.upsample(side);
        &upsampled
    };
    let alpha = if alpha.is_finite() {
        alpha.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mut rgba = Vec::with_capacity(n * n * 4);
    for (g, h) in grey.iter().zip(&heat.values) {
        let g = f32::from(*g);
        for c in jet(*h) {
            rgba.push(((1.0 - alpha) * g + alpha * f32::from(c)).round() as u8);
        }
        rgba.push(u8::MAX);
    }
    Ok(rgba)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu_device;
    use crate::model::densenet::DenseNetConfig;
    use crate::model::init::seeded_on;
    use burn::tensor::Distribution;

    fn tiny_densenet(device: &Device) -> DenseNet {
        seeded_on(3, device, |cpu| {
            DenseNetConfig::new(3)
                .with_growth_rate(4)
                .with_block_config(vec![2, 3])
                .with_num_init_features(8)
                .with_bn_size(2)
                .init(cpu)
        })
    }

    fn image(device: &Device, seed: u64) -> Tensor<4> {
        let cpu = cpu_device();
        cpu.seed(seed);
        // 64 rows × 48 columns: a non-square map (8 × 6) catches swapped width and height.
        Tensor::<4>::random([1, 1, 64, 48], Distribution::Normal(0.0, 1.0), &cpu).to_device(device)
    }

    fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
        tensor.into_data().try_to_vec::<f32>().expect("f32 data")
    }

    /// CAM from the feature maps and the classifier weights, on the CPU, normalised by its
    /// maximum: for a global-average-pool + linear head, ∂y_c/∂A_k(h, w) = W[k, c] / (h·w), so
    /// Grad-CAM is ReLU(Σ_k W[k, c] A_k) up to a positive factor (Selvaraju et al., section 3.1,
    /// on CAM). No autodiff.
    fn cam_from_weights(model: &DenseNet, features: Tensor<4>, c: usize) -> Vec<f32> {
        let [_, k, h, w] = features.dims();
        let cells = h * w;
        let features = values(features.without_autodiff());
        let weights = values(model.classifier.weight.val().without_autodiff()); // [K, classes]
        let classes = weights.len() / k;
        let raw: Vec<f32> = (0..cells)
            .map(|i| {
                let s: f32 = (0..k)
                    .map(|j| weights[j * classes + c] * features[j * cells + i])
                    .sum();
                s.max(0.0)
            })
            .collect();
        let max = raw.iter().copied().fold(0.0, f32::max);
        raw.iter()
            .map(|r| if max > 0.0 { r / max } else { 0.0 })
            .collect()
    }

    fn assert_close(got: &[f32], expected: &[f32], what: &str) {
        assert_eq!(got.len(), expected.len(), "{what}");
        for (g, e) in got.iter().zip(expected) {
            assert!(
                (g - e).abs() < 1e-4,
                "{what}: {g} vs {e}\n{got:?}\n{expected:?}"
            );
        }
    }

    #[test]
    fn gradient_weights_equal_the_classifier_weights_as_cam_predicts() {
        let device = cpu_device().autodiff();
        let model = tiny_densenet(&device);
        let x = image(&device, 8);
        let features = model.valid().forward_features(x.clone().without_autodiff());
        let mut nonzero = 0;
        for c in 0..3 {
            let got = pollster::block_on(grad_cam(&model, x.clone(), c, &device)).expect("cam");
            assert_eq!((got.heatmap.width, got.heatmap.height), (6, 8));
            let expected = cam_from_weights(&model, features.clone(), c);
            nonzero += usize::from(expected.iter().any(|v| *v > 0.0));
            assert_close(&got.heatmap.values, &expected, &format!("output {c}"));
        }
        assert!(
            nonzero > 0,
            "at least one output should have positive evidence"
        );
    }

    #[test]
    fn probability_is_the_inference_mode_probability() {
        let device = cpu_device().autodiff();
        let model = tiny_densenet(&device);
        let x = image(&device, 9);
        let expected = values(
            model
                .valid()
                .forward_probabilities(x.clone().without_autodiff()),
        );
        for (c, p) in expected.iter().enumerate() {
            let got = pollster::block_on(grad_cam(&model, x.clone(), c, &device)).expect("cam");
            assert!(
                (got.probability - p).abs() < 1e-5,
                "{} vs {p}",
                got.probability
            );
        }
    }

    #[test]
    fn a_training_mode_model_uses_and_keeps_its_running_statistics() {
        // Running statistics unlike a fresh model's (mean 0, variance 1), so that a batch norm on
        // the image's own statistics gives a clearly different map.
        let device = cpu_device().autodiff();
        let model = tiny_densenet(&device);
        let cpu = cpu_device();
        cpu.seed(4);
        let batch = Tensor::<4>::random([4, 1, 64, 48], Distribution::Normal(2.0, 3.0), &cpu)
            .to_device(&device);
        for _ in 0..3 {
            let _ = model.forward(batch.clone()); // updates the running statistics
        }
        // `value_sync` folds in the last update; `value` may lag one forward behind.
        let running = || {
            values(
                model
                    .features
                    .norm5
                    .running_mean
                    .value_sync()
                    .without_autodiff(),
            )
        };
        let before = running();
        let x = image(&device, 10);
        let got = pollster::block_on(grad_cam(&model, x.clone(), 1, &device)).expect("cam");
        assert_eq!(
            running(),
            before,
            "Grad-CAM must not move the running statistics"
        );

        let inference = model.valid().forward_features(x.clone().without_autodiff());
        assert_close(
            &got.heatmap.values,
            &cam_from_weights(&model, inference, 1),
            "running",
        );
        // The same model run as-is (batch statistics of the one image) gives another map.
        let as_is = cam_from_weights(&model, model.forward_features(x), 1);
        let difference = got
            .heatmap
            .values
            .iter()
            .zip(&as_is)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            difference > 0.05,
            "batch statistics should change the map: {difference}"
        );
    }

    #[test]
    fn rejects_a_batch_and_a_missing_output() {
        let device = cpu_device().autodiff();
        let model = tiny_densenet(&device);
        let two = Tensor::<4>::zeros([2, 1, 32, 32], &device);
        assert!(matches!(
            pollster::block_on(grad_cam(&model, two, 0, &device)),
            Err(GradCamError::NotOneImage([2, 1, 32, 32]))
        ));
        let one = Tensor::<4>::zeros([1, 1, 32, 32], &device);
        assert!(matches!(
            pollster::block_on(grad_cam(&model, one, 3, &device)),
            Err(GradCamError::NoOutput {
                output: 3,
                outputs: 3
            })
        ));
    }

    #[test]
    fn normalise_scales_to_one_and_keeps_empty_maps_zero() {
        assert_eq!(normalise(vec![0.0, 2.0, 1.0]), vec![0.0, 1.0, 0.5]);
        assert_eq!(normalise(vec![0.0; 4]), vec![0.0; 4]);
        assert_eq!(normalise(vec![f32::INFINITY, 1.0]), vec![0.0, 0.0]);
        assert_eq!(normalise(vec![f32::NAN, 1.0]), vec![0.0, 0.0]);
    }

    #[test]
    fn upsampling_matches_half_pixel_bilinear() {
        // torch.nn.functional.interpolate(torch.tensor([[[[0., 1.], [0., 1.]]]]), size=4,
        // mode="bilinear", align_corners=False) gives rows [0, 0.25, 0.75, 1].
        let map = Heatmap {
            width: 2,
            height: 2,
            values: vec![0.0, 1.0, 0.0, 1.0],
        };
        let up = map.upsample(4);
        assert_eq!((up.width, up.height), (4, 4));
        for row in up.values.chunks(4) {
            for (got, expected) in row.iter().zip([0.0, 0.25, 0.75, 1.0]) {
                assert!((got - expected).abs() < 1e-6, "{row:?}");
            }
        }
        // The transposed map gives the transposed result: rows and columns are not swapped.
        let map = Heatmap {
            width: 2,
            height: 2,
            values: vec![0.0, 0.0, 1.0, 1.0],
        };
        let up = map.upsample(4);
        for (y, expected) in [0.0, 0.25, 0.75, 1.0].iter().enumerate() {
            assert!(
                up.values[y * 4..y * 4 + 4]
                    .iter()
                    .all(|v| (v - expected).abs() < 1e-6)
            );
        }
        // One cell covers the image; a whole odd factor (3 → 9) puts the peak on the centre
        // pixel of its cell (cell 1 covers pixels 3..=5).
        let one = Heatmap {
            width: 1,
            height: 1,
            values: vec![0.7],
        };
        assert!(
            one.upsample(5)
                .values
                .iter()
                .all(|v| (v - 0.7).abs() < 1e-6)
        );
        let mut values = vec![0.0; 9];
        values[3 + 1] = 1.0; // row 1, column 1
        let map = Heatmap {
            width: 3,
            height: 3,
            values,
        };
        assert_eq!(map.upsample(9).peak(), Some((4, 4)));
    }

    #[test]
    fn jet_endpoints_match_matplotlib() {
        // matplotlib.cm.jet(0.0) = (0, 0, 0.5), jet(1.0) = (0.5, 0, 0), jet(0.5) ≈ (0.49, 1, 0.48).
        assert_eq!(jet(0.0), [0, 0, 128]);
        assert_eq!(jet(1.0), [128, 0, 0]);
        let mid = jet(0.5);
        assert!(mid[0].abs_diff(125) <= 3 && mid[1] == 255 && mid[2].abs_diff(122) <= 6);
        // Out of range and NaN clamp to the ends rather than wrapping.
        assert_eq!(jet(-1.0), jet(0.0));
        assert_eq!(jet(2.0), jet(1.0));
        assert_eq!(jet(f32::NAN), jet(0.0));
    }

    #[test]
    fn overlay_endpoints() {
        let grey = [0u8, 100, 200, 255];
        let hot = Heatmap {
            width: 2,
            height: 2,
            values: vec![0.0, 1.0, 0.0, 1.0],
        };
        // alpha 0: the X-ray, grey in each channel, opaque.
        let rgba = overlay_rgba(&grey, 2, &hot, 0.0).expect("sizes match");
        assert_eq!(
            rgba,
            [
                0, 0, 0, 255, 100, 100, 100, 255, 200, 200, 200, 255, 255, 255, 255, 255
            ]
        );
        // alpha 1: the colormap alone: dark blue where cold, dark red where hot.
        let rgba = overlay_rgba(&grey, 2, &hot, 1.0).expect("sizes match");
        assert_eq!(
            rgba,
            [
                0, 0, 128, 255, 128, 0, 0, 255, 0, 0, 128, 255, 128, 0, 0, 255
            ]
        );
        // alpha 0.5 on grey 100 under heat 1: (100 + 128) / 2 = 114, 50, 50.
        let rgba = overlay_rgba(&grey, 2, &hot, 0.5).expect("sizes match");
        assert_eq!(&rgba[4..8], &[114, 50, 50, 255]);
        // A coarser map is upsampled; a wrong-sized image is an error.
        let one = Heatmap {
            width: 1,
            height: 1,
            values: vec![1.0],
        };
        let rgba = overlay_rgba(&[0; 16], 4, &one, 1.0).expect("sizes match");
        assert!(rgba.chunks(4).all(|p| p == [128, 0, 0, 255]));
        assert!(matches!(
            overlay_rgba(&grey, 3, &hot, 1.0),
            Err(GradCamError::ImageSize { pixels: 4, side: 3 })
        ));
    }
}
