//! The affine transform's inner loop: bilinear samples of an image along one straight line of
//! input coordinates (one output row), fast.
//!
//! [`sample_bilinear`](super::affine::sample_bilinear) is scipy's sampler, border modes and
//! all, and costs ~20 ns per pixel here. Nearly every pixel of an augmentation lands well inside
//! the image, where no border mode changes anything, so a row is done in three passes that the
//! compiler can vectorise or keep branch-free:
//! 1. *locate*: every pixel's input coordinates in `f64` (exact enough that the result stays
//!    within 1e-4 grey levels of scipy's), clamped to the edge for `nearest`, split into the
//!    linear index of its top-left tap and the two fractions; pixels outside the image (where
//!    `constant`, `reflect` and `wrap` differ) are marked [`OUTSIDE`];
//! 2. *interpolate*: the four taps read through one bounds-checked window and blended in `f32`;
//! 3. the marked pixels, a band along the edges, go through `sample_bilinear`.
//!
//! The float-to-integer steps use the 2⁵² trick (adding 2⁵² puts an integer-valued `f64`'s
//! value in its low mantissa bits) because Rust's saturating `as` casts keep the loop scalar.

/// The index of a pixel that pass 3 handles.
pub const OUTSIDE: i32 = -1;

/// 2⁵²: adding it rounds an `f64` in `[0, 2⁵¹)` to an integer held in the mantissa bits.
const TWO_52: f64 = 4_503_599_627_370_496.0;

/// The bits of `TWO_52`, whose mantissa is zero.
const TWO_52_BITS: i64 = 0x4330_0000_0000_0000;

/// A straight line of input coordinates: pixel `c` of the output row reads
/// `(row.0 + c · row.1, col.0 + c · col.1)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    /// Row coordinate at pixel 0, and its change per pixel.
    pub row: (f64, f64),
    /// Column coordinate at pixel 0, and its change per pixel.
    pub col: (f64, f64),
}

/// Scratch space for one output row, reused from row to row.
#[derive(Clone, Debug, Default)]
pub struct LineSampler {
    /// `0, 1, 2, …` as `f64`, the pixel positions along the row.
    positions: Vec<f64>,
    /// Linear index of each pixel's top-left tap, or [`OUTSIDE`].
    index: Vec<i32>,
    /// Row fraction of each pixel (weight of the bottom taps).
    row_fraction: Vec<f32>,
    /// Column fraction of each pixel (weight of the right taps).
    col_fraction: Vec<f32>,
}

impl LineSampler {
    /// Scratch space for rows of `width` pixels.
    #[must_use]
    pub fn new(width: usize) -> Self {
        LineSampler {
            positions: (0..width).map(|c| c as f64).collect(),
            index: vec![OUTSIDE; width],
            row_fraction: vec![0.0; width],
            col_fraction: vec![0.0; width],
        }
    }

    /// Whether [`sample_row`](Self::sample_row) can index an image of `height` × `width`: at
    /// least 2 × 2 (so that an inside pixel has four distinct taps) and few enough pixels for
    /// an `i32` index.
    #[must_use]
    pub fn fits(height: usize, width: usize) -> bool {
        height >= 2 && width >= 2 && height.saturating_mul(width) < i32::MAX as usize
    }

    /// Samples `src` (`height` × `width`, row by row) into `out` along `line`. With
    /// `clamp_to_edge` (scipy's `nearest`) coordinates beyond the image read its edge; otherwise
    /// pixels that fall outside are left untouched in `out` and their positions returned
    /// through `outside`, for the caller to sample with its border mode.
    ///
    /// `src.len()` must be `height * width` with [`fits`](Self::fits) true, and `out.len()` the
    /// width this sampler was made for.
    pub fn sample_row(
        &mut self,
        src: &[f32],
        (height, width): (usize, usize),
        line: Line,
        clamp_to_edge: bool,
        out: &mut [f32],
        outside: &mut Vec<usize>,
    ) {
        self.locate((height, width), line, clamp_to_edge);
        self.interpolate(src, width, out);
        outside.clear();
        outside.extend(
            self.index
                .iter()
                .enumerate()
                .filter(|(_, i)| **i == OUTSIDE)
                .map(|(c, _)| c),
        );
    }

    /// Pass 1: taps and fractions of every pixel of the row.
    fn locate(
        &mut self,
        (height, width): (usize, usize),
        Line {
            row: (row0, row_step),
            col: (col0, col_step),
        }: Line,
        clamp_to_edge: bool,
    ) {
        let (row_last, col_last) = ((height - 1) as f64, (width - 1) as f64);
        let stride = width as f64;
        let pixels = self
            .positions
            .iter()
            .zip(self.index.iter_mut())
            .zip(self.row_fraction.iter_mut())
            .zip(self.col_fraction.iter_mut());
        for (((&c, index), row_fraction), col_fraction) in pixels {
            let (mut row, mut col) = (row0 + c * row_step, col0 + c * col_step);
            if clamp_to_edge {
                // `nearest` reads the edge pixel anywhere beyond it (NaN stays NaN).
                (row, col) = (row.clamp(0.0, row_last), col.clamp(0.0, col_last));
            }
            // Up to and including the last index, where the second tap gets weight 1 (below).
            let inside = (row >= 0.0) & (row <= row_last) & (col >= 0.0) & (col <= col_last);
            // Outside pixels are located at (0, 0) to keep the pass branch-free.
            let (row, col) = if inside { (row, col) } else { (0.0, 0.0) };
            // On the last row (column) the taps are the last two, the second with weight 1.
            let top = floor_non_negative(row).min(row_last - 1.0);
            let left = floor_non_negative(col).min(col_last - 1.0);
            *row_fraction = (row - top) as f32;
            *col_fraction = (col - left) as f32;
            // An integer below 2³¹: the low bits of `x + 2⁵²` are `x`.
            let linear = ((top * stride + left + TWO_52).to_bits() as i64 - TWO_52_BITS) as i32;
            *index = if inside { linear } else { OUTSIDE };
        }
    }

    /// Pass 2: the bilinear blend of every located pixel.
    fn interpolate(&self, src: &[f32], width: usize, out: &mut [f32]) {
        let pixels = out
            .iter_mut()
            .zip(&self.index)
            .zip(&self.row_fraction)
            .zip(&self.col_fraction);
        for (((out, &index), &row_fraction), &col_fraction) in pixels {
            // `OUTSIDE` becomes a huge index, which `get` refuses.
            let start = index as u32 as usize;
            let Some(window) = src.get(start..start + width + 2) else {
                continue;
            };
            let (top_left, top_right) = (window[0], window[1]);
            let (bottom_left, bottom_right) = (window[width], window[width + 1]);
            let top = top_left + (top_right - top_left) * col_fraction;
            let bottom = bottom_left + (bottom_right - bottom_left) * col_fraction;
            *out = top + (bottom - top) * row_fraction;
        }
    }
}

/// `x.floor()` for `0 ≤ x < 2⁵¹`, without a libm call: `x + 2⁵² − 2⁵²` rounds to the nearest
/// integer, then one is taken off where that went up.
#[inline]
fn floor_non_negative(x: f64) -> f64 {
    let rounded = (x + TWO_52) - TWO_52;
    if rounded > x { rounded - 1.0 } else { rounded }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_matches_std_floor() {
        for x in [
            0.0,
            0.25,
            0.5,
            0.75,
            1.0,
            1.5,
            2.5,
            3.499_999,
            318.999_999_9,
            1e9 + 0.5,
        ] {
            assert_eq!(floor_non_negative(x), x.floor(), "{x}");
        }
    }

    #[test]
    fn a_row_blends_four_taps_and_reports_the_rest() {
        // Values r·10 + c on a 3×4 image; bilinear of a linear function is exact.
        let (height, width) = (3, 4);
        let src: Vec<f32> = (0..height * width)
            .map(|i| ((i / width) * 10 + i % width) as f32)
            .collect();
        let mut sampler = LineSampler::new(width);
        let mut out = vec![-7.0; width];
        let mut outside = Vec::new();
        // Row 2 (the last), columns 0.25, 1.25, 2.25, 3.25: the last is beyond the image.
        sampler.sample_row(
            &src,
            (height, width),
            Line {
                row: (2.0, 0.0),
                col: (0.25, 1.0),
            },
            false,
            &mut out,
            &mut outside,
        );
        assert_eq!(&out[..3], &[20.25, 21.25, 22.25]);
        assert_eq!(out[3], -7.0, "left for the border pass");
        assert_eq!(outside, [3]);
        // Clamped to the edge, it reads column 3 of row 2; row -1 reads row 0.
        sampler.sample_row(
            &src,
            (height, width),
            Line {
                row: (-1.0, 0.0),
                col: (0.25, 1.0),
            },
            true,
            &mut out,
            &mut outside,
        );
        assert_eq!(out, [0.25, 1.25, 2.25, 3.0]);
        assert!(outside.is_empty());
    }
}
