//! Reads a pasted Keras `ImageDataGenerator(...)` call into an [`AugmentSpec`].
//!
//! Users arrive with the call from a paper or notebook; pasting it should give the same
//! augmentation. We read the small piece of Python such a call uses: an optional assignment
//! (`datagen = …`) and module path (`tf.keras.preprocessing.image.`), keyword arguments over
//! several lines with `#` comments and a trailing comma, numbers (`5`, `0.02`, `1e-3`, `1./255`:
//! `+ - * /` between numbers are evaluated, Python 3 style), `True`/`False`/`None`, quoted
//! strings, lists and tuples.
//!
//! Policy: a parameter Keras does not have is an error that names every such parameter and
//! suggests the nearest Keras name (a typo would otherwise silently drop an augmentation). A
//! real Keras parameter we cannot honour is an error only when its value would change the
//! images (`zca_whitening=True`, `preprocessing_function=f`, `interpolation_order=3`); when it
//! cannot (`data_format`, `dtype`, `validation_split`, `zca_epsilon`), or when Keras itself
//! changes a flag (`samplewise_std_normalization` turns on `samplewise_center`), the call is
//! accepted with a warning saying so.

use super::python_call::{Parser, Value};
use super::spec::{AugmentSpec, FillMode, ShiftRange, ZoomRange};
use super::validate::SpecError;

/// Every keyword of keras-preprocessing 1.1.2's `ImageDataGenerator.__init__` (the same list
/// as `tf.keras` 2.x).
pub const KERAS_PARAMETERS: [&str; 23] = [
    "featurewise_center",
    "samplewise_center",
    "featurewise_std_normalization",
    "samplewise_std_normalization",
    "zca_whitening",
    "zca_epsilon",
    "rotation_range",
    "width_shift_range",
    "height_shift_range",
    "brightness_range",
    "shear_range",
    "zoom_range",
    "channel_shift_range",
    "fill_mode",
    "cval",
    "horizontal_flip",
    "vertical_flip",
    "rescale",
    "preprocessing_function",
    "data_format",
    "validation_split",
    "interpolation_order",
    "dtype",
];

/// A parsed call: the spec, and what was accepted but not taken literally.
#[derive(Clone, Debug, PartialEq)]
pub struct KerasCall {
    /// The augmentation the call asks for.
    pub spec: AugmentSpec,
    /// One sentence per ignored parameter or flag Keras would have changed.
    pub warnings: Vec<String>,
}

/// Why a pasted call could not be read.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum KerasCallError {
    /// Not Python we understand at this point.
    #[error("Keras call, character {at}: {message}")]
    Syntax {
        /// Character offset in the pasted text.
        at: usize,
        /// What was expected.
        message: String,
    },
    /// The call is to something other than `ImageDataGenerator`.
    #[error("expected a call to ImageDataGenerator(...), found {found}(...)")]
    NotImageDataGenerator {
        /// The function called.
        found: String,
    },
    /// Keyword arguments that `ImageDataGenerator` does not have.
    #[error("ImageDataGenerator has no parameter {}", describe_unknown(.0))]
    UnknownParameters(Vec<UnknownParameter>),
    /// A keyword given twice (a `SyntaxError` in Python).
    #[error("parameter {0} is given twice")]
    Duplicate(String),
    /// A value of the wrong type or out of range.
    #[error("{parameter} = {found}: expected {expected}")]
    BadValue {
        /// The keyword.
        parameter: String,
        /// What it accepts.
        expected: &'static str,
        /// What was given, as Python.
        found: String,
    },
    /// Values Keras would accept but that make no sense (a zoom bound at or below 0).
    #[error(transparent)]
    Invalid(#[from] SpecError),
    /// A real Keras setting that would change the images and that we do not implement.
    #[error("{parameter} = {found} is not supported: {reason}")]
    Unsupported {
        /// The keyword.
        parameter: String,
        /// What was given, as Python.
        found: String,
        /// Why, and what to do instead.
        reason: &'static str,
    },
}

/// An unknown keyword and the Keras keyword it most resembles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownParameter {
    /// As given.
    pub name: String,
    /// The closest Keras keyword, when close enough to be a likely typo.
    pub suggestion: Option<&'static str>,
}

fn describe_unknown(unknown: &[UnknownParameter]) -> String {
    let parts: Vec<String> = unknown
        .iter()
        .map(|u| match u.suggestion {
            Some(s) => format!("'{}' (did you mean '{s}'?)", u.name),
            None => format!("'{}'", u.name),
        })
        .collect();
    format!(
        "{}; its parameters are {}",
        parts.join(", "),
        KERAS_PARAMETERS.join(", ")
    )
}

/// Parses a pasted `ImageDataGenerator(...)` call.
///
/// # Errors
/// A [`KerasCallError`] naming the offending text, keyword or value.
pub fn parse_keras_call(text: &str) -> Result<KerasCall, KerasCallError> {
    let arguments = Parser::new(text).call()?;
    let unknown: Vec<UnknownParameter> = arguments
        .iter()
        .filter(|(name, _)| !KERAS_PARAMETERS.contains(&name.as_str()))
        .map(|(name, _)| UnknownParameter {
            name: name.clone(),
            suggestion: nearest_parameter(name),
        })
        .collect();
    if !unknown.is_empty() {
        return Err(KerasCallError::UnknownParameters(unknown));
    }
    let mut spec = AugmentSpec::default();
    let mut warnings = Vec::new();
    for (name, value) in &arguments {
        apply(&mut spec, &mut warnings, name, value)?;
    }
    // Keras's constructor: each std normalisation turns its centring on.
    if spec.samplewise_std_normalization && !spec.samplewise_center {
        spec.samplewise_center = true;
        warnings.push(
            "samplewise_std_normalization turns on samplewise_center, as in Keras".to_owned(),
        );
    }
    if spec.featurewise_std_normalization && !spec.featurewise_center {
        spec.featurewise_center = true;
        warnings.push(
            "featurewise_std_normalization turns on featurewise_center, as in Keras".to_owned(),
        );
    }
    spec.validate()?;
    Ok(KerasCall { spec, warnings })
}

fn apply(
    spec: &mut AugmentSpec,
    warnings: &mut Vec<String>,
    name: &str,
    value: &Value,
) -> Result<(), KerasCallError> {
    let bad = |expected| KerasCallError::BadValue {
        parameter: name.to_owned(),
        expected,
        found: value.to_string(),
    };
    let unsupported = |reason| KerasCallError::Unsupported {
        parameter: name.to_owned(),
        found: value.to_string(),
        reason,
    };
    let flag = || value.as_bool().ok_or_else(|| bad("True or False"));
    let non_negative = || {
        value
            .as_number()
            .filter(|v| *v >= 0.0)
            .ok_or_else(|| bad("a number of at least 0"))
    };
    let pair = || {
        value
            .as_pair()
            .ok_or_else(|| bad("a list or tuple of two numbers"))
    };
    match name {
        "featurewise_center" => spec.featurewise_center = flag()?,
        "samplewise_center" => spec.samplewise_center = flag()?,
        "featurewise_std_normalization" => spec.featurewise_std_normalization = flag()?,
        "samplewise_std_normalization" => spec.samplewise_std_normalization = flag()?,
        "horizontal_flip" => spec.horizontal_flip = flag()?,
        "vertical_flip" => spec.vertical_flip = flag()?,
        "rotation_range" => spec.rotation_range = non_negative()?,
        "shear_range" => spec.shear_range = non_negative()?,
        "channel_shift_range" => spec.channel_shift_range = non_negative()?,
        "width_shift_range" => spec.width_shift_range = shift(value).ok_or_else(|| bad(SHIFT))?,
        "height_shift_range" => {
            spec.height_shift_range = shift(value).ok_or_else(|| bad(SHIFT))?;
        }
        "zoom_range" => {
            spec.zoom_range = match value.as_number() {
                Some(z) => ZoomRange::Symmetric(z),
                None => ZoomRange::Bounds(pair()?),
            };
        }
        "brightness_range" => {
            spec.brightness_range = match value {
                Value::None => None,
                _ => Some(pair()?),
            };
        }
        "fill_mode" => {
            spec.fill_mode = match value {
                Value::Str(s) => FillMode::from_name(s),
                _ => None,
            }
            .ok_or_else(|| bad("'constant', 'nearest', 'reflect' or 'wrap'"))?;
        }
        "cval" => spec.cval = value.as_number().ok_or_else(|| bad("a number"))?,
        "rescale" => {
            spec.rescale = match value {
                Value::None => None,
                _ => Some(value.as_number().ok_or_else(|| bad("a number or None"))?),
            };
        }
        "zca_whitening" => {
            if flag()? {
                return Err(unsupported(
                    "ZCA whitening needs a d²×d² matrix per image size; use \
                     featurewise_center and featurewise_std_normalization instead",
                ));
            }
        }
        "preprocessing_function" => {
            if *value != Value::None {
                return Err(unsupported(
                    "a Python function cannot run here; pick the equivalent extra \
                     (gamma, contrast, CLAHE, noise, blur, erasing, crop) in the spec",
                ));
            }
        }
        "interpolation_order" => {
            if value.as_number() != Some(1.0) {
                return Err(unsupported(
                    "only bilinear resampling (order 1, Keras's default) is implemented",
                ));
            }
        }
        "data_format" => match value {
            Value::Str(s) if s == "channels_last" || s == "channels_first" => warnings.push(
                format!("data_format = '{s}' ignored: grey images have a single channel"),
            ),
            _ => return Err(bad("'channels_last' or 'channels_first'")),
        },
        "validation_split" => {
            if value.as_number().is_some_and(|v| v != 0.0) {
                warnings.push(format!(
                    "validation_split = {value} ignored: the validation set is split by \
                     patient in the data settings"
                ));
            }
        }
        "zca_epsilon" => warnings.push(format!(
            "zca_epsilon = {value} ignored: it only matters for zca_whitening"
        )),
        "dtype" => warnings.push(format!(
            "dtype = {value} ignored: images are always float32"
        )),
        _ => {
            return Err(KerasCallError::UnknownParameters(vec![UnknownParameter {
                name: name.to_owned(),
                suggestion: nearest_parameter(name),
            }]));
        }
    }
    Ok(())
}

const SHIFT: &str = "a float, an int of at least 0, or a list of numbers";

/// Keras tells shift forms apart by Python type: int, float, or list/tuple.
fn shift(value: &Value) -> Option<ShiftRange> {
    match value {
        Value::Int(n) => u32::try_from(*n).ok().map(ShiftRange::Int),
        Value::Float(f) => Some(ShiftRange::Float(*f)),
        Value::Seq(items) if !items.is_empty() => items
            .iter()
            .map(Value::as_number)
            .collect::<Option<Vec<f64>>>()
            .map(ShiftRange::Values),
        _ => None,
    }
}

/// The Keras keyword within a few edits of `name`, if any.
fn nearest_parameter(name: &str) -> Option<&'static str> {
    KERAS_PARAMETERS
        .iter()
        .map(|&known| (edit_distance(name, known), known))
        .min()
        .filter(|(distance, _)| *distance <= 3.max(name.len() / 4))
        .map(|(_, known)| known)
}

/// Levenshtein distance.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_example_call() {
        let call = parse_keras_call(
            "ImageDataGenerator(rotation_range=5, shear_range=0.02, zoom_range=[0.9, 1.1], \
             samplewise_center=True, fill_mode='nearest')",
        )
        .expect("parses");
        assert_eq!(call.spec.rotation_range, 5.0);
        assert_eq!(call.spec.shear_range, 0.02);
        assert_eq!(call.spec.zoom_range, ZoomRange::Bounds([0.9, 1.1]));
        assert!(call.spec.samplewise_center);
        assert_eq!(call.spec.fill_mode, FillMode::Nearest);
        assert!(call.warnings.is_empty());
    }

    #[test]
    fn reads_a_notebook_paste() {
        let text = r#"
datagen = tf.keras.preprocessing.image.ImageDataGenerator(
    rescale=1./255,            # to [0, 1]
    width_shift_range=0.1,
    height_shift_range=(2, 4),
    zoom_range=0.2,
    brightness_range=(0.8, 1.2),
    horizontal_flip=False,
    samplewise_std_normalization=True,
    fill_mode="constant", cval=-1e-1 * 2,
    data_format='channels_last',
)
"#;
        let call = parse_keras_call(text).expect("parses");
        let spec = &call.spec;
        assert_eq!(spec.rescale, Some(1.0 / 255.0));
        assert_eq!(spec.width_shift_range, ShiftRange::Float(0.1));
        assert_eq!(spec.height_shift_range, ShiftRange::Values(vec![2.0, 4.0]));
        assert_eq!(spec.zoom_range.bounds(), [0.8, 1.2]);
        assert_eq!(spec.brightness_range, Some([0.8, 1.2]));
        assert_eq!(spec.fill_mode, FillMode::Constant);
        assert!((spec.cval + 0.2).abs() < 1e-15);
        // Keras turns centring on with std normalisation, and we say so.
        assert!(spec.samplewise_center);
        assert_eq!(call.warnings.len(), 2, "{:?}", call.warnings);
    }

    #[test]
    fn int_and_float_shifts_differ_as_in_python() {
        let int = parse_keras_call("ImageDataGenerator(width_shift_range=5)").expect("parses");
        assert_eq!(int.spec.width_shift_range, ShiftRange::Int(5));
        let float = parse_keras_call("ImageDataGenerator(width_shift_range=5.)").expect("parses");
        assert_eq!(float.spec.width_shift_range, ShiftRange::Float(5.0));
        let quotient =
            parse_keras_call("ImageDataGenerator(width_shift_range=10/2)").expect("parses");
        assert_eq!(quotient.spec.width_shift_range, ShiftRange::Float(5.0));
    }

    #[test]
    fn unknown_parameters_are_all_named_with_suggestions() {
        let error = parse_keras_call("ImageDataGenerator(rotaton_range=5, zoom=0.1, foo=1)")
            .expect_err("unknown");
        let KerasCallError::UnknownParameters(unknown) = &error else {
            panic!("{error}");
        };
        let names: Vec<_> = unknown.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["rotaton_range", "zoom", "foo"]);
        assert_eq!(unknown[0].suggestion, Some("rotation_range"));
        let message = error.to_string();
        assert!(message.contains("'rotaton_range' (did you mean 'rotation_range'?)"));
        assert!(message.contains("'foo'"), "{message}");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let cases = [
            ("ImageDataGenerator(horizontal_flip=1)", "True or False"),
            ("ImageDataGenerator(fill_mode='mirror')", "'reflect'"),
            ("ImageDataGenerator(zoom_range=[1, 2, 3])", "two numbers"),
            ("ImageDataGenerator(zca_whitening=True)", "not supported"),
            (
                "ImageDataGenerator(preprocessing_function=preprocess_input)",
                "not supported",
            ),
            (
                "ImageDataGenerator(rotation_range=5, rotation_range=6)",
                "twice",
            ),
            ("ImageDataGenerator(5)", "positional"),
            ("ImageDataGenerator(rotation_range=5", "expected ')'"),
            ("Sequential(rotation_range=5)", "found Sequential"),
            ("ImageDataGenerator(rescale=1/0)", "division by zero"),
            ("ImageDataGenerator(zoom_range=1.2)", "zoom_range = [-0.19"),
        ];
        for (text, wanted) in cases {
            let message = parse_keras_call(text).expect_err(text).to_string();
            assert!(message.contains(wanted), "{text}: {message}");
        }
    }

    #[test]
    fn harmless_keras_parameters_only_warn() {
        let call = parse_keras_call(
            "ImageDataGenerator(zca_whitening=False, preprocessing_function=None, \
             interpolation_order=1, validation_split=0.2, dtype='float32',)",
        )
        .expect("parses");
        assert_eq!(call.spec, AugmentSpec::default());
        assert_eq!(call.warnings.len(), 2, "{:?}", call.warnings);
    }
}
