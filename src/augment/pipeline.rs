//! [`augment_image`]: one image's whole augmentation on the CPU, in a fixed order, and
//! [`prepare_image`], which adds Keras's `standardize`.
//!
//! Order: crop (extra, first, so that the Keras transform acts on the cropped view; both in one
//! resampling) → Keras's `apply_transform` (affine, channel shift, horizontal flip, vertical
//! flip, brightness, in Keras's order) → gamma → contrast → CLAHE → blur → noise → erasing → `standardize`.
//! Keras's own steps run exactly as in Keras; the extras come after them and before
//! normalisation, on grey levels 0–255.

use super::affine::{
    affine_transform_with_sums, apply_affine, crop_affine_transform_with_sums, keras_matrix,
};
use super::blur::gaussian_blur;
use super::clahe::clahe;
use super::flip_crop::{crop_resize, flip_horizontal, flip_vertical};
use super::intensity::{channel_shift, contrast, gamma, keras_brightness};
use super::noise::{add_noise, erase};
use super::normalize::{FeaturewiseStats, MomentSums, StandardizeError, standardize_in_place};
use super::params::TransformParams;
use super::plane::Plane;
use super::spec::AugmentSpec;

/// Keras's `ImageDataGenerator.apply_transform(x, params)` for a grey image: what the golden
/// fixtures check.
#[must_use]
pub fn keras_apply_transform(spec: &AugmentSpec, params: &TransformParams, img: &Plane) -> Plane {
    let x = apply_affine(img, params, spec.fill_mode, spec.cval);
    after_affine(params, x, &mut None)
}

/// The rest of Keras's `apply_transform` after the affine transform: channel shift, flips,
/// brightness, in Keras's order. `sums` (of the pixel values) is cleared by a step that
/// changes values; flips only move them.
fn after_affine(params: &TransformParams, mut x: Plane, sums: &mut Option<MomentSums>) -> Plane {
    if let Some(intensity) = params.channel_shift_intensity {
        x = channel_shift(&x, intensity);
        *sums = None;
    }
    if params.flip_horizontal {
        x = flip_horizontal(&x);
    }
    if params.flip_vertical {
        x = flip_vertical(&x);
    }
    if let Some(factor) = params.brightness {
        x = keras_brightness(&x, factor);
        *sums = None;
    }
    x
}

/// The augmented image (grey levels, before `standardize`).
///
/// The crop and the Keras transform are one resampling
/// ([`crop_affine_transform`](super::affine::crop_affine_transform)): the
/// transform reads the cropped image, resized, with Keras's border mode at its borders.
#[must_use]
pub fn augment_image(spec: &AugmentSpec, params: &TransformParams, img: &Plane) -> Plane {
    augment_with_sums(spec, params, img).0
}

/// [`augment_image`], and the sums of its pixel values when the resampling gathered them and no
/// later step changed a value (so `standardize` needs no pass of its own).
fn augment_with_sums(
    spec: &AugmentSpec,
    params: &TransformParams,
    img: &Plane,
) -> (Plane, Option<MomentSums>) {
    let matrix = keras_matrix(params, img.height, img.width);
    let (resampled, mut sums) = match (&params.crop, &matrix) {
        (None, None) => (img.clone(), None),
        (Some(window), None) => (crop_resize(img, window), None),
        (None, Some(m)) => affine_transform_with_sums(img, m, spec.fill_mode, spec.cval),
        (Some(window), Some(m)) => {
            crop_affine_transform_with_sums(img, window, m, spec.fill_mode, spec.cval)
        }
    };
    let mut x = after_affine(params, resampled, &mut sums);
    if let Some(g) = params.gamma {
        x = gamma(&x, g);
        sums = None;
    }
    if let Some(c) = params.contrast {
        x = contrast(&x, c);
        sums = None;
    }
    if let Some(c) = spec.clahe.as_ref().filter(|_| params.clahe) {
        x = clahe(&x, c.clip_limit, c.tile_grid);
        sums = None;
    }
    if let Some(sigma) = params.blur_sigma {
        x = gaussian_blur(&x, sigma);
        sums = None;
    }
    if let Some(noise) = &params.noise {
        x = add_noise(&x, noise);
        sums = None;
    }
    if let (Some(rect), Some(e)) = (&params.erase, &spec.erasing) {
        x = erase(&x, rect, e.value as f32);
        sums = None;
    }
    (x, sums)
}

/// The image as the model gets it: [`augment_image`], then Keras's `standardize`.
///
/// # Errors
/// [`StandardizeError::FeaturewiseNotFitted`] if featurewise normalisation is on without stats.
pub fn prepare_image(
    spec: &AugmentSpec,
    params: &TransformParams,
    stats: Option<&FeaturewiseStats>,
    img: &Plane,
) -> Result<Plane, StandardizeError> {
    let (mut x, sums) = augment_with_sums(spec, params, img);
    standardize_in_place(spec, stats, &mut x, sums.as_ref())?;
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::params::sample;
    use crate::rng::SplitMix64;

    fn chest_like() -> Plane {
        let pixels = (0..32 * 32).map(|i| (40 + (i * 7) % 180) as f32).collect();
        Plane::new(32, 32, pixels).expect("sized")
    }

    #[test]
    fn preset_none_is_the_identity() {
        let img = chest_like();
        let mut rng = SplitMix64::new(0);
        let params = sample(&AugmentSpec::none(), 32, 32, &mut rng);
        assert_eq!(augment_image(&AugmentSpec::none(), &params, &img), img);
    }

    #[test]
    fn complex_preset_runs_and_standardises() {
        let img = chest_like();
        let spec = AugmentSpec::complex();
        let mut rng = SplitMix64::new(5);
        for _ in 0..5 {
            let params = sample(&spec, 32, 32, &mut rng);
            let out = prepare_image(&spec, &params, None, &img).expect("no featurewise");
            assert!(out.mean().abs() < 1e-4, "{}", out.mean());
            assert!((out.std() - 1.0).abs() < 1e-3, "{}", out.std());
        }
    }

    #[test]
    fn sums_gathered_while_resampling_standardise_as_a_separate_pass_does() {
        // A real-sized image through the fast path, with and without value-changing steps.
        let pixels = (0..64 * 80)
            .map(|i| 30.0 + ((i * 37) % 200) as f32 + (i / 80) as f32)
            .collect();
        let img = Plane::new(64, 80, pixels).expect("sized");
        let complex = AugmentSpec::complex();
        let bright = AugmentSpec {
            brightness_range: Some([0.7, 1.3]),
            vertical_flip: true,
            ..AugmentSpec::complex()
        };
        let mut rng = SplitMix64::new(11);
        for spec in [&complex, &bright] {
            for _ in 0..4 {
                let params = sample(spec, 64, 80, &mut rng);
                let fused = prepare_image(spec, &params, None, &img).expect("no featurewise");
                let separate =
                    crate::augment::standardize(spec, None, &augment_image(spec, &params, &img))
                        .expect("no featurewise");
                let worst = fused
                    .pixels
                    .iter()
                    .zip(&separate.pixels)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                assert!(worst < 1e-5, "{worst}");
            }
        }
    }

    #[test]
    fn flip_then_brightness_order_is_kerass() {
        // A horizontal and vertical flip together are a 180° turn of the pixel grid.
        let img = chest_like();
        let params = TransformParams {
            flip_horizontal: true,
            flip_vertical: true,
            ..TransformParams::default()
        };
        let out = keras_apply_transform(&AugmentSpec::default(), &params, &img);
        let mut reversed = img.pixels.clone();
        reversed.reverse();
        assert_eq!(out.pixels, reversed);
    }
}
