//! The Keras affine transform on the CPU: Keras's matrix, resampled as scipy does.
//!
//! Keras's `apply_affine_transform` composes rotation · shift · shear · zoom in `(row, col)`
//! coordinates (so its `tx` moves rows, i.e. shifts vertically), moves the origin to
//! `(h/2 + 0.5, w/2 + 0.5)` with `transform_matrix_offset_center` (half a pixel off the true
//! centre; we keep it, since matching Keras is the point), and hands the matrix to
//! `scipy.ndimage.affine_transform(order=1, mode=fill_mode, cval=cval)`, which pulls each output
//! pixel `o` from input coordinates `M·o + offset` by bilinear interpolation. [`sample_bilinear`]
//! reproduces scipy's `order=1` sampling and its border modes (see [`FillMode`]), in the same
//! `f64` arithmetic, and the result is stored as `f32` as scipy does for a `float32` input.
//!
//! This is the reference the tensor path (`gpu`, the same sampler written with burn tensor ops)
//! is checked against, and it is itself checked against real Keras output (`golden_tests`).

use super::flip_crop::crop_resize;
use super::line_sampler::{AxisMap, Resampling, fits, resample_with_sums};
use super::normalize::MomentSums;
use super::params::CropWindow;
use super::params::TransformParams;
use super::plane::Plane;
use super::spec::FillMode;

/// A 3×3 homogeneous matrix on `(row, col, 1)`.
pub type Matrix3 = [[f64; 3]; 3];

/// Keras's transform matrix for `params` on an image of `height` × `width`, centred as
/// `transform_matrix_offset_center` does; `None` when Keras would skip the transform (θ, tx,
/// ty and shear all 0 and zx = zy = 1), in which case the image is not resampled at all.
#[must_use]
pub fn keras_matrix(params: &TransformParams, height: usize, width: usize) -> Option<Matrix3> {
    let mut matrix: Option<Matrix3> = None;
    let mut compose = |m: Matrix3| {
        matrix = Some(match matrix {
            None => m,
            Some(before) => mul(&before, &m),
        });
    };
    if params.theta != 0.0 {
        let (sin, cos) = params.theta.to_radians().sin_cos();
        compose([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]]);
    }
    if params.tx != 0.0 || params.ty != 0.0 {
        compose([
            [1.0, 0.0, params.tx],
            [0.0, 1.0, params.ty],
            [0.0, 0.0, 1.0],
        ]);
    }
    if params.shear != 0.0 {
        let (sin, cos) = params.shear.to_radians().sin_cos();
        compose([[1.0, -sin, 0.0], [0.0, cos, 0.0], [0.0, 0.0, 1.0]]);
    }
    if params.zx != 1.0 || params.zy != 1.0 {
        compose([
            [params.zx, 0.0, 0.0],
            [0.0, params.zy, 0.0],
            [0.0, 0.0, 1.0],
        ]);
    }
    let matrix = matrix?;
    let (o_x, o_y) = (height as f64 / 2.0 + 0.5, width as f64 / 2.0 + 0.5);
    let offset = [[1.0, 0.0, o_x], [0.0, 1.0, o_y], [0.0, 0.0, 1.0]];
    let reset = [[1.0, 0.0, -o_x], [0.0, 1.0, -o_y], [0.0, 0.0, 1.0]];
    Some(mul(&mul(&offset, &matrix), &reset))
}

/// Keras's `apply_affine_transform`: the image under `params`' rotation, shift, shear and
/// zoom, or an unchanged copy when Keras would skip it.
#[must_use]
pub fn apply_affine(src: &Plane, params: &TransformParams, fill: FillMode, cval: f64) -> Plane {
    match keras_matrix(params, src.height, src.width) {
        Some(matrix) => affine_transform(src, &matrix, fill, cval),
        None => src.clone(),
    }
}

/// scipy's `ndimage.affine_transform(src, matrix[:2, :2], matrix[:2, 2], order=1, mode, cval)`:
/// output pixel `(r, c)` is `src` sampled at `matrix · (r, c, 1)`.
///
/// Through [`resample_with_sums`]: pixels whose four taps are inside (where no border mode matters) are
/// blended in `f32` from fixed-point coordinates, within 1e-4 grey levels of scipy's all-`f64`
/// result; the others are sampled one by one in `f64` with scipy's border modes.
#[must_use]
pub fn affine_transform(src: &Plane, matrix: &Matrix3, fill: FillMode, cval: f64) -> Plane {
    affine_transform_with_sums(src, matrix, fill, cval).0
}

/// [`affine_transform`], and the output's pixel sums where the fast path gathered them.
pub(super) fn affine_transform_with_sums(
    src: &Plane,
    matrix: &Matrix3,
    fill: FillMode,
    cval: f64,
) -> (Plane, Option<MomentSums>) {
    if !fits(src.height, src.width) {
        let plane = per_pixel(src, matrix, |row, col| {
            sample_bilinear(src, row, col, fill, cval)
        });
        return (plane, None);
    }
    let how = Resampling {
        matrix,
        fill,
        cval,
        rows: AxisMap::IDENTITY,
        cols: AxisMap::IDENTITY,
    };
    let (plane, sums) = resample_with_sums(src, &how);
    (plane, Some(sums))
}

/// The crop `window`, resized to the full image, then `matrix` as [`affine_transform`] applies
/// it, in one resampling: output `(r, c)` reads the cropped image at `matrix · (r, c, 1)` with
/// `fill` at the cropped image's borders, and the cropped image's `(y, x)` is `src` at
/// `top + (y + ½) · window / size − ½` (and likewise for columns), clamped to `src`'s edges as
/// [`crop_resize`](super::flip_crop::crop_resize) does.
///
/// One bilinear sample instead of two (the crop's, then the transform's of that), so the image
/// is blurred once, not twice, and the work is halved.
#[must_use]
pub fn crop_affine_transform(
    src: &Plane,
    window: &CropWindow,
    matrix: &Matrix3,
    fill: FillMode,
    cval: f64,
) -> Plane {
    crop_affine_transform_with_sums(src, window, matrix, fill, cval).0
}

/// [`crop_affine_transform`], and the output's pixel sums where the fast path gathered them.
pub(super) fn crop_affine_transform_with_sums(
    src: &Plane,
    window: &CropWindow,
    matrix: &Matrix3,
    fill: FillMode,
    cval: f64,
) -> (Plane, Option<MomentSums>) {
    if !fits(src.height, src.width) {
        // Too small for the fast path (a 1-pixel side): crop, then transform.
        let plane = affine_transform(&crop_resize(src, window), matrix, fill, cval);
        return (plane, None);
    }
    let (rows, cols) = crop_maps(window, src.height, src.width);
    let how = Resampling {
        matrix,
        fill,
        cval,
        rows,
        cols,
    };
    let (plane, sums) = resample_with_sums(src, &how);
    (plane, Some(sums))
}

/// The crop window as the map from the resized crop's rows and columns to `src`'s: pixel
/// centres aligned, `y ↦ top + (y + ½) · window / size − ½`.
#[must_use]
pub fn crop_maps(window: &CropWindow, height: usize, width: usize) -> (AxisMap, AxisMap) {
    let axis = |start: f64, covered: f64, size: usize| {
        let scale = covered / size as f64;
        AxisMap {
            offset: start + 0.5 * scale - 0.5,
            scale,
        }
    };
    (
        axis(window.top, window.height, height),
        axis(window.left, window.width, width),
    )
}

/// Every pixel of the output through `sample(row, col)` at `matrix · (r, c, 1)`.
fn per_pixel(src: &Plane, matrix: &Matrix3, sample: impl Fn(f64, f64) -> f64) -> Plane {
    let (height, width) = (src.height, src.width);
    let pixels = (0..height * width)
        .map(|i| {
            let (r, c) = ((i / width) as f64, (i % width) as f64);
            // scipy sums `o[0]·m[0] + o[1]·m[1]`, then adds the offset.
            let row = r * matrix[0][0] + c * matrix[0][1] + matrix[0][2];
            let col = r * matrix[1][0] + c * matrix[1][1] + matrix[1][2];
            sample(row, col) as f32
        })
        .collect();
    Plane {
        height,
        width,
        pixels,
    }
}

/// `src` at fractional `(row, col)` as scipy's `map_coordinates(order=1, mode, cval)` gives it.
#[must_use]
pub fn sample_bilinear(src: &Plane, row: f64, col: f64, fill: FillMode, cval: f64) -> f64 {
    let (Some(rows), Some(cols)) = (taps(row, src.height, fill), taps(col, src.width, fill)) else {
        return cval;
    };
    // scipy's order: taps row-major, each value times the row weight, then the column weight.
    let mut total = 0.0;
    for (r, wr) in [(rows.0, rows.2), (rows.1, rows.3)] {
        for (c, wc) in [(cols.0, cols.2), (cols.1, cols.3)] {
            total += f64::from(src.at(r, c)) * wr * wc;
        }
    }
    total
}

/// The two neighbours along one axis of length `len` and their weights, or `None` where scipy
/// returns `cval`.
fn taps(x: f64, len: usize, fill: FillMode) -> Option<(usize, usize, f64, f64)> {
    if len == 0 || !x.is_finite() {
        return None;
    }
    let last = (len - 1) as f64;
    if len == 1 {
        // scipy maps every coordinate to 0 on a single-sample axis (constant: only x = 0).
        return (fill != FillMode::Constant || x == 0.0).then_some((0, 0, 1.0, 0.0));
    }
    let cc = match fill {
        FillMode::Constant if x < 0.0 || x > last => return None,
        FillMode::Constant => x,
        FillMode::Nearest => x.clamp(0.0, last),
        FillMode::Reflect => map_reflect(x, len),
        FillMode::Wrap => map_wrap(x, len),
    };
    let start = cc.floor();
    // scipy's order-1 spline weights: 1 - |tap - x| for each tap.
    let w0 = 1.0 - (start - cc).abs();
    let w1 = 1.0 - (start + 1.0 - cc).abs();
    let index = |i: f64| -> usize {
        let i = i as i64;
        let n = len as i64;
        let i = match fill {
            // Half-sample symmetric: -1 → 0, n → n - 1 (the mapped coordinate lies in (-1, n)).
            FillMode::Reflect if i < 0 => -i - 1,
            FillMode::Reflect if i >= n => 2 * n - 1 - i,
            // Elsewhere an out-of-range tap only occurs at x = n - 1 exactly, with weight 0.
            _ => i.clamp(0, n - 1),
        };
        i.clamp(0, n - 1) as usize
    };
    Some((index(start), index(start + 1.0), w0, w1))
}

/// scipy's `map_coordinate` for `reflect` (period `2 · len`, mirrored about −½ and len − ½).
pub(super) fn map_reflect(x: f64, len: usize) -> f64 {
    let n = len as f64;
    let sz2 = 2.0 * n;
    if x < 0.0 {
        let mut x = x;
        if x < -sz2 {
            x += sz2 * (-x / sz2).trunc();
        }
        if x < -n { x + sz2 } else { -x - 1.0 }
    } else if x > n - 1.0 {
        let x = x - sz2 * (x / sz2).trunc();
        if x >= n { sz2 - x - 1.0 } else { x }
    } else {
        x
    }
}

/// scipy's `map_coordinate` for `wrap`: period `len − 1`, with C's truncating division kept so
/// that e.g. −(len − 1) lands on the last sample and +2(len − 1) on the first, as in scipy.
pub(super) fn map_wrap(x: f64, len: usize) -> f64 {
    let sz = (len - 1) as f64;
    if x < 0.0 {
        x + sz * ((-x / sz).trunc() + 1.0)
    } else if x > sz {
        x - sz * (x / sz).trunc()
    } else {
        x
    }
}

pub(crate) fn mul(a: &Matrix3, b: &Matrix3) -> Matrix3 {
    let mut out = [[0.0; 3]; 3];
    for (i, row) in out.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            *cell = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::plane::wavy;

    fn ramp(height: usize, width: usize) -> Plane {
        let pixels = (0..height * width).map(|i| i as f32).collect();
        Plane::new(height, width, pixels).expect("sized")
    }

    #[test]
    fn identity_params_skip_the_resampling() {
        assert!(keras_matrix(&TransformParams::default(), 8, 8).is_none());
        let src = ramp(3, 4);
        assert_eq!(
            apply_affine(&src, &TransformParams::default(), FillMode::Constant, 9.0),
            src
        );
    }

    #[test]
    fn integer_shift_moves_rows_by_tx_and_columns_by_ty() {
        // Keras pulls output (r, c) from input (r + tx, c + ty): tx = 1 moves content up a row.
        let src = ramp(4, 5);
        let params = TransformParams {
            tx: 1.0,
            ty: 2.0,
            ..TransformParams::default()
        };
        let out = apply_affine(&src, &params, FillMode::Constant, -1.0);
        assert_eq!(out.at(0, 0), src.at(1, 2));
        assert_eq!(out.at(2, 2), src.at(3, 4));
        assert_eq!(out.at(3, 0), -1.0, "row 4 is outside");
        assert_eq!(out.at(0, 3), -1.0, "column 5 is outside");
    }

    #[test]
    fn rotation_by_180_about_keras_centre() {
        // Keras's centre is (h/2 + 0.5, w/2 + 0.5) = (3, 3) for 5×5: output (r, c) reads input
        // (6 - r, 6 - c), which is in range from r, c >= 2.
        let src = ramp(5, 5);
        let params = TransformParams {
            theta: 180.0,
            ..TransformParams::default()
        };
        let out = apply_affine(&src, &params, FillMode::Constant, -1.0);
        for r in 2..5 {
            for c in 2..5 {
                assert!((out.at(r, c) - src.at(6 - r, 6 - c)).abs() < 1e-4);
            }
        }
        assert_eq!(out.at(1, 3), -1.0);
    }

    fn max_difference(a: &Plane, b: &Plane) -> f32 {
        a.pixels
            .iter()
            .zip(&b.pixels)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn a_crop_of_the_whole_image_leaves_the_transform_alone() {
        let src = wavy(19, 26);
        let params = TransformParams {
            theta: 11.0,
            shear: 3.0,
            zx: 0.9,
            zy: 1.15,
            tx: 1.5,
            ..TransformParams::default()
        };
        let matrix = keras_matrix(&params, 19, 26).expect("a transform");
        let whole = CropWindow {
            top: 0.0,
            left: 0.0,
            height: 19.0,
            width: 26.0,
        };
        for fill in FillMode::ALL {
            let one = crop_affine_transform(&src, &whole, &matrix, fill, 7.0);
            let alone = affine_transform(&src, &matrix, fill, 7.0);
            assert!(max_difference(&one, &alone) < 1e-4, "{fill:?}");
        }
    }

    #[test]
    fn without_a_transform_it_is_the_crop_alone() {
        let src = wavy(21, 17);
        let window = CropWindow {
            top: 2.25,
            left: 1.5,
            height: 16.0,
            width: 14.5,
        };
        let identity = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let one = crop_affine_transform(&src, &window, &identity, FillMode::Constant, -1.0);
        let crop = crop_resize(&src, &window);
        assert!(max_difference(&one, &crop) < 1e-4);
    }

    #[test]
    fn bilinear_is_the_weighted_mean_of_four_neighbours() {
        let src = Plane::new(2, 2, vec![0.0, 10.0, 20.0, 30.0]).expect("sized");
        // (0.25, 0.5): rows 0.75·row0 + 0.25·row1, columns halfway.
        let v = sample_bilinear(&src, 0.25, 0.5, FillMode::Constant, 0.0);
        assert!((v - (0.75 * 5.0 + 0.25 * 25.0)).abs() < 1e-12);
    }

    #[test]
    fn border_modes_extend_as_scipy_documents() {
        // scipy's documentation pictures, on a b c d = 1 2 3 4 at integer positions.
        let line = Plane::new(1, 4, vec![1.0, 2.0, 3.0, 4.0]).expect("sized");
        let at = |x: f64, mode| sample_bilinear(&line, 0.0, x, mode, 9.0);
        // reflect: d c b a | a b c d | d c b a
        let reflect: Vec<f64> = (-4..8)
            .map(|x| at(f64::from(x), FillMode::Reflect))
            .collect();
        assert_eq!(
            reflect,
            [4.0, 3.0, 2.0, 1.0, 1.0, 2.0, 3.0, 4.0, 4.0, 3.0, 2.0, 1.0]
        );
        // nearest: a a a a | a b c d | d d d d
        assert_eq!(at(-3.0, FillMode::Nearest), 1.0);
        assert_eq!(at(6.5, FillMode::Nearest), 4.0);
        // constant: k k k k | a b c d | k k k k, with no blending just outside.
        assert_eq!(at(-0.5, FillMode::Constant), 9.0);
        assert_eq!(at(3.0, FillMode::Constant), 4.0);
        assert_eq!(at(3.01, FillMode::Constant), 9.0);
        // wrap (period n - 1 = 3, first and last overlapping): position 4 reads position 1.
        assert_eq!(at(4.0, FillMode::Wrap), 2.0);
        assert_eq!(at(-1.0, FillMode::Wrap), 3.0);
    }
}
