//! What training does to each image between [`to_unit_range`](super::preprocess::to_unit_range)
//! and [`normalize`](super::preprocess::normalize): augmentation, drawn from the run's seeded
//! generator. Evaluation and inference skip it.

use crate::augment::plane::GREY_MAX;
use crate::augment::{AugmentSpec, Plane, augment_image, sample};
use crate::rng::SplitMix64;

/// An augmentation of one grey `[0, 1]` image of `side`².
pub trait Augmenter {
    /// The augmented image (same size).
    fn augment(&self, grey: Vec<f32>, side: u32, rng: &mut SplitMix64) -> Vec<f32>;
}

/// No augmentation: the image as it is (the article's "none").
pub struct NoAugmentation;

impl Augmenter for NoAugmentation {
    fn augment(&self, grey: Vec<f32>, _side: u32, _rng: &mut SplitMix64) -> Vec<f32> {
        grey
    }
}

/// The CPU augmentation path of an [`AugmentSpec`]: each image gets its own parameters from the
/// run's generator ([`sample`]) and [`augment_image`] (Keras's transform, then the X-ray extras).
///
/// Keras works on 0–255 grey levels, so the `[0, 1]` image is scaled up and back. The spec's
/// standardisation flags (`samplewise_center`, `samplewise_std_normalization`, `rescale`) are not
/// applied here: normalisation is [`InputSpec::normalization`](super::preprocess::InputSpec),
/// the same in training and inference, so a model never sees an image prepared differently.
pub struct SpecAugmenter {
    spec: AugmentSpec,
}

impl SpecAugmenter {
    /// The augmenter of `spec`.
    #[must_use]
    pub fn new(spec: AugmentSpec) -> Self {
        SpecAugmenter { spec }
    }
}

impl Augmenter for SpecAugmenter {
    fn augment(&self, grey: Vec<f32>, side: u32, rng: &mut SplitMix64) -> Vec<f32> {
        let side = side as usize;
        let params = sample(&self.spec, side, side, rng);
        let pixels = grey.iter().map(|v| v * GREY_MAX).collect();
        let Some(plane) = Plane::new(side, side, pixels) else {
            // Not side × side: a caller bug; the image goes through unchanged.
            return grey;
        };
        augment_image(&self.spec, &params, &plane)
            .pixels
            .into_iter()
            .map(|v| v / GREY_MAX)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(side: usize) -> Vec<f32> {
        (0..side * side)
            .map(|i| (i % side) as f32 / side as f32)
            .collect()
    }

    #[test]
    fn the_none_preset_leaves_the_image_alone() {
        let image = gradient(16);
        let mut rng = SplitMix64::new(1);
        let out = SpecAugmenter::new(AugmentSpec::none()).augment(image.clone(), 16, &mut rng);
        for (a, b) in out.iter().zip(&image) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn a_rotation_changes_the_image_the_same_way_for_a_seed() {
        let spec = AugmentSpec {
            rotation_range: 20.0,
            fill_mode: crate::augment::FillMode::Nearest,
            ..AugmentSpec::none()
        };
        let augmenter = SpecAugmenter::new(spec);
        let image = gradient(32);
        let a = augmenter.augment(image.clone(), 32, &mut SplitMix64::new(7));
        let b = augmenter.augment(image.clone(), 32, &mut SplitMix64::new(7));
        assert_eq!(a, b);
        let changed = a
            .iter()
            .zip(&image)
            .filter(|(x, y)| (*x - *y).abs() > 1e-3)
            .count();
        assert!(changed > 100, "{changed} pixels changed");
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        assert!((mean(&a) - mean(&image)).abs() < 0.05);
    }
}
