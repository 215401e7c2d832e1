//! Additive Gaussian noise and random erasing: the two extras that write new values into
//! pixels rather than move or remap them.
//!
//! Noise draws one normal number per pixel from a [`SplitMix64`] seeded by the image's
//! [`NoiseDraw`], so it is reproducible from the params alone.

use super::params::{EraseRect, NoiseDraw};
use super::plane::{GREY_MAX, Plane};
use crate::rng::SplitMix64;

/// Adds `std · N(0, 1)` to each pixel, row by row, clipped to 0–255.
#[must_use]
pub fn add_noise(src: &Plane, noise: &NoiseDraw) -> Plane {
    let mut rng = SplitMix64::new(noise.seed);
    let pixels = src
        .pixels
        .iter()
        .map(|&p| (f64::from(p) + noise.std * rng.normal()).clamp(0.0, f64::from(GREY_MAX)) as f32)
        .collect();
    Plane { pixels, ..*src }
}

/// Writes `value` into the rectangle (clipped to the image).
#[must_use]
pub fn erase(src: &Plane, rect: &EraseRect, value: f32) -> Plane {
    let mut out = src.clone();
    for r in rect.top..(rect.top + rect.height).min(src.height) {
        let row = r * src.width;
        let cols = rect.left.min(src.width)..(rect.left + rect.width).min(src.width);
        out.pixels[row + cols.start..row + cols.end].fill(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_has_the_requested_std_and_no_bias() {
        let src = Plane::new(100, 100, vec![128.0; 10_000]).expect("sized");
        let out = add_noise(&src, &NoiseDraw { std: 5.0, seed: 11 });
        // At 25σ from the clip limits the clipping is negligible; s.e. of the std ≈ 0.7 %.
        assert!((out.mean() - 128.0).abs() < 0.2, "{}", out.mean());
        assert!((out.std() - 5.0).abs() < 0.15, "{}", out.std());
        let again = add_noise(&src, &NoiseDraw { std: 5.0, seed: 11 });
        assert_eq!(out, again);
    }

    #[test]
    fn erase_fills_exactly_the_rectangle() {
        let src = Plane::new(4, 5, vec![1.0; 20]).expect("sized");
        let rect = EraseRect {
            top: 1,
            left: 2,
            height: 2,
            width: 3,
        };
        let out = erase(&src, &rect, 0.0);
        let zeros = out.pixels.iter().filter(|&&p| p == 0.0).count();
        assert_eq!(zeros, 6);
        assert_eq!(out.at(1, 2), 0.0);
        assert_eq!(out.at(2, 4), 0.0);
        assert_eq!(out.at(0, 2), 1.0);
        assert_eq!(out.at(1, 1), 1.0);
    }
}
