//! The affine transform's inner loop: bilinear samples of an image along one straight line of
//! input coordinates (one output row), fast.
//!
//! [`sample_bilinear`](super::affine::sample_bilinear) is scipy's sampler, border modes and
//! all, and costs ~20 ns per pixel here. Nearly every pixel of an augmentation lands well inside
//! the image, where no border mode changes anything, so a row is done in three passes that the
//! compiler can vectorise or keep branch-free:
//! 1. *locate*: every pixel's input coordinates, clamped to the edge for `nearest`, as the
//!    linear index of its top-left tap and the two fractions; pixels outside the image (where
//!    `constant`, `reflect` and `wrap` differ) are marked [`OUTSIDE`];
//! 2. *interpolate*: the four taps read through one bounds-checked window and blended in `f32`;
//! 3. the marked pixels, a band along the edges, go through `sample_bilinear`.
//!
//! Pass 1 runs in `f32`, four pixels per SSE register, without giving up precision where it
//! matters: each coordinate is kept as an integer part (exact in `f32` below 2²³) plus a small
//! fraction. The line's start and step are split once per row in `f64` (`start = ⌊start⌋ + f`,
//! `step = round(step) + d`), so the fraction `f + c·d` stays small (|d| ≤ ½) and keeps ~1e-5
//! pixel precision; for the near-identity transforms of augmentation it is ~1e-6. The floors
//! use the 1.5·2²³ rounding trick and the index the 2²³ bit trick, because Rust's saturating
//! `as` casts and libm's `floor` keep a loop scalar.

/// The index of a pixel that pass 3 handles.
pub const OUTSIDE: i32 = -1;

/// 2²³: adding it to an integer-valued `f32` in `[0, 2²³)` puts the integer in the mantissa.
const TWO_23: f32 = 8_388_608.0;

/// The bits of `TWO_23`, whose mantissa is zero.
const TWO_23_BITS: i32 = 0x4B00_0000;

/// 1.5 · 2²³: adding and subtracting it rounds an `f32` of magnitude below 2²² to an integer.
const ROUNDER: f32 = 12_582_912.0;

/// Coordinates beyond this many pixels are sampled per pixel (pass 3): the integer parts must
/// stay exact in `f32` and the fractions below 2²².
const COORDINATE_LIMIT: f64 = 4_194_304.0;

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
    /// `0, 1, 2, …` as `f32`, the pixel positions along the row.
    positions: Vec<f32>,
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
            positions: (0..width).map(|c| c as f32).collect(),
            index: vec![OUTSIDE; width],
            row_fraction: vec![0.0; width],
            col_fraction: vec![0.0; width],
        }
    }

    /// Whether [`sample_row`](Self::sample_row) can index an image of `height` × `width`: at
    /// least 2 × 2 (so that an inside pixel has four distinct taps) and fewer than 2²³ pixels
    /// (2896², far above training sizes), so that a linear index is exact in `f32`.
    #[must_use]
    pub fn fits(height: usize, width: usize) -> bool {
        height >= 2 && width >= 2 && height.saturating_mul(width) < 1 << 23
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
    fn locate(&mut self, (height, width): (usize, usize), line: Line, clamp_to_edge: bool) {
        let far = |(start, step): (f64, f64)| {
            let end = start + step * width as f64;
            !(start.abs() < COORDINATE_LIMIT && end.abs() < COORDINATE_LIMIT)
        };
        if far(line.row) || far(line.col) {
            // Huge or non-finite coordinates: all of the row to pass 3.
            self.index.fill(OUTSIDE);
            return;
        }
        let (rows, cols) = (Axis::new(line.row), Axis::new(line.col));
        // The last top-left tap: its neighbour is the last pixel.
        let (row_top, col_top) = ((height - 2) as f32, (width - 2) as f32);
        let stride = width as f32;
        let pixels = self
            .positions
            .iter()
            .zip(self.index.iter_mut())
            .zip(self.row_fraction.iter_mut())
            .zip(self.col_fraction.iter_mut());
        for (((&c, index), row_fraction), col_fraction) in pixels {
            let (top, row_weight, row_inside) = rows.at(c, row_top, clamp_to_edge);
            let (left, col_weight, col_inside) = cols.at(c, col_top, clamp_to_edge);
            let inside = row_inside & col_inside;
            *row_fraction = row_weight;
            *col_fraction = col_weight;
            // Outside pixels get index 0 before the select, keeping the pass branch-free.
            let linear = if inside { top * stride + left } else { 0.0 };
            let linear = (linear + TWO_23).to_bits() as i32 - TWO_23_BITS;
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

/// One axis of a [`Line`]: the coordinate at pixel `c` is
/// `(whole + c · whole_step) + (fraction + c · fraction_step)`, the first sum an exact integer.
#[derive(Clone, Copy, Debug)]
struct Axis {
    whole: f32,
    fraction: f32,
    whole_step: f32,
    fraction_step: f32,
}

impl Axis {
    /// Splits `start` into floor and remainder and `step` into nearest integer and remainder,
    /// in `f64`; both remainders then fit `f32` with little loss.
    fn new((start, step): (f64, f64)) -> Self {
        let (whole, whole_step) = (start.floor(), step.round());
        Axis {
            whole: whole as f32,
            fraction: (start - whole) as f32,
            whole_step: whole_step as f32,
            fraction_step: (step - whole_step) as f32,
        }
    }

    /// At pixel position `c`: the first tap (an integer), the second tap's weight, and whether
    /// both taps are inside `[0, last_top + 1]`. `clamp` reads the edge beyond it (`nearest`).
    #[inline]
    fn at(&self, c: f32, last_top: f32, clamp: bool) -> (f32, f32, bool) {
        let fraction = self.fraction + c * self.fraction_step;
        let carry = floor(fraction);
        let mut tap = self.whole + c * self.whole_step + carry;
        // Exact: subtracting its own floor keeps every fraction bit.
        let mut weight = fraction - carry;
        // Exactly on the last pixel: the last two taps, the second with all the weight (every
        // border mode reads the last pixel there).
        let on_last = (tap == last_top + 1.0) & (weight == 0.0);
        if on_last | (clamp & (tap > last_top)) {
            (tap, weight) = (last_top, 1.0);
        }
        if clamp & (tap < 0.0) {
            (tap, weight) = (0.0, 0.0);
        }
        (tap, weight, (tap >= 0.0) & (tap <= last_top))
    }
}

/// `x.floor()` for `|x| < 2²²`, without a libm call: adding and subtracting 1.5 · 2²³ rounds
/// to the nearest integer, then one is taken off where that went up.
#[inline]
fn floor(x: f32) -> f32 {
    let rounded = (x + ROUNDER) - ROUNDER;
    if rounded > x { rounded - 1.0 } else { rounded }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_matches_std_floor() {
        for x in [
            0.0f32,
            0.25,
            0.5,
            0.75,
            1.0,
            1.5,
            2.5,
            3.499_999,
            318.999_98,
            -0.25,
            -0.5,
            -1.0,
            -2.5,
            -318.75,
            4_000_000.5,
            -4_000_000.5,
        ] {
            assert_eq!(floor(x), x.floor(), "{x}");
        }
    }

    #[test]
    fn axis_keeps_integer_parts_exact_and_fractions_fine() {
        // 300.3 + c · 1.0203 at c = 319: 625.7757 (the f64 answer).
        let axis = Axis::new((300.3, 1.0203));
        let (tap, weight, inside) = axis.at(319.0, 1000.0, false);
        assert_eq!(tap, 625.0);
        assert!((f64::from(weight) - 0.7757).abs() < 1e-5, "{weight}");
        assert!(inside);
        // Beyond the end: outside, or the last pixel with the clamp.
        assert!(!axis.at(319.0, 600.0, false).2);
        assert_eq!(axis.at(319.0, 600.0, true), (600.0, 1.0, true));
        // Before the start, clamped: the first pixel.
        let before = Axis::new((-3.5, 0.0));
        assert!(!before.at(0.0, 10.0, false).2);
        assert_eq!(before.at(0.0, 10.0, true), (0.0, 0.0, true));
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
