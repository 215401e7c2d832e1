//! Gaussian blur, as scipy's `ndimage.gaussian_filter(sigma, truncate=4.0, mode='reflect')`:
//! a normalised, sampled Gaussian of radius `⌊4σ + ½⌋`, run along rows then columns.
//!
//! Why scipy's choices: they are what a Python reference pipeline would use, so a model trained
//! here and one trained there see the same blur.

use super::plane::Plane;

/// The 1-D kernel: `exp(−k² / 2σ²)` for `|k| ≤ ⌊4σ + ½⌋`, divided by its sum.
#[must_use]
pub fn gaussian_kernel(sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma + 0.5) as i64;
    let weights: Vec<f64> = (-radius..=radius)
        .map(|k| (-((k * k) as f64) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    weights.into_iter().map(|w| w / total).collect()
}

/// The image blurred with σ pixels (unchanged for σ ≤ 0).
#[must_use]
pub fn gaussian_blur(src: &Plane, sigma: f64) -> Plane {
    if sigma <= 0.0 || !sigma.is_finite() {
        return src.clone();
    }
    let kernel = gaussian_kernel(sigma);
    let (h, w) = (src.height, src.width);
    let mut rows = vec![0.0f64; h * w];
    for r in 0..h {
        for c in 0..w {
            rows[r * w + c] = convolve(&kernel, c, w, |i| f64::from(src.pixels[r * w + i]));
        }
    }
    let mut pixels = vec![0.0f32; h * w];
    for r in 0..h {
        for c in 0..w {
            pixels[r * w + c] = convolve(&kernel, r, h, |i| rows[i * w + c]) as f32;
        }
    }
    Plane { pixels, ..*src }
}

/// One output sample at `at` of a line of `len`, with half-sample symmetric borders.
fn convolve(kernel: &[f64], at: usize, len: usize, value: impl Fn(usize) -> f64) -> f64 {
    let radius = (kernel.len() / 2) as i64;
    let n = len as i64;
    kernel
        .iter()
        .enumerate()
        .map(|(k, w)| {
            let mut i = at as i64 + k as i64 - radius;
            // scipy 'reflect' (d c b a | a b c d | d c b a), period 2n.
            i = i.rem_euclid(2 * n);
            if i >= n {
                i = 2 * n - 1 - i;
            }
            w * value(i as usize)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blurred_impulse_sums_to_one_and_is_the_gaussian() {
        let (side, centre, sigma) = (41usize, 20usize, 2.0f64);
        let mut pixels = vec![0.0f32; side * side];
        pixels[centre * side + centre] = 1.0;
        let src = Plane::new(side, side, pixels).expect("sized");
        let out = gaussian_blur(&src, sigma);
        let total: f64 = out.pixels.iter().map(|&p| f64::from(p)).sum();
        assert!((total - 1.0).abs() < 1e-5, "{total}");
        // Radius 8 < 20: no border effect, so the output is the continuous 2-D Gaussian
        // exp(−d²/2σ²) / 2πσ² sampled (for σ = 2 the sampled sum equals √(2π)σ to ~1e-9, and
        // the 4σ truncation drops ~6e-5 of the mass, which the normalisation puts back).
        for (r, c) in [(20, 20), (20, 21), (22, 19), (25, 20), (14, 26)] {
            let d2 = (r as f64 - 20.0).powi(2) + (c as f64 - 20.0).powi(2);
            let want =
                (-d2 / (2.0 * sigma * sigma)).exp() / (std::f64::consts::TAU * sigma * sigma);
            let got = f64::from(out.at(r, c));
            assert!(
                (got - want).abs() < 2e-4 * want.max(1e-3),
                "({r}, {c}): {got} vs {want}"
            );
        }
        assert_eq!(out.at(20, 29), 0.0, "beyond the radius");
    }

    #[test]
    fn kernel_has_scipys_radius() {
        // scipy: lw = int(truncate * sd + 0.5) = int(4 · 1.5 + 0.5) = 6.
        assert_eq!(gaussian_kernel(1.5).len(), 13);
        assert_eq!(gaussian_kernel(0.5).len(), 5);
    }

    #[test]
    fn flat_image_stays_flat() {
        let src = Plane::new(5, 7, vec![80.0; 35]).expect("sized");
        let out = gaussian_blur(&src, 3.0);
        assert!(out.pixels.iter().all(|&p| (p - 80.0).abs() < 1e-3));
    }
}
