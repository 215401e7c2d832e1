//! The one preprocessing function: stored `u8` pixels to the model's input, shared by training,
//! evaluation, inference and Grad-CAM. Training adds augmentation in between (see
//! [`crate::train::batches`]); everything else calls [`preprocess`] as is, so the model never
//! sees an image prepared differently from the ones it learnt on.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::data::image::resize_grey;

/// How input values are normalised after scaling to `[0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Normalization {
    /// Per image: subtract its mean, divide by its standard deviation (Keras'
    /// `samplewise_center` + `samplewise_std_normalization`, the article's "basic"). The default
    /// for models trained from scratch: robust to exposure differences between X-ray machines.
    Samplewise,
    /// Fixed per-channel mean and standard deviation, as pretrained weights expect
    /// (torchvision's ImageNet `mean=[0.485, 0.456, 0.406]`, `std=[0.229, 0.224, 0.225]`).
    Fixed {
        /// Per channel (only the first is used for 1 channel).
        mean: [f32; 3],
        /// Per channel.
        std: [f32; 3],
    },
    /// `[0, 1]` as is.
    UnitRange,
}

impl Normalization {
    /// torchvision's ImageNet statistics.
    pub const IMAGENET: Normalization = Normalization::Fixed {
        mean: [0.485, 0.456, 0.406],
        std: [0.229, 0.224, 0.225],
    };
}

/// What the model takes.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Side of the square input, in pixels.
    pub side: u32,
    /// 1 (grey) or 3 (grey replicated, for ImageNet weights).
    pub channels: usize,
    /// Normalisation after scaling to `[0, 1]`.
    pub normalization: Normalization,
}

impl InputSpec {
    /// Floats per image: `channels × side × side`.
    #[must_use]
    pub fn len(&self) -> usize {
        self.channels * (self.side as usize).pow(2)
    }

    /// Whether the input is empty (a zero side).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A stored image (`stored_side`², grey `u8`) as `[0, 1]` floats at `side`².
#[must_use]
pub fn to_unit_range(pixels: &[u8], stored_side: u32, side: u32) -> Vec<f32> {
    let resized;
    let pixels = if stored_side == side {
        pixels
    } else {
        resized = resize_grey(pixels.to_vec(), stored_side, stored_side, side).pixels;
        &resized[..]
    };
    pixels.iter().map(|p| f32::from(*p) / 255.0).collect()
}

/// Normalises a `[0, 1]` grey image and lays it out as `channels × side × side` (CHW).
#[must_use]
pub fn normalize(mut grey: Vec<f32>, input: &InputSpec) -> Vec<f32> {
    match input.normalization {
        Normalization::Samplewise => {
            let n = grey.len().max(1) as f32;
            let mean = grey.iter().sum::<f32>() / n;
            let var = grey.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
            // Keras adds 1e-6 to the standard deviation; a flat image stays finite.
            let std = var.sqrt() + 1e-6;
            grey.iter_mut().for_each(|v| *v = (*v - mean) / std);
            replicate(grey, input.channels)
        }
        Normalization::UnitRange => replicate(grey, input.channels),
        Normalization::Fixed { mean, std } => {
            let plane = grey.len();
            let mut out = Vec::with_capacity(plane * input.channels);
            for c in 0..input.channels {
                out.extend(grey.iter().map(|v| (v - mean[c]) / std[c]));
            }
            out
        }
    }
}

/// [`normalize`] for a whole batch on its device: `[B, 1, S, S]` grey in `[0, 1]` to
/// `[B, channels, S, S]`, the same formulas in the same order (used when augmentation runs on
/// the GPU, so that the batch never comes back to the CPU).
#[must_use]
pub fn normalize_batch(grey: Tensor<4>, input: &InputSpec) -> Tensor<4> {
    let [batch, _, height, width] = grey.dims();
    let channels = input.channels;
    match input.normalization {
        Normalization::Samplewise => {
            let flat = grey.reshape([batch, height * width]);
            let (var, mean) = flat.clone().var_mean_bias(1);
            // Keras adds 1e-6 to the standard deviation; a flat image stays finite.
            let std = var.sqrt() + 1e-6;
            let shape = [batch, height * width];
            let normalized = (flat - mean.expand(shape)) / std.expand(shape);
            normalized
                .reshape([batch, 1, height, width])
                .expand([batch, channels, height, width])
        }
        Normalization::UnitRange => grey.expand([batch, channels, height, width]),
        Normalization::Fixed { mean, std } => {
            let device = grey.device();
            let per_channel = |values: [f32; 3]| {
                let used = channels.min(3);
                Tensor::<1>::from_data(TensorData::new(values[..used].to_vec(), [used]), &device)
                    .reshape([1, used, 1, 1])
                    .expand([batch, channels, height, width])
            };
            (grey.expand([batch, channels, height, width]) - per_channel(mean)) / per_channel(std)
        }
    }
}

fn replicate(grey: Vec<f32>, channels: usize) -> Vec<f32> {
    if channels == 1 {
        return grey;
    }
    let mut out = Vec::with_capacity(grey.len() * channels);
    for _ in 0..channels {
        out.extend_from_slice(&grey);
    }
    out
}

/// The model's input for one stored image, without augmentation: [`to_unit_range`] then
/// [`normalize`].
#[must_use]
pub fn preprocess(pixels: &[u8], stored_side: u32, input: &InputSpec) -> Vec<f32> {
    normalize(to_unit_range(pixels, stored_side, input.side), input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samplewise_gives_zero_mean_unit_std() {
        let pixels: Vec<u8> = (0..64).map(|i| (i * 3) as u8).collect();
        let input = InputSpec {
            side: 8,
            channels: 1,
            normalization: Normalization::Samplewise,
        };
        let x = preprocess(&pixels, 8, &input);
        let mean = x.iter().sum::<f32>() / 64.0;
        let std = (x.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 64.0).sqrt();
        assert!(
            mean.abs() < 1e-5 && (std - 1.0).abs() < 1e-4,
            "{mean} {std}"
        );
    }

    #[test]
    fn imagenet_normalisation_replicates_grey_per_channel_formula() {
        let pixels = [0u8, 255, 128, 64];
        let input = InputSpec {
            side: 2,
            channels: 3,
            normalization: Normalization::IMAGENET,
        };
        let x = preprocess(&pixels, 2, &input);
        assert_eq!(x.len(), 12);
        // torchvision: (v / 255 - mean[c]) / std[c], channel-major.
        let mean = [0.485, 0.456, 0.406];
        let std = [0.229, 0.224, 0.225];
        for c in 0..3 {
            for (i, p) in pixels.iter().enumerate() {
                let expected = (f32::from(*p) / 255.0 - mean[c]) / std[c];
                assert!((x[c * 4 + i] - expected).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn the_batch_twin_matches_normalize_image_by_image() {
        let device = crate::backend::cpu_device();
        let side = 6u32;
        let images: Vec<Vec<f32>> = (0..3)
            .map(|k| {
                (0..36)
                    .map(|i| ((i * (k + 3) + k * 11) % 37) as f32 / 37.0)
                    .collect()
            })
            .collect();
        for (channels, normalization) in [
            (1, Normalization::Samplewise),
            (3, Normalization::Samplewise),
            (1, Normalization::UnitRange),
            (3, Normalization::IMAGENET),
            (1, Normalization::IMAGENET),
        ] {
            let input = InputSpec {
                side,
                channels,
                normalization,
            };
            let want: Vec<f32> = images
                .iter()
                .flat_map(|g| normalize(g.clone(), &input))
                .collect();
            let batch =
                Tensor::<4>::from_data(TensorData::new(images.concat(), [3, 1, 6, 6]), &device);
            let got = normalize_batch(batch, &input)
                .into_data()
                .try_to_vec::<f32>()
                .expect("f32");
            assert_eq!(got.len(), want.len(), "{normalization:?} × {channels}");
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() < 1e-5,
                    "{normalization:?} × {channels}: {g} vs {w}"
                );
            }
        }
    }

    #[test]
    fn resizes_to_the_input_side() {
        let pixels = vec![200u8; 16 * 16];
        let input = InputSpec {
            side: 8,
            channels: 1,
            normalization: Normalization::UnitRange,
        };
        let x = preprocess(&pixels, 16, &input);
        assert_eq!(x.len(), 64);
        assert!(x.iter().all(|v| (v - 200.0 / 255.0).abs() < 1e-6));
    }
}
