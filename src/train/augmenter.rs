//! What training does to each image between [`to_unit_range`](super::preprocess::to_unit_range)
//! and [`normalize`](super::preprocess::normalize): augmentation, drawn from the run's seeded
//! generator. Evaluation and inference skip it.

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
