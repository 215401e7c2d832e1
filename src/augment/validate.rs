//! [`AugmentSpec::validate`]: the checks a spec from JSON or a pasted call must pass before
//! training starts.
//!
//! Keras validates little (a negative zoom bound silently mirrors the image); a spec that is
//! wrong should stop the run at the start with the field named, not produce strange images
//! for hours.

use std::fmt;

use super::spec::{AugmentSpec, SPEC_VERSION, ShiftRange};

/// The first field of a spec that is out of range.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("augmentation spec: {field} = {value}: expected {expected}")]
pub struct SpecError {
    /// The field, by its spec (and Keras) name.
    pub field: &'static str,
    /// The value found, as written in JSON.
    pub value: String,
    /// What the field accepts.
    pub expected: &'static str,
}

const NON_NEGATIVE: &str = "a finite number of at least 0";
const PROBABILITY: &str = "a probability between 0 and 1";

impl AugmentSpec {
    /// Checks every field's range.
    ///
    /// # Errors
    /// [`SpecError`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), SpecError> {
        check(
            "version",
            self.version,
            self.version <= SPEC_VERSION,
            "a spec version this CXR Lab reads (at most 1); update CXR Lab",
        )?;
        non_negative("rotation_range", self.rotation_range)?;
        non_negative("shear_range", self.shear_range)?;
        non_negative("channel_shift_range", self.channel_shift_range)?;
        shift("width_shift_range", &self.width_shift_range)?;
        shift("height_shift_range", &self.height_shift_range)?;
        let zoom = self.zoom_range.bounds();
        range(
            "zoom_range",
            zoom,
            1e-6,
            f64::INFINITY,
            "0 < lower <= upper",
        )?;
        if let Some(b) = self.brightness_range {
            range(
                "brightness_range",
                b,
                0.0,
                f64::INFINITY,
                "0 <= lower <= upper",
            )?;
        }
        check("cval", self.cval, self.cval.is_finite(), "a finite number")?;
        if let Some(r) = self.rescale {
            check("rescale", r, r.is_finite(), "a finite number or null")?;
        }
        if let Some(g) = self.gamma {
            range("gamma", g, 1e-6, f64::INFINITY, "0 < lower <= upper")?;
        }
        if let Some(c) = self.contrast {
            range("contrast", c, 0.0, f64::INFINITY, "0 <= lower <= upper")?;
        }
        if let Some(c) = &self.clahe {
            non_negative("clahe.clip_limit", c.clip_limit)?;
            let grid = c.tile_grid;
            check(
                "clahe.tile_grid",
                format!("{grid:?}"),
                grid[0] >= 1 && grid[1] >= 1,
                "at least one tile each way",
            )?;
            probability("clahe.probability", c.probability)?;
        }
        if let Some(n) = &self.noise {
            non_negative("noise.std", n.std)?;
            probability("noise.probability", n.probability)?;
        }
        if let Some(b) = &self.blur {
            range(
                "blur.sigma",
                b.sigma,
                0.0,
                f64::INFINITY,
                "0 <= lower <= upper",
            )?;
            probability("blur.probability", b.probability)?;
        }
        if let Some(e) = &self.erasing {
            probability("erasing.probability", e.probability)?;
            range("erasing.area", e.area, 1e-9, 1.0, "0 < lower <= upper <= 1")?;
            range(
                "erasing.aspect",
                e.aspect,
                1e-9,
                f64::INFINITY,
                "0 < lower <= upper",
            )?;
            check(
                "erasing.value",
                e.value,
                e.value.is_finite(),
                "a grey level",
            )?;
        }
        if let Some(c) = &self.crop {
            range("crop.scale", c.scale, 1e-9, 1.0, "0 < lower <= upper <= 1")?;
        }
        Ok(())
    }
}

fn check(
    field: &'static str,
    value: impl fmt::Debug,
    ok: bool,
    expected: &'static str,
) -> Result<(), SpecError> {
    if ok {
        Ok(())
    } else {
        Err(SpecError {
            field,
            value: format!("{value:?}"),
            expected,
        })
    }
}

fn non_negative(field: &'static str, v: f64) -> Result<(), SpecError> {
    check(field, v, v.is_finite() && v >= 0.0, NON_NEGATIVE)
}

fn probability(field: &'static str, p: f64) -> Result<(), SpecError> {
    check(field, p, (0.0..=1.0).contains(&p), PROBABILITY)
}

/// `[lower, upper]` with `min <= lower <= upper <= max`, all finite.
fn range(
    field: &'static str,
    [lo, hi]: [f64; 2],
    min: f64,
    max: f64,
    expected: &'static str,
) -> Result<(), SpecError> {
    let ok = lo.is_finite() && hi.is_finite() && min <= lo && lo <= hi && hi <= max;
    check(field, [lo, hi], ok, expected)
}

fn shift(field: &'static str, range: &ShiftRange) -> Result<(), SpecError> {
    let ok = match range {
        ShiftRange::Int(_) => true,
        ShiftRange::Float(r) => r.is_finite() && *r >= 0.0,
        ShiftRange::Values(v) => !v.is_empty() && v.iter().all(|x| x.is_finite()),
    };
    check(
        field,
        range,
        ok,
        "a float of at least 0, an int, or a non-empty list of numbers",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::spec::{CropSpec, NoiseSpec, ZoomRange};

    #[test]
    fn presets_are_valid() {
        for spec in [
            AugmentSpec::none(),
            AugmentSpec::basic(),
            AugmentSpec::complex(),
        ] {
            assert_eq!(spec.validate(), Ok(()));
        }
    }

    #[test]
    fn out_of_range_fields_are_named() {
        let cases: [(AugmentSpec, &str); 5] = [
            (
                AugmentSpec {
                    zoom_range: ZoomRange::Symmetric(1.5),
                    ..AugmentSpec::default()
                },
                "zoom_range",
            ),
            (
                AugmentSpec {
                    rotation_range: -5.0,
                    ..AugmentSpec::default()
                },
                "rotation_range",
            ),
            (
                AugmentSpec {
                    noise: Some(NoiseSpec {
                        std: 3.0,
                        probability: 1.5,
                    }),
                    ..AugmentSpec::default()
                },
                "noise.probability",
            ),
            (
                AugmentSpec {
                    crop: Some(CropSpec { scale: [0.9, 0.8] }),
                    ..AugmentSpec::default()
                },
                "crop.scale",
            ),
            (
                AugmentSpec {
                    version: SPEC_VERSION + 1,
                    ..AugmentSpec::default()
                },
                "version",
            ),
        ];
        for (spec, field) in cases {
            let error = spec.validate().expect_err(field);
            assert_eq!(error.field, field);
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("augmentation spec: {field} = "))
            );
        }
    }
}
