//! [`Plane`]: one grey image as `f32`, row by row, the unit every augmentation step works on.
//!
//! Grey levels stay in the 0–255 range of the stored `u8` pixels (see `data::store`) until
//! `normalize` rescales them, as in Keras, where augmentation runs on the loaded array before
//! `standardize`.

/// The top of the grey range that augmentation works in (a `u8` pixel's maximum).
pub const GREY_MAX: f32 = 255.0;

/// A grey image: `height` rows of `width` pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct Plane {
    /// Rows.
    pub height: usize,
    /// Pixels per row.
    pub width: usize,
    /// `height * width` grey levels, row by row.
    pub pixels: Vec<f32>,
}

impl Plane {
    /// A plane from its pixels; `None` if there are not `height * width` of them.
    #[must_use]
    pub fn new(height: usize, width: usize, pixels: Vec<f32>) -> Option<Self> {
        (pixels.len() == height * width).then_some(Plane {
            height,
            width,
            pixels,
        })
    }

    /// A plane from stored `u8` grey pixels; `None` if there are not `height * width`.
    #[must_use]
    pub fn from_u8(height: usize, width: usize, pixels: &[u8]) -> Option<Self> {
        Plane::new(
            height,
            width,
            pixels.iter().map(|&p| f32::from(p)).collect(),
        )
    }

    /// The pixel at row `r`, column `c` (both in range).
    #[must_use]
    pub fn at(&self, r: usize, c: usize) -> f32 {
        self.pixels[r * self.width + c]
    }

    /// Row `r` (in range).
    #[must_use]
    pub fn row(&self, r: usize) -> &[f32] {
        &self.pixels[r * self.width..(r + 1) * self.width]
    }

    /// Mean grey level, in `f64` so that large images do not lose precision.
    #[must_use]
    pub fn mean(&self) -> f64 {
        self.pixels.iter().map(|&p| f64::from(p)).sum::<f64>() / self.pixels.len().max(1) as f64
    }

    /// Population standard deviation (numpy's `np.std`, `ddof=0`).
    #[must_use]
    pub fn std(&self) -> f64 {
        let mean = self.mean();
        let var = self
            .pixels
            .iter()
            .map(|&p| (f64::from(p) - mean).powi(2))
            .sum::<f64>()
            / self.pixels.len().max(1) as f64;
        var.sqrt()
    }

    /// The smallest and largest grey level (`(0, 0)` when empty).
    #[must_use]
    pub fn min_max(&self) -> (f32, f32) {
        if self.pixels.is_empty() {
            return (0.0, 0.0);
        }
        self.pixels
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &p| {
                (lo.min(p), hi.max(p))
            })
    }
}

/// A smooth, non-linear test image (grey levels 28–228), so that a resampler reading the wrong
/// taps shows.
#[cfg(test)]
pub(crate) fn wavy(height: usize, width: usize) -> Plane {
    let pixels = (0..height * width)
        .map(|i| {
            let (r, c) = ((i / width) as f32, (i % width) as f32);
            128.0 + 100.0 * (r * 0.31).sin() * (c * 0.17).cos()
        })
        .collect();
    Plane::new(height, width, pixels).expect("sized")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_match_hand_computation() {
        let plane = Plane::from_u8(2, 2, &[0, 2, 4, 6]).expect("4 pixels");
        assert_eq!(plane.at(1, 0), 4.0);
        assert_eq!(plane.mean(), 3.0);
        // Deviations -3, -1, 1, 3: variance 20 / 4 = 5.
        assert!((plane.std() - 5f64.sqrt()).abs() < 1e-12);
        assert_eq!(plane.min_max(), (0.0, 6.0));
        assert!(Plane::new(2, 3, vec![0.0; 5]).is_none());
    }
}
