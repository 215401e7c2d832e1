//! DICOM Part 10 bytes into the same [`GreyImage`] as PNG and JPEG.
//!
//! Read with `dicom-object` (pure Rust, no pixel codecs: `dicom-pixeldata` would bring image
//! codecs and, by default, rayon). Only **uncompressed** pixel data is decoded, here, from the
//! Pixel Data element: Implicit VR Little Endian, Explicit VR Little Endian and (retired)
//! Explicit VR Big Endian. Any other transfer syntax (JPEG, JPEG-LS, JPEG 2000, RLE, deflate) is
//! an [`ImageErrorKind::CompressedDicom`] naming it.
//!
//! From stored values to grey, as PS3.3 describes:
//! 1. **Stored value**: Bits Allocated 8 or 16; the Bits Stored bits ending at High Bit are kept;
//!    Pixel Representation 1 means two's complement (sign-extended from Bits Stored).
//! 2. **Modality LUT**: `x = stored * Rescale Slope + Rescale Intercept` (defaults 1 and 0).
//! 3. **VOI LUT**: with Window Center `c` and Window Width `w ≥ 1` (the first pair when several
//!    are given), the linear function of PS3.3 C.11.2.1.2.1: 0 if `x ≤ c − 0.5 − (w−1)/2`, 255
//!    if `x > c − 0.5 + (w−1)/2`, else `((x − (c − 0.5)) / (w − 1) + 0.5) · 255`; without a
//!    window, min–max over the frame: `(x − min) / (max − min) · 255` (a flat frame is all 0).
//!    Rounded to the nearest level. VOI LUT Sequences and the SIGMOID function are not applied.
//! 4. **Presentation**: MONOCHROME1 (white is low) is inverted, `255 − y`, so every image shows
//!    bone white.
//! 5. The first frame only, then the same resize as PNG (see `image`).

use dicom_core::Tag;
use dicom_core::value::{PrimitiveValue, Value};
use dicom_dictionary_std::{tags, uids};
use dicom_object::file::ReadPreamble;
use dicom_object::{FileMetaTable, InMemDicomObject, OpenFileOptions};

use super::dicom_lengths::check_lengths;
use super::image::{GreyImage, ImageError, ImageErrorKind, check_size, resize_grey};

/// Uncompressed transfer syntaxes whose pixel data is decoded.
const NATIVE: [&str; 3] = [
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    // Explicit VR Big Endian (retired, so its constant is deprecated in the dictionary).
    "1.2.840.10008.1.2.2",
];

/// Decodes an uncompressed grey DICOM Part 10 file (128-byte preamble, `DICM`, file meta group,
/// data set) to a `side`×`side` [`GreyImage`]. `name` names the file in errors.
///
/// # Errors
/// [`ImageErrorKind::CompressedDicom`] for compressed transfer syntaxes;
/// [`ImageErrorKind::UnsupportedDicom`] for colour, no pixel data, or unusual bit depths;
/// [`ImageErrorKind::TooLarge`] above the limits of `image`; [`ImageErrorKind::Corrupt`] for a
/// damaged or truncated file.
pub fn decode_dicom(name: &str, bytes: &[u8], side: u32) -> Result<GreyImage, ImageError> {
    decode_inner(bytes, side).map_err(|kind| kind.at(name))
}

fn corrupt(detail: impl ToString) -> ImageErrorKind {
    ImageErrorKind::Corrupt {
        format: "DICOM",
        detail: detail.to_string(),
    }
}

fn unsupported(what: impl Into<String>) -> ImageErrorKind {
    ImageErrorKind::UnsupportedDicom(what.into())
}

fn decode_inner(bytes: &[u8], side: u32) -> Result<GreyImage, ImageErrorKind> {
    if bytes.is_empty() {
        return Err(ImageErrorKind::Empty);
    }
    // Part 10: 128-byte preamble then `DICM`; accept the preamble-less form too.
    let body = if bytes.get(128..132) == Some(b"DICM") {
        &bytes[128..]
    } else if bytes.starts_with(b"DICM") {
        bytes
    } else {
        return Err(corrupt(
            "no 'DICM' marker after the 128-byte preamble; raw data sets without a file meta group are not read",
        ));
    };
    // The transfer syntax first, from the meta group alone: a deflated or compressed data set
    // is refused by name before it is parsed.
    // Declared lengths against the bytes there are, before dicom-rs allocates them.
    check_lengths(body).map_err(corrupt)?;
    let meta = FileMetaTable::from_reader(body).map_err(corrupt)?;
    let uid = meta
        .transfer_syntax()
        .trim_end_matches(['\0', ' '])
        .to_owned();
    if !NATIVE.contains(&uid.as_str()) {
        let name = transfer_syntax_name(&uid);
        return Err(ImageErrorKind::CompressedDicom { uid, name });
    }
    let obj = OpenFileOptions::new()
        .read_preamble(ReadPreamble::Never)
        .from_reader(body)
        .map_err(corrupt)?;
    let obj: &InMemDicomObject = &obj;

    let samples = int(obj, tags::SAMPLES_PER_PIXEL)?.unwrap_or(1);
    if samples != 1 {
        return Err(unsupported(format!(
            "colour DICOM ({samples} samples per pixel) is not read; chest X-rays are grey (MONOCHROME1/2)"
        )));
    }
    let photometric = text(obj, tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default();
    let invert = match photometric.as_str() {
        "MONOCHROME1" => true,
        "MONOCHROME2" | "" => false,
        other => {
            return Err(unsupported(format!(
                "photometric interpretation '{other}' is not read; expected MONOCHROME1 or MONOCHROME2"
            )));
        }
    };
    let rows = int(obj, tags::ROWS)?;
    let columns = int(obj, tags::COLUMNS)?;
    let (Some(rows), Some(columns)) = (rows, columns) else {
        return Err(unsupported(
            "no Rows/Columns: this DICOM holds no image (a report or a series index?)",
        ));
    };
    let (height, width) = (
        u32::try_from(rows).map_err(|_| corrupt(format!("Rows is {rows}")))?,
        u32::try_from(columns).map_err(|_| corrupt(format!("Columns is {columns}")))?,
    );
    let bits_allocated = int(obj, tags::BITS_ALLOCATED)?.unwrap_or(16);
    if bits_allocated != 8 && bits_allocated != 16 {
        return Err(unsupported(format!(
            "Bits Allocated {bits_allocated} is not read; expected 8 or 16"
        )));
    }
    let bits_stored = int(obj, tags::BITS_STORED)?.unwrap_or(bits_allocated);
    let high_bit = int(obj, tags::HIGH_BIT)?.unwrap_or(bits_stored - 1);
    if !(1..=bits_allocated).contains(&bits_stored)
        || high_bit < bits_stored - 1
        || high_bit >= bits_allocated
    {
        return Err(corrupt(format!(
            "Bits Stored {bits_stored} / High Bit {high_bit} do not fit Bits Allocated {bits_allocated}"
        )));
    }
    let signed = int(obj, tags::PIXEL_REPRESENTATION)?.unwrap_or(0) == 1;
    let bytes_per_sample = (bits_allocated / 8) as usize;
    let pixel_count = u64::from(width) * u64::from(height);
    check_size(width, height, pixel_count * bytes_per_sample as u64)?;

    let data = pixel_bytes(obj)?;
    let frame_len = pixel_count as usize * bytes_per_sample;
    let frame = data.get(..frame_len).ok_or_else(|| {
        corrupt(format!(
            "Pixel Data holds {} bytes, {width}×{height} at {bits_allocated} bits needs {frame_len}; the file is truncated",
            data.len()
        ))
    })?;

    let slope = float(obj, tags::RESCALE_SLOPE).unwrap_or(1.0);
    let intercept = float(obj, tags::RESCALE_INTERCEPT).unwrap_or(0.0);
    let shift = high_bit + 1 - bits_stored;
    let mask = if bits_stored >= 32 {
        u32::MAX
    } else {
        (1u32 << bits_stored) - 1
    };
    let stored = |raw: u32| -> f64 {
        let v = (raw >> shift) & mask;
        if signed && v & (1 << (bits_stored - 1)) != 0 {
            f64::from(v) - f64::from(mask) - 1.0
        } else {
            f64::from(v)
        }
    };
    let values: Vec<f64> = if bytes_per_sample == 1 {
        frame
            .iter()
            .map(|b| stored(u32::from(*b)) * slope + intercept)
            .collect()
    } else {
        frame
            .chunks_exact(2)
            .map(|c| stored(u32::from(u16::from_le_bytes([c[0], c[1]]))) * slope + intercept)
            .collect()
    };

    let window = window(obj);
    let grey: Vec<u8> = match window {
        Some((center, width)) => values
            .iter()
            .map(|x| voi_linear(*x, center, width))
            .collect(),
        None => {
            let (min, max) = values
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                    (lo.min(*x), hi.max(*x))
                });
            values.iter().map(|x| min_max(*x, min, max)).collect()
        }
    };
    drop(values);
    let grey = if invert {
        grey.into_iter().map(|v| 255 - v).collect()
    } else {
        grey
    };
    Ok(resize_grey(grey, width, height, side))
}

/// PS3.3 C.11.2.1.2.1 linear VOI function onto 0–255, rounded.
#[must_use]
pub fn voi_linear(x: f64, center: f64, width: f64) -> u8 {
    let low = center - 0.5 - (width - 1.0) / 2.0;
    let high = center - 0.5 + (width - 1.0) / 2.0;
    if x <= low {
        0
    } else if x > high {
        255
    } else {
        let y = ((x - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0;
        y.round().clamp(0.0, 255.0) as u8
    }
}

/// `x` scaled from `[min, max]` onto 0–255, rounded; 0 when `max == min`.
fn min_max(x: f64, min: f64, max: f64) -> u8 {
    if max > min {
        ((x - min) / (max - min) * 255.0).round().clamp(0.0, 255.0) as u8
    } else {
        0
    }
}

/// The first Window Center / Window Width pair, when present and usable (`width ≥ 1`).
fn window(obj: &InMemDicomObject) -> Option<(f64, f64)> {
    let first = |tag: Tag| -> Option<f64> {
        obj.element_opt(tag)
            .ok()
            .flatten()?
            .to_multi_float64()
            .ok()?
            .first()
            .copied()
    };
    let center = first(tags::WINDOW_CENTER)?;
    let width = first(tags::WINDOW_WIDTH)?;
    (width >= 1.0 && center.is_finite() && width.is_finite()).then_some((center, width))
}

/// The Pixel Data as little-endian bytes, whatever VR it was read with.
fn pixel_bytes(obj: &InMemDicomObject) -> Result<Vec<u8>, ImageErrorKind> {
    let element = obj
        .element_opt(tags::PIXEL_DATA)
        .map_err(corrupt)?
        .ok_or_else(|| unsupported("no Pixel Data: this DICOM holds no image"))?;
    match element.value() {
        Value::Primitive(PrimitiveValue::U8(bytes)) => Ok(bytes.to_vec()),
        // OW: read as 16-bit words in the file's byte order; back to little-endian bytes.
        Value::Primitive(PrimitiveValue::U16(words)) => {
            Ok(words.iter().flat_map(|w| w.to_le_bytes()).collect())
        }
        Value::Primitive(PrimitiveValue::Empty) => Err(corrupt("Pixel Data is empty")),
        Value::PixelSequence(_) => Err(ImageErrorKind::CompressedDicom {
            uid: "(encapsulated)".to_owned(),
            name: "encapsulated pixel data",
        }),
        _ => Err(corrupt("Pixel Data has an unexpected value type")),
    }
}

/// An integer element, `None` when absent.
fn int(obj: &InMemDicomObject, tag: Tag) -> Result<Option<i64>, ImageErrorKind> {
    match obj.element_opt(tag).map_err(corrupt)? {
        None => Ok(None),
        Some(e) if e.value().primitive() == Some(&PrimitiveValue::Empty) => Ok(None),
        Some(e) => e
            .to_int::<i64>()
            .map(Some)
            .map_err(|err| corrupt(format!("tag {tag}: {err}"))),
    }
}

/// A decimal element, `None` when absent or unreadable.
fn float(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    obj.element_opt(tag)
        .ok()
        .flatten()?
        .to_multi_float64()
        .ok()?
        .first()
        .copied()
        .filter(|v| v.is_finite())
}

/// A text element, trimmed; `None` when absent.
fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.element_opt(tag).ok().flatten()?;
    Some(e.to_str().ok()?.trim_matches(['\0', ' ']).to_owned())
}

/// A readable name for a transfer syntax UID.
fn transfer_syntax_name(uid: &str) -> &'static str {
    match uid {
        uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN => "Deflated Explicit VR Little Endian",
        uids::JPEG_BASELINE8_BIT => "JPEG Baseline",
        uids::JPEG_EXTENDED12_BIT => "JPEG Extended",
        uids::JPEG_LOSSLESS => "JPEG Lossless",
        uids::JPEG_LOSSLESS_SV1 => "JPEG Lossless SV1",
        uids::JPEGLS_LOSSLESS => "JPEG-LS Lossless",
        uids::JPEGLS_NEAR_LOSSLESS => "JPEG-LS Near-Lossless",
        uids::JPEG2000_LOSSLESS => "JPEG 2000 Lossless",
        uids::JPEG2000 => "JPEG 2000",
        uids::RLE_LOSSLESS => "RLE Lossless",
        _ if uid.starts_with("1.2.840.10008.1.2.4.2") => "HTJ2K",
        _ if uid.starts_with("1.2.840.10008.1.2.4.") => "a JPEG-family compression",
        _ => "an unknown transfer syntax",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::image::decode_grey;
    use dicom_core::{DataElement, VR};
    use dicom_object::FileMetaTableBuilder;

    /// Writes a grey DICOM Part 10 file (Explicit VR Little Endian unless `ts` says otherwise).
    pub(crate) fn write_dicom(
        width: u16,
        height: u16,
        photometric: &str,
        pixels: PixelInput,
        extra: Vec<DataElement<InMemDicomObject>>,
        ts: &str,
    ) -> Vec<u8> {
        let (bits, pixel_representation, value, vr) = match pixels {
            PixelInput::U8(v) => (8u16, 0u16, PrimitiveValue::from(v), VR::OB),
            PixelInput::U16(v) => (16, 0, PrimitiveValue::U16(v.into()), VR::OW),
            PixelInput::I16(v) => (
                16,
                1,
                PrimitiveValue::U16(v.iter().map(|x| *x as u16).collect()),
                VR::OW,
            ),
        };
        let mut elements = vec![
            DataElement::new(
                tags::SOP_CLASS_UID,
                VR::UI,
                uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
            ),
            DataElement::new(tags::SOP_INSTANCE_UID, VR::UI, "2.25.1234567890"),
            DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
            DataElement::new(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, photometric),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(height)),
            DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(width)),
            DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(bits)),
            DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(bits)),
            DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(bits - 1)),
            DataElement::new(
                tags::PIXEL_REPRESENTATION,
                VR::US,
                PrimitiveValue::from(pixel_representation),
            ),
            DataElement::new(tags::PIXEL_DATA, vr, value),
        ];
        for e in extra {
            elements.retain(|x| x.header().tag != e.header().tag);
            elements.push(e);
        }
        let obj = InMemDicomObject::from_element_iter(elements)
            .with_meta(FileMetaTableBuilder::new().transfer_syntax(ts))
            .unwrap();
        let mut out = Vec::new();
        obj.write_all(&mut out).unwrap();
        out
    }

    pub(crate) enum PixelInput {
        U8(Vec<u8>),
        U16(Vec<u16>),
        I16(Vec<i16>),
    }

    fn ds(tag: Tag, value: &str) -> DataElement<InMemDicomObject> {
        DataElement::new(tag, VR::DS, value)
    }

    /// A 4×4 gradient 0, 100, …, 1500 (16-bit), window c=800 w=1001.
    fn gradient() -> Vec<u16> {
        (0..16).map(|i| i * 100).collect()
    }

    fn expected_window(x: f64, c: f64, w: f64) -> u8 {
        // By hand, PS3.3 C.11.2.1.2.1.
        if x <= c - 0.5 - (w - 1.0) / 2.0 {
            0
        } else if x > c - 0.5 + (w - 1.0) / 2.0 {
            255
        } else {
            (((x - (c - 0.5)) / (w - 1.0) + 0.5) * 255.0).round() as u8
        }
    }

    /// Writes small DICOMs of each kind the decoder handles into `fuzz/seeds/images`, as seeds
    /// for `scripts/fuzz.sh`. Run by hand: `cargo test --release --lib write_fuzz_seeds -- --ignored`.
    #[test]
    #[ignore = "writes the fuzz seeds; run by hand"]
    fn write_fuzz_seeds() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/seeds/images");
        std::fs::create_dir_all(dir).unwrap();
        let window = || {
            vec![
                ds(tags::WINDOW_CENTER, "800"),
                ds(tags::WINDOW_WIDTH, "1001"),
            ]
        };
        let rescale = || {
            vec![
                ds(tags::RESCALE_SLOPE, "2"),
                ds(tags::RESCALE_INTERCEPT, "-1024"),
            ]
        };
        let seeds = [
            (
                "mono2_u16_window.dcm",
                "MONOCHROME2",
                PixelInput::U16(gradient()),
                window(),
                uids::EXPLICIT_VR_LITTLE_ENDIAN,
            ),
            (
                "mono1_u8.dcm",
                "MONOCHROME1",
                PixelInput::U8((0..16).map(|i| i * 16).collect()),
                vec![],
                uids::EXPLICIT_VR_LITTLE_ENDIAN,
            ),
            (
                "mono2_i16_rescale.dcm",
                "MONOCHROME2",
                PixelInput::I16((0..16).map(|i| i * 64 - 512).collect()),
                rescale(),
                uids::IMPLICIT_VR_LITTLE_ENDIAN,
            ),
        ];
        for (name, photometric, pixels, extra, ts) in seeds {
            let bytes = write_dicom(4, 4, photometric, pixels, extra, ts);
            std::fs::write(format!("{dir}/{name}"), bytes).unwrap();
        }
    }

    #[test]
    fn monochrome2_windowed() {
        let extra = vec![
            ds(tags::WINDOW_CENTER, "800"),
            ds(tags::WINDOW_WIDTH, "1001"),
        ];
        let bytes = write_dicom(
            4,
            4,
            "MONOCHROME2",
            PixelInput::U16(gradient()),
            extra,
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
        );
        let img = decode_grey("a.dcm", &bytes, 4).unwrap();
        let expected: Vec<u8> = gradient()
            .iter()
            .map(|v| expected_window(f64::from(*v), 800.0, 1001.0))
            .collect();
        assert_eq!(img.pixels, expected);
        // Hand values: x=300 is at the low edge 800-0.5-500 = 299.5 → just above: (300-799.5)/1000+0.5 = 0.0005 → 0.
        assert_eq!(img.pixels[..4], [0, 0, 0, 0]);
        assert_eq!(img.pixels[8], 128); // x=800: ((800 - 799.5) / 1000 + 0.5) * 255 = 127.6
    }

    #[test]
    fn monochrome1_is_inverted_with_rescale() {
        // Stored 0..15 * 100, slope 2, intercept -1000: x = 2 v - 1000, from -1000 to 2000.
        let extra = vec![
            ds(tags::RESCALE_SLOPE, "2"),
            ds(tags::RESCALE_INTERCEPT, "-1000"),
            ds(tags::WINDOW_CENTER, "500\\0"),
            ds(tags::WINDOW_WIDTH, "2001\\10"),
        ];
        let bytes = write_dicom(
            4,
            4,
            "MONOCHROME1",
            PixelInput::U16(gradient()),
            extra,
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
        );
        let img = decode_grey("b.dcm", &bytes, 4).unwrap();
        let expected: Vec<u8> = gradient()
            .iter()
            .map(|v| 255 - expected_window(2.0 * f64::from(*v) - 1000.0, 500.0, 2001.0))
            .collect();
        assert_eq!(img.pixels, expected);
        assert_eq!(img.pixels[0], 255); // lowest value is white in MONOCHROME1
        assert_eq!(img.pixels[15], 0);
    }

    #[test]
    fn min_max_without_window_8_bit_and_implicit() {
        let raw: Vec<u8> = (0..16).map(|i| 50 + i * 10).collect(); // 50..200
        let bytes = write_dicom(
            4,
            4,
            "MONOCHROME2",
            PixelInput::U8(raw.clone()),
            vec![],
            uids::IMPLICIT_VR_LITTLE_ENDIAN,
        );
        let img = decode_grey("c.dcm", &bytes, 4).unwrap();
        let expected: Vec<u8> = raw
            .iter()
            .map(|v| ((f64::from(*v) - 50.0) / 150.0 * 255.0).round() as u8)
            .collect();
        assert_eq!(img.pixels, expected);
        assert_eq!((img.pixels[0], img.pixels[15]), (0, 255));
    }

    #[test]
    fn signed_and_bits_stored() {
        // Signed 16-bit, -800..700, min–max.
        let raw: Vec<i16> = (0..16).map(|i| i * 100 - 800).collect();
        let bytes = write_dicom(
            4,
            4,
            "MONOCHROME2",
            PixelInput::I16(raw.clone()),
            vec![],
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
        );
        let img = decode_grey("s.dcm", &bytes, 4).unwrap();
        let expected: Vec<u8> = raw
            .iter()
            .map(|v| ((f64::from(*v) + 800.0) / 1500.0 * 255.0).round() as u8)
            .collect();
        assert_eq!(img.pixels, expected);

        // 12 bits stored in 16: the top 4 bits hold junk that must be masked off.
        let raw: Vec<u16> = (0..16).map(|i| (i * 256) | 0xF000).collect();
        let extra = vec![
            DataElement::new(tags::BITS_STORED, VR::US, PrimitiveValue::from(12u16)),
            DataElement::new(tags::HIGH_BIT, VR::US, PrimitiveValue::from(11u16)),
        ];
        let bytes = write_dicom(
            4,
            4,
            "MONOCHROME2",
            PixelInput::U16(raw),
            extra,
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
        );
        let img = decode_grey("m.dcm", &bytes, 4).unwrap();
        let expected: Vec<u8> = (0..16)
            .map(|i| (f64::from(i) / 15.0 * 255.0).round() as u8)
            .collect();
        assert_eq!(img.pixels, expected);
    }

    #[test]
    fn resized_like_png() {
        let raw: Vec<u8> = (0..64 * 64).map(|i| (i % 64 * 4) as u8).collect();
        let bytes = write_dicom(
            64,
            64,
            "MONOCHROME2",
            PixelInput::U8(raw.clone()),
            vec![],
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
        );
        let img = decode_grey("r.dcm", &bytes, 224).unwrap();
        assert_eq!(img.pixels.len(), 224 * 224);
        let png = crate::data::image::tests::png(64, 64, image::ExtendedColorType::L8, &raw);
        // min–max maps 0..252 onto 0..255, so not byte-identical to the PNG; same shape.
        let from_png = decode_grey("r.png", &png, 224).unwrap();
        assert!((img.mean() - from_png.mean() * 255.0 / 252.0).abs() < 1.0);
    }

    #[test]
    fn compressed_and_broken() {
        // A JPEG Baseline meta group with native-looking data: refused by its transfer syntax.
        let bytes = write_dicom(
            4,
            4,
            "MONOCHROME2",
            PixelInput::U8(vec![0; 16]),
            vec![],
            uids::JPEG_BASELINE8_BIT,
        );
        let err = decode_grey("j.dcm", &bytes, 4).unwrap_err();
        assert_eq!(
            err.kind,
            ImageErrorKind::CompressedDicom {
                uid: uids::JPEG_BASELINE8_BIT.to_owned(),
                name: "JPEG Baseline"
            }
        );
        assert!(
            err.to_string()
                .contains("JPEG Baseline, transfer syntax 1.2.840.10008.1.2.4.50"),
            "{err}"
        );

        let good = write_dicom(
            16,
            16,
            "MONOCHROME2",
            PixelInput::U16(vec![7; 256]),
            vec![],
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
        );
        for cut in [130, 140, 200, good.len() - 100, good.len() - 1] {
            let err = decode_dicom("t.dcm", &good[..cut], 4).unwrap_err();
            assert!(
                matches!(
                    err.kind,
                    ImageErrorKind::Corrupt {
                        format: "DICOM",
                        ..
                    }
                ),
                "cut {cut}: {err}"
            );
        }
        let colour = write_dicom(
            2,
            2,
            "RGB",
            PixelInput::U8(vec![0; 4]),
            vec![],
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
        );
        assert!(matches!(
            decode_dicom("c.dcm", &colour, 4).unwrap_err().kind,
            ImageErrorKind::UnsupportedDicom(_)
        ));
        // A flat image is all black, not a division by zero.
        let flat = write_dicom(
            2,
            2,
            "MONOCHROME2",
            PixelInput::U16(vec![9; 4]),
            vec![],
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
        );
        assert_eq!(decode_dicom("f.dcm", &flat, 2).unwrap().pixels, vec![0; 4]);
    }
}
