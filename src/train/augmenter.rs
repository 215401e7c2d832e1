//! What training does to each image between [`to_unit_range`](super::preprocess::to_unit_range)
//! and [`normalize`](super::preprocess::normalize): augmentation, drawn from the run's seeded
//! generator. Evaluation and inference skip it.

use burn::tensor::{Device, Tensor};

use crate::augment::gpu::{GpuAugmentError, augment_batch};
use crate::augment::plane::GREY_MAX;
use crate::augment::{AugmentSpec, Plane, augment_image, sample};
use crate::backend::runs_on_cpu;
use crate::rng::SplitMix64;

/// An augmentation of grey `[0, 1]` images of `side`²: one at a time on the CPU, or, where
/// [`on_device`](Augmenter::on_device) says so, a whole batch on its device.
pub trait Augmenter {
    /// The augmented image (same size).
    fn augment(&self, grey: Vec<f32>, side: u32, rng: &mut SplitMix64) -> Vec<f32>;

    /// Whether the trainer should hand whole batches to
    /// [`augment_batch`](Augmenter::augment_batch) instead of calling
    /// [`augment`](Augmenter::augment) per image.
    fn on_device(&self) -> bool {
        false
    }

    /// The augmented batch, `[B, 1, S, S]` in `[0, 1]`, on the batch's device, drawing from
    /// `rng` exactly as [`augment`](Augmenter::augment) would image by image. Only called when
    /// [`on_device`](Augmenter::on_device) is true; the default leaves the batch as it is.
    ///
    /// # Errors
    /// [`GpuAugmentError`] when the tensor path cannot do what the spec asks.
    fn augment_batch(
        &self,
        grey: Tensor<4>,
        _rng: &mut SplitMix64,
    ) -> Result<Tensor<4>, GpuAugmentError> {
        Ok(grey)
    }
}

/// The augmenter for `spec` on `device`: whole batches with burn tensor ops on a GPU (the
/// per-pixel work stays on the device, and off the single thread that drives WebGPU in the
/// page's worker), image by image in plain Rust on the CPU, where it is several times faster
/// than tensor ops on `flex` (see `examples/augment_bench.rs`). Specs with CLAHE or blur, which
/// only the CPU path has, stay on the CPU.
#[must_use]
pub fn augmenter_for(spec: AugmentSpec, device: &Device) -> Box<dyn Augmenter> {
    let cpu = SpecAugmenter { spec };
    if runs_on_cpu(device) || !cpu.device_capable() {
        Box::new(cpu)
    } else {
        Box::new(DeviceAugmenter(cpu))
    }
}

/// No augmentation: the image as it is (the article's "none").
pub struct NoAugmentation;

impl Augmenter for NoAugmentation {
    fn augment(&self, grey: Vec<f32>, _side: u32, _rng: &mut SplitMix64) -> Vec<f32> {
        grey
    }
}

/// An [`AugmentSpec`] applied on the CPU by the augment module's reference path
/// ([`sample`] then [`augment_image`]), the one checked against Keras.
///
/// Only the geometric and intensity part of the spec runs here. Its normalisation flags are
/// not applied, because [`normalize`](super::preprocess::normalize) is the one place that
/// normalises, for training, evaluation and inference alike; applying them here too would
/// normalise twice during training and not at all at test time. The spec's flags map onto
/// [`InputSpec::normalization`](super::preprocess::InputSpec::normalization) instead (see
/// [`SpecAugmenter::normalization`]): `samplewise_center`/`samplewise_std_normalization` are
/// [`Normalization::Samplewise`](super::preprocess::Normalization::Samplewise), and `rescale`
/// (`1/255` in Keras scripts) is what [`to_unit_range`](super::preprocess::to_unit_range)
/// already does when it maps `u8` levels to `[0, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SpecAugmenter {
    /// What to do to each image.
    pub spec: AugmentSpec,
}

impl SpecAugmenter {
    /// The normalisation the spec asks for, as the trainer's input takes it: samplewise when
    /// either samplewise flag is on (Keras turns centring on with the std flag), else `[0, 1]`
    /// as is. `None` for featurewise normalisation, which needs statistics over the training
    /// split that the trainer does not compute.
    #[must_use]
    pub fn normalization(&self) -> Option<super::preprocess::Normalization> {
        use super::preprocess::Normalization;
        if self.spec.featurewise_center || self.spec.featurewise_std_normalization {
            None
        } else if self.spec.samplewise_center || self.spec.samplewise_std_normalization {
            Some(Normalization::Samplewise)
        } else {
            Some(Normalization::UnitRange)
        }
    }
}

impl SpecAugmenter {
    /// Whether the tensor path ([`augment_batch`]) can do every step of the spec: all but CLAHE
    /// and Gaussian blur.
    #[must_use]
    pub fn device_capable(&self) -> bool {
        self.spec.clahe.is_none() && self.spec.blur.is_none()
    }
}

impl Augmenter for SpecAugmenter {
    fn augment(&self, grey: Vec<f32>, side: u32, rng: &mut SplitMix64) -> Vec<f32> {
        let side = side as usize;
        // Keras augments grey levels 0–255 (`brightness_range` rescales to 0–255, the channel
        // shift and `cval` are in grey levels), so the `[0, 1]` image goes up to that range and
        // comes back down afterwards.
        let levels = grey.iter().map(|v| v * GREY_MAX).collect();
        let Some(plane) = Plane::new(side, side, levels) else {
            // Not `side`² pixels: a caller bug; leave the image as it is rather than panic in
            // the middle of an epoch.
            return grey;
        };
        let params = sample(&self.spec, side, side, rng);
        let out = augment_image(&self.spec, &params, &plane);
        out.pixels.into_iter().map(|v| v / GREY_MAX).collect()
    }
}

/// A [`SpecAugmenter`] whose batches are augmented on their device by the augment module's
/// tensor path ([`augment_batch`]), with the same parameters drawn in the same order as the CPU
/// path, so the two give the same images within the tensor path's stated tolerance.
pub struct DeviceAugmenter(pub SpecAugmenter);

impl Augmenter for DeviceAugmenter {
    fn augment(&self, grey: Vec<f32>, side: u32, rng: &mut SplitMix64) -> Vec<f32> {
        self.0.augment(grey, side, rng)
    }

    fn on_device(&self) -> bool {
        true
    }

    fn augment_batch(
        &self,
        grey: Tensor<4>,
        rng: &mut SplitMix64,
    ) -> Result<Tensor<4>, GpuAugmentError> {
        let [batch, _, height, width] = grey.dims();
        let params: Vec<_> = (0..batch)
            .map(|_| sample(&self.0.spec, height, width, rng))
            .collect();
        // Grey levels 0–255 on the way in and back, as in `SpecAugmenter::augment`.
        Ok(augment_batch(&self.0.spec, &params, grey * GREY_MAX)? / GREY_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIDE: u32 = 32;

    /// A smooth image with structure, in `[0, 1]`: a bright disc on a gradient.
    fn chest_like() -> Vec<f32> {
        let s = SIDE as usize;
        (0..s * s)
            .map(|i| {
                let (r, c) = ((i / s) as f32, (i % s) as f32);
                let d = ((r - 16.0).powi(2) + (c - 12.0).powi(2)).sqrt();
                let disc = if d < 8.0 { 0.5 } else { 0.0 };
                0.2 + 0.01 * c + disc
            })
            .collect()
    }

    fn mean(v: &[f32]) -> f32 {
        v.iter().sum::<f32>() / v.len() as f32
    }

    #[test]
    fn spec_none_leaves_the_image_unchanged() {
        let image = chest_like();
        let augmenter = SpecAugmenter {
            spec: AugmentSpec::none(),
        };
        let out = augmenter.augment(image.clone(), SIDE, &mut SplitMix64::new(1));
        assert_eq!(out.len(), image.len());
        for (a, b) in out.iter().zip(&image) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn rotation_changes_pixels_but_keeps_the_mean_and_range() {
        let image = chest_like();
        let augmenter = SpecAugmenter {
            spec: AugmentSpec {
                rotation_range: 20.0,
                ..AugmentSpec::none()
            },
        };
        let mut rng = SplitMix64::new(7);
        let out = augmenter.augment(image.clone(), SIDE, &mut rng);
        let changed = out
            .iter()
            .zip(&image)
            .filter(|(a, b)| (*a - *b).abs() > 1e-3)
            .count();
        assert!(changed > image.len() / 20, "{changed} pixels changed");
        // `nearest` fill and a small angle move pixels around without changing the levels much;
        // the result is back in `[0, 1]`, not in 0–255.
        assert!(
            (mean(&out) - mean(&image)).abs() < 0.03,
            "{} vs {}",
            mean(&out),
            mean(&image)
        );
        assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn the_same_seed_gives_the_same_output() {
        let augmenter = SpecAugmenter {
            spec: AugmentSpec::complex(),
        };
        let run = |seed| augmenter.augment(chest_like(), SIDE, &mut SplitMix64::new(seed));
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn batches_on_the_device_match_images_on_the_cpu() {
        use burn::tensor::TensorData;
        let device = crate::backend::cpu_device();
        let cpu = SpecAugmenter {
            spec: AugmentSpec::complex(),
        };
        let device_path = DeviceAugmenter(cpu.clone());
        assert!(device_path.on_device() && !cpu.on_device());
        let images: Vec<Vec<f32>> = (0..4)
            .map(|k| {
                chest_like()
                    .into_iter()
                    .map(|v| (v + k as f32 * 0.05).min(1.0))
                    .collect()
            })
            .collect();
        let mut rng = SplitMix64::new(9);
        let want: Vec<f32> = images
            .iter()
            .flat_map(|g| cpu.augment(g.clone(), SIDE, &mut rng))
            .collect();
        let s = SIDE as usize;
        let batch = Tensor::<4>::from_data(TensorData::new(images.concat(), [4, 1, s, s]), &device);
        let got = device_path
            .augment_batch(batch, &mut SplitMix64::new(9))
            .expect("no CPU-only steps")
            .into_data()
            .try_to_vec::<f32>()
            .expect("f32");
        let worst = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (g - w).abs())
            .fold(0.0f32, f32::max);
        // The tensor path's tolerance (1e-3 grey levels, see augment::gpu_tests) in [0, 1].
        assert!(worst < 1e-3 / GREY_MAX, "{worst}");
    }

    #[test]
    fn specs_with_cpu_only_steps_stay_on_the_cpu() {
        let mut spec = AugmentSpec::complex();
        assert!(SpecAugmenter { spec: spec.clone() }.device_capable());
        spec.blur = Some(crate::augment::spec::BlurSpec {
            sigma: [0.5, 1.0],
            probability: 0.5,
        });
        assert!(!SpecAugmenter { spec: spec.clone() }.device_capable());
        // On the CPU the per-image path is used whatever the spec.
        let device = crate::backend::cpu_device();
        assert!(!augmenter_for(AugmentSpec::complex(), &device).on_device());
    }

    #[test]
    fn normalisation_follows_the_spec_flags() {
        use crate::train::preprocess::Normalization;
        let of = |spec| SpecAugmenter { spec }.normalization();
        assert_eq!(of(AugmentSpec::none()), Some(Normalization::UnitRange));
        assert_eq!(of(AugmentSpec::basic()), Some(Normalization::Samplewise));
        assert_eq!(of(AugmentSpec::complex()), Some(Normalization::Samplewise));
        let featurewise = AugmentSpec {
            featurewise_center: true,
            ..AugmentSpec::none()
        };
        assert_eq!(of(featurewise), None);
    }
}
