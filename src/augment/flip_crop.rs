//! Flips (Keras's `flip_axis`) and the random crop, resized back to full size.
//!
//! Both only move pixels: flips exactly, the crop by bilinear sampling with `nearest` borders
//! (the window lies inside the image, so the border only matters within half a pixel of its
//! edge).

use super::params::CropWindow;
use super::plane::Plane;

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
///
/// The window is axis-aligned, so each output row blends the same two source rows and each
/// output column the same two source columns: the taps are worked out once per row and per
/// column, each output row's two source rows are blended once into a scratch row, and the
/// columns are then read from it, in `f32` (within 1e-4 grey levels of the per-pixel `f64`
/// sampler).
#[must_use]
pub fn crop_resize(src: &Plane, window: &CropWindow) -> Plane {
    let rows = axis_taps(window.top, window.height / src.height as f64, src.height);
    let cols = axis_taps(window.left, window.width / src.width as f64, src.width);
    let mut blended = vec![0.0f32; src.width];
    let mut pixels = Vec::with_capacity(src.pixels.len());
    for &(r0, r1, row_fraction) in &rows {
        let (top, bottom) = (src.row(r0), src.row(r1));
        for ((b, &t), &u) in blended.iter_mut().zip(top).zip(bottom) {
            *b = t + (u - t) * row_fraction;
        }
        pixels.extend(cols.iter().map(|&(c0, c1, col_fraction)| {
            let (left, right) = (blended[c0], blended[c1]);
            left + (right - left) * col_fraction
        }));
    }
    Plane { pixels, ..*src }
}

/// For each of `len` output positions `i`, the two input taps around `start + (i + ½)·step − ½`
/// and the weight of the second, with `nearest` borders (clamped to `[0, len − 1]`).
fn axis_taps(start: f64, step: f64, len: usize) -> Vec<(usize, usize, f32)> {
    let last = len.saturating_sub(1);
    (0..len)
        .map(|i| {
            let x = start + (i as f64 + 0.5) * step - 0.5;
            if !x.is_finite() {
                return (0, 0, 0.0);
            }
            let x = x.clamp(0.0, last as f64);
            let first = (x.floor() as usize).min(last);
            (first, (first + 1).min(last), (x - first as f64) as f32)
        })
        .collect()
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
