//! [`augment_image`]: one image's whole augmentation on the CPU, in a fixed order, and
//! [`prepare_image`], which adds Keras's `standardize`.
//!
//! Order: crop (extra, first, so that the Keras transform acts on the cropped view; both in one
//! resampling) → Keras's `apply_transform` (affine, channel shift, horizontal flip, vertical
//! flip, brightness, in Keras's order) → gamma → contrast → CLAHE → blur → noise → erasing → `standardize`.
//! Keras's own steps run exactly as in Keras; the extras come after them and before
//! normalisation, on grey levels 0–255.

use super::affine::{affine_transform, apply_affine, crop_affine_transform, keras_matrix};
use super::blur::gaussian_blur;
use super::clahe::clahe;
use super::flip_crop::{crop_resize, flip_horizontal, flip_vertical};
use super::intensity::{channel_shift, contrast, gamma, keras_brightness};
use super::noise::{add_noise, erase};
use super::normalize::{FeaturewiseStats, StandardizeError, standardize_in_place};
use super::params::TransformParams;
use super::plane::Plane;
use super::spec::AugmentSpec;

/// Keras's `ImageDataGenerator.apply_transform(x, params)` for a grey image: what the golden
/// fixtures check.
#[must_use]
pub fn keras_apply_transform(spec: &AugmentSpec, params: &TransformParams, img: &Plane) -> Plane {
    let x = apply_affine(img, params, spec.fill_mode, spec.cval);
    after_affine(params, x)
}

/// The rest of Keras's `apply_transform` after the affine transform: channel shift, flips,
/// brightness, in Keras's order.
fn after_affine(params: &TransformParams, mut x: Plane) -> Plane {
    if let Some(intensity) = params.channel_shift_intensity {
        x = channel_shift(&x, intensity);
    }
    if params.flip_horizontal {
        x = flip_horizontal(&x);
    }
    if params.flip_vertical {
        x = flip_vertical(&x);
    }
    if let Some(factor) = params.brightness {
        x = keras_brightness(&x, factor);
    }
    x
}

/// The augmented image (grey levels, before `standardize`).
///
/// The crop and the Keras transform are one resampling ([`crop_affine_transform`]): the
/// transform reads the cropped image, resized, with Keras's border mode at its borders.
#[must_use]
pub fn augment_image(spec: &AugmentSpec, params: &TransformParams, img: &Plane) -> Plane {
    let matrix = keras_matrix(params, img.height, img.width);
    let resampled = match (&params.crop, &matrix) {
        (None, None) => img.clone(),
        (Some(window), None) => crop_resize(img, window),
        (None, Some(m)) => affine_transform(img, m, spec.fill_mode, spec.cval),
        (Some(window), Some(m)) => crop_affine_transform(img, window, m, spec.fill_mode, spec.cval),
    };
    let mut x = after_affine(params, resampled);
    if let Some(g) = params.gamma {
        x = gamma(&x, g);
    }
    if let Some(c) = params.contrast {
        x = contrast(&x, c);
    }
    if let Some(c) = spec.clahe.as_ref().filter(|_| params.clahe) {
        x = clahe(&x, c.clip_limit, c.tile_grid);
    }
    if let Some(sigma) = params.blur_sigma {
        x = gaussian_blur(&x, sigma);
    }
    if let Some(noise) = &params.noise {
        x = add_noise(&x, noise);
    }
    if let (Some(rect), Some(e)) = (&params.erase, &spec.erasing) {
        x = erase(&x, rect, e.value as f32);
    }
    x
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
    let mut x = augment_image(spec, params, img);
    standardize_in_place(spec, stats, &mut x)?;
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
