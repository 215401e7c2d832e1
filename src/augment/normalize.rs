//! Keras's `standardize`: rescale, then samplewise, then featurewise normalisation, in that
//! order, each with Keras's `+ 1e-6` under the std.
//!
//! Featurewise statistics come from the training split only ([`FeaturewiseStats::fit`], Keras's
//! `fit`), so no validation or test pixel leaks into training. One deliberate difference from
//! Keras: where Keras warns and skips a featurewise step that was never fitted, we return an
//! error, since a silently unnormalised run wastes hours of training.

use serde::{Deserialize, Serialize};

use super::plane::Plane;
use super::spec::AugmentSpec;

/// Keras's epsilon under every std (`x /= std + 1e-6`).
pub const STD_EPSILON: f64 = 1e-6;

/// Mean and std of grey levels over a set of images (after `rescale`), as Keras's `fit` keeps
/// them for a one-channel image.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeaturewiseStats {
    /// Mean grey level, in rescaled units.
    pub mean: f64,
    /// Population std of the grey levels, in rescaled units.
    pub std: f64,
}

impl FeaturewiseStats {
    /// Keras's `fit(x)` on `u8` images: multiply by `rescale`, then the mean and the population
    /// std over every pixel of every image. `None` when there are no pixels.
    #[must_use]
    pub fn fit(images: &[&[u8]], rescale: Option<f64>) -> Option<Self> {
        let scale = active_rescale(rescale).unwrap_or(1.0);
        let count: usize = images.iter().map(|i| i.len()).sum();
        if count == 0 {
            return None;
        }
        // Two passes in f64: sums of up to ~10^9 u8 values stay exact enough, unlike numpy's
        // float32, and the second pass avoids the cancellation of E[x²] − E[x]².
        let pixels = || {
            images
                .iter()
                .flat_map(|i| i.iter())
                .map(|&p| f64::from(p) * scale)
        };
        let mean = pixels().sum::<f64>() / count as f64;
        let var = pixels().map(|p| (p - mean).powi(2)).sum::<f64>() / count as f64;
        Some(FeaturewiseStats {
            mean,
            std: var.sqrt(),
        })
    }
}

/// Why an image could not be standardised.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StandardizeError {
    /// `featurewise_center` or `featurewise_std_normalization` is on, but no statistics were
    /// given.
    #[error(
        "featurewise normalisation is on but no training-split statistics were given; compute \
         them with FeaturewiseStats::fit over the training images, or turn off \
         featurewise_center and featurewise_std_normalization"
    )]
    FeaturewiseNotFitted,
}

/// Keras's `standardize(x)` for one grey image.
///
/// # Errors
/// [`StandardizeError::FeaturewiseNotFitted`] if a featurewise step is on and `stats` is `None`.
pub fn standardize(
    spec: &AugmentSpec,
    stats: Option<&FeaturewiseStats>,
    src: &Plane,
) -> Result<Plane, StandardizeError> {
    let (scale, shift) = coefficients(spec, stats, || moments(&src.pixels))?;
    Ok(Plane {
        pixels: src.pixels.iter().map(|&p| p * scale + shift).collect(),
        ..*src
    })
}

/// [`standardize`] in place, for a plane that is not needed any more (no new allocation), with
/// the plane's pixel sums when they are already known (gathered while the plane was written),
/// which saves a pass over it.
///
/// # Errors
/// As [`standardize`]; the plane is then unchanged.
pub fn standardize_in_place(
    spec: &AugmentSpec,
    stats: Option<&FeaturewiseStats>,
    plane: &mut Plane,
    sums: Option<&MomentSums>,
) -> Result<(), StandardizeError> {
    let known = || sums.map_or_else(|| moments(&plane.pixels), MomentSums::finish);
    let (scale, shift) = coefficients(spec, stats, known)?;
    for p in &mut plane.pixels {
        *p = *p * scale + shift;
    }
    Ok(())
}

/// `(scale, shift)` such that Keras's `standardize` maps each pixel `p` to `p · scale + shift`:
/// every step maps pixels affinely, so the chain collapses once the statistics are known. The
/// statistics of `p · a + b` follow from those of `p` (mean `a·m + b`, std `|a|·s`), so one
/// pass over the pixels serves every step.
fn coefficients(
    spec: &AugmentSpec,
    stats: Option<&FeaturewiseStats>,
    moments: impl FnOnce() -> (f64, f64),
) -> Result<(f32, f32), StandardizeError> {
    let featurewise = spec.featurewise_center || spec.featurewise_std_normalization;
    if featurewise && stats.is_none() {
        return Err(StandardizeError::FeaturewiseNotFitted);
    }
    let rescale = active_rescale(spec.rescale).unwrap_or(1.0);
    let (mut scale, mut shift) = (rescale, 0.0);
    if spec.samplewise_center || spec.samplewise_std_normalization {
        let (mean, std) = moments();
        if spec.samplewise_center {
            shift -= mean * rescale;
        }
        if spec.samplewise_std_normalization {
            let divisor = std * scale.abs() + STD_EPSILON;
            scale /= divisor;
            shift /= divisor;
        }
    }
    if let Some(stats) = stats.filter(|_| featurewise) {
        if spec.featurewise_center {
            shift -= stats.mean;
        }
        if spec.featurewise_std_normalization {
            let divisor = stats.std + STD_EPSILON;
            scale /= divisor;
            shift /= divisor;
        }
    }
    Ok((scale as f32, shift as f32))
}

/// Keras's `if self.rescale:`: `None` and 0 both mean no rescaling.
fn active_rescale(rescale: Option<f64>) -> Option<f64> {
    rescale.filter(|&r| r != 0.0)
}

/// Mean and population std of the pixels, in one pass.
fn moments(pixels: &[f32]) -> (f64, f64) {
    let mut sums = MomentSums::default();
    sums.add(pixels);
    sums.finish()
}

/// Running sums for the mean and population std of pixels added a slice at a time, so that a
/// step that writes an image row by row can gather them while each row is still in the cache
/// ([`line_sampler::resample_with_sums`](super::line_sampler::resample_with_sums)).
///
/// The sums are of `d = p − pivot` (the first pixel added), which keeps `E[d²] − E[d]²` free
/// of cancellation for grey levels. They run in eight interleaved `f32` lanes (a single running
/// sum is one long chain of dependent additions, several times slower) over blocks of 128
/// pixels, each block then added in `f64`: a lane sums 16 values, so its rounding stays near
/// 10⁻⁶ of the block's sum and the total keeps `f64`'s range.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MomentSums {
    pivot: Option<f32>,
    count: usize,
    sum: f64,
    squares: f64,
}

impl MomentSums {
    /// Adds `pixels` to the sums.
    pub fn add(&mut self, pixels: &[f32]) {
        const LANES: usize = 8;
        const BLOCK: usize = 16 * LANES;
        let Some(&first) = pixels.first() else {
            return;
        };
        let pivot = *self.pivot.get_or_insert(first);
        for block in pixels.chunks(BLOCK) {
            let (mut lane_sum, mut lane_squares) = ([0.0f32; LANES], [0.0f32; LANES]);
            let lanes = block.chunks_exact(LANES);
            for &p in lanes.remainder() {
                let d = p - pivot;
                lane_sum[0] += d;
                lane_squares[0] += d * d;
            }
            for chunk in lanes {
                for ((s, q), &p) in lane_sum.iter_mut().zip(&mut lane_squares).zip(chunk) {
                    let d = p - pivot;
                    *s += d;
                    *q += d * d;
                }
            }
            self.sum += lane_sum.iter().map(|&s| f64::from(s)).sum::<f64>();
            self.squares += lane_squares.iter().map(|&q| f64::from(q)).sum::<f64>();
        }
        self.count += pixels.len();
    }

    /// The mean and population std of everything added (`(0, 0)` for nothing).
    #[must_use]
    pub fn finish(&self) -> (f64, f64) {
        let Some(pivot) = self.pivot.filter(|_| self.count > 0) else {
            return (0.0, 0.0);
        };
        let n = self.count as f64;
        let mean = self.sum / n;
        let var = (self.squares / n - mean * mean).max(0.0);
        (f64::from(pivot) + mean, var.sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within single-precision rounding of the `f64` formula.
    fn assert_close(got: &[f32], want: &[f64]) {
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert!(
                (f64::from(*g) - w).abs() < 1e-6 * w.abs().max(1.0),
                "{got:?} vs {want:?}"
            );
        }
    }

    #[test]
    fn moment_sums_added_in_pieces_match_the_two_pass_formula() {
        let pixels: Vec<f32> = (0..1000)
            .map(|i| ((i * 7919) % 256) as f32 + 0.25)
            .collect();
        let n = pixels.len() as f64;
        let mean = pixels.iter().map(|&p| f64::from(p)).sum::<f64>() / n;
        let var = pixels
            .iter()
            .map(|&p| (f64::from(p) - mean).powi(2))
            .sum::<f64>()
            / n;
        let mut sums = MomentSums::default();
        for piece in pixels.chunks(333) {
            sums.add(piece);
        }
        let (m, s) = sums.finish();
        assert!((m - mean).abs() < 1e-9 * mean, "{m} vs {mean}");
        assert!(
            (s - var.sqrt()).abs() < 1e-6 * var.sqrt(),
            "{s} vs {}",
            var.sqrt()
        );
        assert_eq!(MomentSums::default().finish(), (0.0, 0.0));
    }

    #[test]
    fn samplewise_gives_zero_mean_unit_std() {
        let src = Plane::from_u8(2, 2, &[0, 2, 4, 6]).expect("sized");
        let out = standardize(&AugmentSpec::basic(), None, &src).expect("no featurewise");
        // (x − 3) / (√5 + 1e-6).
        let want = [-3.0, -1.0, 1.0, 3.0].map(|d: f64| d / (5f64.sqrt() + 1e-6));
        assert_close(&out.pixels, &want);
    }

    #[test]
    fn rescale_comes_before_featurewise_and_stats_are_in_rescaled_units() {
        let train: [&[u8]; 2] = [&[0, 255], &[255, 255]];
        let stats = FeaturewiseStats::fit(&train, Some(1.0 / 255.0)).expect("pixels");
        // Rescaled pixels 0, 1, 1, 1: mean 3/4, std √(3/16).
        assert!((stats.mean - 0.75).abs() < 1e-12);
        assert!((stats.std - (3.0f64 / 16.0).sqrt()).abs() < 1e-12);
        let spec = AugmentSpec {
            rescale: Some(1.0 / 255.0),
            featurewise_center: true,
            featurewise_std_normalization: true,
            ..AugmentSpec::default()
        };
        let src = Plane::from_u8(1, 2, &[0, 255]).expect("sized");
        let out = standardize(&spec, Some(&stats), &src).expect("fitted");
        let divisor = (3.0f64 / 16.0).sqrt() + 1e-6;
        assert_close(&out.pixels, &[-0.75 / divisor, 0.25 / divisor]);
        assert_eq!(
            standardize(&spec, None, &src),
            Err(StandardizeError::FeaturewiseNotFitted)
        );
        assert!(FeaturewiseStats::fit(&[], None).is_none());
    }
}
