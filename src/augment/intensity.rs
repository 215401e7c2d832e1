//! Grey-level changes that look at one pixel at a time: Keras's channel shift and brightness,
//! and the gamma and contrast extras.
//!
//! Keras's brightness goes through PIL, and we follow it step by step because its result is not
//! `x · factor`: `array_to_img` first min–max scales the image to 0–255 and truncates it to
//! `u8`, then `ImageEnhance.Brightness` blends with black in 32-bit float and truncates again.
//! So a brightness shift in Keras also stretches the image to the full grey range.

use super::plane::{GREY_MAX, Plane};

/// Keras `apply_channel_shift`: adds `intensity` (in `float32`, as numpy does with a Python
/// float) and clips to the image's own min and max.
#[must_use]
pub fn channel_shift(src: &Plane, intensity: f64) -> Plane {
    let (lo, hi) = src.min_max();
    let shift = intensity as f32;
    map(src, |p| (p + shift).clamp(lo, hi))
}

/// Keras `apply_brightness_shift(x, brightness)` for a grey image: min–max to 0–255 in
/// `float32`, truncate to `u8`, PIL's `Image.blend(black, image, factor)`, back to `f32`.
#[must_use]
pub fn keras_brightness(src: &Plane, factor: f64) -> Plane {
    let (lo, _) = src.min_max();
    let shifted: Vec<f32> = src.pixels.iter().map(|&p| p - lo).collect();
    let top = shifted.iter().copied().fold(0.0f32, f32::max);
    // PIL takes the factor as a C float.
    let alpha = factor as f32;
    let pixels = shifted
        .into_iter()
        .map(|p| {
            let scaled = if top == 0.0 { p } else { p / top } * GREY_MAX;
            // numpy's astype(uint8) truncates towards zero.
            let grey = scaled.clamp(0.0, GREY_MAX).trunc();
            // PIL Blend.c: `in1 + alpha * (in2 - in1)` with in1 = 0, clipped, truncated.
            (alpha * grey).clamp(0.0, GREY_MAX).trunc()
        })
        .collect();
    Plane { pixels, ..*src }
}

/// Gamma: `255 · (x / 255)^γ` on grey levels clipped to 0–255 first (γ < 1 brightens).
#[must_use]
pub fn gamma(src: &Plane, gamma: f64) -> Plane {
    map(src, |p| {
        let unit = f64::from(p.clamp(0.0, GREY_MAX)) / f64::from(GREY_MAX);
        (unit.powf(gamma) * f64::from(GREY_MAX)) as f32
    })
}

/// Contrast (PIL `ImageEnhance.Contrast`'s formula without its `u8` rounding):
/// `mean + factor · (x − mean)`, clipped to 0–255.
#[must_use]
pub fn contrast(src: &Plane, factor: f64) -> Plane {
    let mean = src.mean();
    map(src, |p| {
        (mean + factor * (f64::from(p) - mean)).clamp(0.0, f64::from(GREY_MAX)) as f32
    })
}

fn map(src: &Plane, f: impl Fn(f32) -> f32) -> Plane {
    Plane {
        pixels: src.pixels.iter().map(|&p| f(p)).collect(),
        ..*src
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(pixels: &[f32]) -> Plane {
        Plane::new(1, pixels.len(), pixels.to_vec()).expect("sized")
    }

    #[test]
    fn channel_shift_clips_to_the_image_range() {
        let out = channel_shift(&plane(&[10.0, 20.0, 30.0]), 15.0);
        assert_eq!(out.pixels, [25.0, 30.0, 30.0]);
    }

    #[test]
    fn gamma_follows_the_power_law() {
        let out = gamma(&plane(&[0.0, 63.75, 127.5, 255.0]), 2.0);
        // (1/4)² · 255 = 15.9375, (1/2)² · 255 = 63.75.
        assert_eq!(out.pixels, [0.0, 15.9375, 63.75, 255.0]);
        let sqrt = gamma(&plane(&[63.75]), 0.5);
        assert!((sqrt.pixels[0] - 127.5).abs() < 1e-4);
    }

    #[test]
    fn contrast_scales_deviations_from_the_mean() {
        // Mean 100: deviations -50, 0, 50 doubled, then clipped at 0 and 255.
        let out = contrast(&plane(&[50.0, 100.0, 150.0]), 2.0);
        assert_eq!(out.pixels, [0.0, 100.0, 200.0]);
        let flat = contrast(&plane(&[50.0, 100.0, 150.0]), 0.0);
        assert_eq!(flat.pixels, [100.0, 100.0, 100.0]);
    }

    #[test]
    fn brightness_stretches_then_scales_and_truncates() {
        // 10..=60 stretches to 0, 127.5 → 127, 255; ×0.5 → 0, 63.5 → 63, 127.5 → 127.
        let out = keras_brightness(&plane(&[10.0, 35.0, 60.0]), 0.5);
        assert_eq!(out.pixels, [0.0, 63.0, 127.0]);
        let bright = keras_brightness(&plane(&[0.0, 200.0, 255.0]), 1.5);
        assert_eq!(bright.pixels, [0.0, 255.0, 255.0]);
    }
}
