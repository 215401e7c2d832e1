//! Flips (Keras's `flip_axis`) and the random crop, resized back to full size.
//!
//! Both only move pixels: flips exactly, the crop through the same bilinear sampler as the
//! affine transform (`nearest` borders; the window lies inside the image, so the border only
//! matters within half a pixel of its edge).

use super::affine::sample_bilinear;
use super::params::CropWindow;
use super::plane::Plane;
use super::spec::FillMode;

/// Mirrors left–right (Keras `flip_horizontal`, `flip_axis(x, col_axis)`).
#[must_use]
pub fn flip_horizontal(src: &Plane) -> Plane {
    let mut out = src.clone();
    for row in out.pixels.chunks_exact_mut(src.width.max(1)) {
        row.reverse();
    }
    out
}

/// Mirrors top–bottom (Keras `flip_vertical`, `flip_axis(x, row_axis)`).
#[must_use]
pub fn flip_vertical(src: &Plane) -> Plane {
    let pixels = src
        .pixels
        .chunks_exact(src.width.max(1))
        .rev()
        .flatten()
        .copied()
        .collect();
    Plane { pixels, ..*src }
}

/// The window resized to the full `height` × `width` with pixel centres aligned (output pixel
/// centre `(r + ½)` maps to `top + (r + ½) · window / height`, as torchvision's resize with
/// `align_corners=False`).
#[must_use]
pub fn crop_resize(src: &Plane, window: &CropWindow) -> Plane {
    let row_step = window.height / src.height as f64;
    let col_step = window.width / src.width as f64;
    let mut pixels = Vec::with_capacity(src.pixels.len());
    for r in 0..src.height {
        let row = window.top + (r as f64 + 0.5) * row_step - 0.5;
        for c in 0..src.width {
            let col = window.left + (c as f64 + 0.5) * col_step - 0.5;
            pixels.push(sample_bilinear(src, row, col, FillMode::Nearest, 0.0) as f32);
        }
    }
    Plane { pixels, ..*src }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp() -> Plane {
        Plane::new(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).expect("sized")
    }

    #[test]
    fn flips_mirror_the_right_axis() {
        assert_eq!(
            flip_horizontal(&ramp()).pixels,
            [3.0, 2.0, 1.0, 6.0, 5.0, 4.0]
        );
        assert_eq!(
            flip_vertical(&ramp()).pixels,
            [4.0, 5.0, 6.0, 1.0, 2.0, 3.0]
        );
    }

    #[test]
    fn full_window_is_the_identity_and_half_window_magnifies() {
        let src = ramp();
        let full = CropWindow {
            top: 0.0,
            left: 0.0,
            height: 2.0,
            width: 3.0,
        };
        assert_eq!(crop_resize(&src, &full), src);
        // A 4×4 image whose value is its column; the left half, stretched ×2, reads columns
        // (c + ½)/2 − ½ = -0.25, 0.25, 0.75, 1.25 (nearest border: 0 below 0).
        let cols = Plane::new(4, 4, (0..16).map(|i| (i % 4) as f32).collect()).expect("sized");
        let half = CropWindow {
            top: 0.0,
            left: 0.0,
            height: 4.0,
            width: 2.0,
        };
        let out = crop_resize(&cols, &half);
        assert_eq!(&out.pixels[..4], &[0.0, 0.25, 0.75, 1.25]);
    }
}
