//! PNG and JPEG bytes into one square grey image at the working resolution ([`GreyImage`]).
//!
//! Pure Rust over bytes (no filesystem, no threads), so it runs the same natively and in the
//! browser. The steps, each a choice:
//!
//! 1. **Sniff the format from the bytes**, never the extension ([`sniff`]): a PDF renamed `.png`
//!    is "not an image (looks like a PDF)", a DICOM goes to `dicom`.
//! 2. **Check the header dimensions before decoding**: above [`MAX_SIDE`] pixels a side,
//!    [`MAX_PIXELS`] pixels or [`MAX_DECODED_BYTES`] of decoded samples the image is refused
//!    with [`ImageErrorKind::TooLarge`]. An 8000×8000 PNG is read in 8-bit grey (64 MB decoded),
//!    16-bit grey, RGB or RGBA (256 MB); a 16-bit RGB(A) one of that size (384–512 MB) is
//!    refused, with the reason. Peak memory is the decoded samples plus the full-size grey copy.
//! 3. **Grey (luma)** as PIL's `convert("L")` (ITU-R 601-2: `(19595 R + 38470 G + 7471 B) / 2^16`,
//!    rounded). Alpha is ignored: X-ray exports with alpha carry it opaque, and compositing would
//!    invent a background. 16-bit samples become 8-bit as `round(v / 257)`, so 65535 → 255 and
//!    the low byte counts (not a truncation to the high byte).
//! 4. **Resize to `side`×`side` by stretching the whole image** (no crop, no padding), with a
//!    triangle filter whose support widens with the reduction (area-like when shrinking, bilinear
//!    when enlarging). NIH ChestX-ray14 images are square, so they are only scaled; a portrait
//!    CheXpert image is squeezed a little rather than losing its apices or costophrenic angles,
//!    as CheXNet-style pipelines do (`Resize((224, 224))`).
//! 5. **Store as `u8`**: 224² bytes an image, so 5,000 images are ~250 MB (see `store`).
//!
//! Bad input is an [`ImageError`] naming the file, never a panic.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder as _, ImageFormat, ImageReader, Limits};

/// The default working resolution (side of the square, in pixels): DenseNet121's ImageNet input
/// size, used by CheXNet.
pub const DEFAULT_SIDE: u32 = 224;

/// Largest accepted width or height, in pixels. Chest radiographs are at most ~4,300 px a side
/// (43 cm detectors at 0.1 mm); 10,000 leaves room for scanned films.
pub const MAX_SIDE: u32 = 10_000;

/// Largest accepted image area, in pixels (100 megapixels).
pub const MAX_PIXELS: u64 = 100_000_000;

/// Largest accepted decoded buffer, in bytes (256 MiB): the decoded samples are held at once
/// before conversion to grey, in a browser tab whose wasm32 memory is at most 4 GB. 8000² 8-bit
/// grey is 64 MB, RGBA 256 MB (accepted); 8000² 16-bit RGB is 384 MB (refused).
pub const MAX_DECODED_BYTES: u64 = 256 * 1024 * 1024;

/// One image, grey, square, at the working resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GreyImage {
    /// Side of the square, in pixels.
    pub side: u32,
    /// `side * side` grey levels, row by row, 0 black to 255 white (as displayed: MONOCHROME1
    /// DICOMs are already inverted).
    pub pixels: Vec<u8>,
    /// Width of the source image before resizing, in pixels.
    pub source_width: u32,
    /// Height of the source image before resizing, in pixels.
    pub source_height: u32,
}

impl GreyImage {
    /// Mean grey level, 0–255.
    #[must_use]
    pub fn mean(&self) -> f64 {
        mean_u8(&self.pixels)
    }
}

/// What a file's first bytes say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniffed {
    /// A PNG image.
    Png,
    /// A JPEG image.
    Jpeg,
    /// A DICOM Part 10 file (`DICM` after the 128-byte preamble).
    Dicom,
    /// An image in a format not read here (GIF, TIFF, BMP, WebP, …).
    OtherImage(&'static str),
    /// Not an image: a PDF, a ZIP, text, … (the name of what it looks like).
    NotImage(&'static str),
}

/// Tells the format from the first bytes of a file.
#[must_use]
pub fn sniff(bytes: &[u8]) -> Sniffed {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"\x89PNG\r\n\x1a\n") {
        Sniffed::Png
    } else if starts(&[0xFF, 0xD8, 0xFF]) {
        Sniffed::Jpeg
    } else if bytes.get(128..132) == Some(b"DICM") {
        Sniffed::Dicom
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Sniffed::OtherImage("GIF")
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        Sniffed::OtherImage("TIFF")
    } else if starts(b"BM") {
        Sniffed::OtherImage("BMP")
    } else if starts(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Sniffed::OtherImage("WebP")
    } else if starts(&[0xFF, 0x4F, 0xFF, 0x51]) || starts(b"\0\0\0\x0CjP  ") {
        Sniffed::OtherImage("JPEG 2000")
    } else if bytes
        .get(4..12)
        .is_some_and(|b| b == b"ftypheic" || b == b"ftypavif")
    {
        Sniffed::OtherImage("HEIC/AVIF")
    } else if starts(b"%PDF") {
        Sniffed::NotImage("a PDF")
    } else if starts(b"PK\x03\x04") {
        Sniffed::NotImage("a ZIP archive")
    } else if starts(b"\x1f\x8b") {
        Sniffed::NotImage("a gzip archive")
    } else if starts(b"<") || starts(b"\xEF\xBB\xBF<") {
        Sniffed::NotImage("HTML or XML")
    } else if !bytes.is_empty() && bytes.iter().take(512).all(|b| b.is_ascii() && *b != 0) {
        Sniffed::NotImage("text")
    } else {
        Sniffed::NotImage("an unknown binary file")
    }
}

/// An image that could not be read: which file, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {kind}")]
pub struct ImageError {
    /// The file, as named by the caller.
    pub file: String,
    /// What is wrong.
    pub kind: ImageErrorKind,
}

/// Why an image could not be read; each message says what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImageErrorKind {
    /// Zero bytes.
    #[error("the file is empty (0 bytes); copy it again")]
    Empty,
    /// The bytes are not an image at all.
    #[error("not an image (looks like {0}); only PNG, JPEG and DICOM files are read")]
    NotAnImage(&'static str),
    /// An image format that is not read.
    #[error("{0} images are not read; convert it to PNG")]
    UnsupportedFormat(&'static str),
    /// Above the documented limits; nothing was decoded.
    #[error("{width}×{height} pixels is too large: {limit}; downscale it (to e.g. 2048 px a side)")]
    TooLarge {
        /// Width from the header.
        width: u32,
        /// Height from the header.
        height: u32,
        /// Which limit, in words.
        limit: String,
    },
    /// The decoder failed: a truncated or damaged file.
    #[error("corrupt or truncated {format} file ({detail}); export it again")]
    Corrupt {
        /// PNG, JPEG or DICOM.
        format: &'static str,
        /// The decoder's message.
        detail: String,
    },
    /// A DICOM whose pixel data is compressed; only uncompressed pixel data is decoded.
    #[error(
        "compressed DICOM ({name}, transfer syntax {uid}) is not read; export it uncompressed (Explicit VR Little Endian), e.g. `gdcmconv --raw` or `dcmdjpeg`"
    )]
    CompressedDicom {
        /// The transfer syntax UID.
        uid: String,
        /// Its name.
        name: &'static str,
    },
    /// A DICOM that is readable but not a single-channel grey image this code handles.
    #[error("{0}")]
    UnsupportedDicom(String),
}

impl ImageErrorKind {
    /// Attaches the file name.
    #[must_use]
    pub fn at(self, file: &str) -> ImageError {
        ImageError {
            file: file.to_owned(),
            kind: self,
        }
    }
}

/// Decodes a PNG or JPEG (format sniffed from the bytes) into a grey `side`×`side` image; DICOM
/// bytes are handed to [`super::dicom::decode_dicom`]. `name` names the file in errors.
///
/// # Errors
/// [`ImageError`] for an empty file, a non-image, an unsupported format, an image over the
/// limits (checked from the header, before decoding) or a corrupt/truncated file.
pub fn decode_grey(name: &str, bytes: &[u8], side: u32) -> Result<GreyImage, ImageError> {
    if bytes.is_empty() {
        return Err(ImageErrorKind::Empty.at(name));
    }
    let (format, label) = match sniff(bytes) {
        Sniffed::Png => (ImageFormat::Png, "PNG"),
        Sniffed::Jpeg => (ImageFormat::Jpeg, "JPEG"),
        Sniffed::Dicom => return super::dicom::decode_dicom(name, bytes, side),
        Sniffed::OtherImage(what) => return Err(ImageErrorKind::UnsupportedFormat(what).at(name)),
        Sniffed::NotImage(what) => return Err(ImageErrorKind::NotAnImage(what).at(name)),
    };
    let corrupt = |e: image::ImageError| {
        ImageErrorKind::Corrupt {
            format: label,
            detail: e.to_string(),
        }
        .at(name)
    };
    // The size check from the header alone, before any decoder allocates.
    if let Some((width, height, bytes_per_pixel)) = header_dimensions(format, bytes) {
        check_size(width, height, decoded_bytes(width, height, bytes_per_pixel))
            .map_err(|k| k.at(name))?;
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_DECODED_BYTES + (64 << 20));
    reader.limits(limits);
    // Reads only the header: dimensions and sample type.
    let decoder = reader.into_decoder().map_err(corrupt)?;
    let (width, height) = decoder.dimensions();
    check_size(width, height, decoder.total_bytes()).map_err(|k| k.at(name))?;
    let decoded = DynamicImage::from_decoder(decoder).map_err(corrupt)?;
    let grey = to_grey(decoded).ok_or_else(|| {
        ImageErrorKind::Corrupt {
            format: label,
            detail: "unexpected sample type".to_owned(),
        }
        .at(name)
    })?;
    Ok(resize_grey(grey, width, height, side))
}

/// Width, height and decoded bytes per pixel read from a PNG's IHDR or a JPEG's SOF segment,
/// without decoding; `None` if the header is not there (the decoder then reports the damage).
#[must_use]
pub fn header_dimensions(format: ImageFormat, bytes: &[u8]) -> Option<(u32, u32, u64)> {
    let be16 = |at: usize| -> Option<u32> {
        let b = bytes.get(at..at + 2)?;
        Some(u32::from(u16::from_be_bytes([b[0], b[1]])))
    };
    let be32 = |at: usize| -> Option<u32> {
        let b = bytes.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    match format {
        ImageFormat::Png => {
            if bytes.get(12..16)? != b"IHDR" {
                return None;
            }
            let (width, height) = (be32(16)?, be32(20)?);
            let depth = u64::from(*bytes.get(24)?);
            // Grey, RGB, palette (expanded to RGBA at most), grey+alpha, RGBA.
            let channels = match bytes.get(25)? {
                0 => 1,
                2 => 3,
                4 => 2,
                _ => 4,
            };
            Some((width, height, channels * if depth > 8 { 2 } else { 1 }))
        }
        ImageFormat::Jpeg => {
            let mut at = 2;
            loop {
                if *bytes.get(at)? != 0xFF {
                    return None;
                }
                let marker = *bytes.get(at + 1)?;
                match marker {
                    0xFF => at += 1,
                    0x01 | 0xD0..=0xD8 => at += 2,
                    // Start of frame (not DHT, JPG, DAC): precision, height, width, components.
                    0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                        let (height, width) = (be16(at + 5)?, be16(at + 7)?);
                        let components = u64::from(*bytes.get(at + 9)?);
                        return Some((width, height, components.max(1)));
                    }
                    // Start of scan before any frame header: damaged.
                    0xDA | 0xD9 => return None,
                    _ => at += 2 + usize::try_from(be16(at + 2)?).ok()?,
                }
            }
        }
        _ => None,
    }
}

/// Bytes a `width`×`height` image decodes to, saturating: a forged header can claim 2^32 × 2^32
/// pixels of 8 bytes, which overflows `u64` (found by fuzzing).
fn decoded_bytes(width: u32, height: u32, bytes_per_pixel: u64) -> u64 {
    (u64::from(width) * u64::from(height)).saturating_mul(bytes_per_pixel)
}

/// Refuses images over [`MAX_SIDE`], [`MAX_PIXELS`] or [`MAX_DECODED_BYTES`], and empty ones.
pub(crate) fn check_size(
    width: u32,
    height: u32,
    decoded_bytes: u64,
) -> Result<(), ImageErrorKind> {
    let too_large = |limit: String| ImageErrorKind::TooLarge {
        width,
        height,
        limit,
    };
    if width == 0 || height == 0 {
        return Err(ImageErrorKind::Corrupt {
            format: "image",
            detail: format!("{width}×{height} pixels"),
        });
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(too_large(format!("more than {MAX_SIDE} pixels a side")));
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(too_large(format!(
            "more than {} megapixels",
            MAX_PIXELS / 1_000_000
        )));
    }
    if decoded_bytes > MAX_DECODED_BYTES {
        return Err(too_large(format!(
            "{} MiB of decoded samples, over the {} MiB limit",
            decoded_bytes >> 20,
            MAX_DECODED_BYTES >> 20
        )));
    }
    Ok(())
}

/// ITU-R 601-2 luma of 8-bit RGB, rounded (PIL's `convert("L")`).
#[must_use]
pub fn luma8(r: u8, g: u8, b: u8) -> u8 {
    let sum = 19_595 * u32::from(r) + 38_470 * u32::from(g) + 7_471 * u32::from(b);
    // At most 255 * 65536 + 32768 >> 16 = 255.
    ((sum + 32_768) >> 16) as u8
}

/// ITU-R 601-2 luma of 16-bit RGB, scaled to 8 bits with one rounding.
#[must_use]
pub fn luma16(r: u16, g: u16, b: u16) -> u8 {
    let sum = 19_595 * u64::from(r) + 38_470 * u64::from(g) + 7_471 * u64::from(b);
    let scale = 65_536 * 257;
    ((sum + scale / 2) / scale) as u8
}

/// A 16-bit grey level as 8 bits: `round(v / 257)`, so 0 → 0, 65535 → 255.
#[must_use]
pub fn grey16_to_8(v: u16) -> u8 {
    // (v + 128) / 257 ≤ 65663 / 257 = 255.
    ((u32::from(v) + 128) / 257) as u8
}

/// Converts decoded samples to 8-bit grey, ignoring alpha. `None` for float images, which PNG
/// and JPEG decoders do not produce.
fn to_grey(image: DynamicImage) -> Option<Vec<u8>> {
    Some(match image {
        DynamicImage::ImageLuma8(buf) => buf.into_raw(),
        DynamicImage::ImageLumaA8(buf) => buf.pixels().map(|p| p.0[0]).collect(),
        DynamicImage::ImageRgb8(buf) => buf
            .pixels()
            .map(|p| luma8(p.0[0], p.0[1], p.0[2]))
            .collect(),
        DynamicImage::ImageRgba8(buf) => buf
            .pixels()
            .map(|p| luma8(p.0[0], p.0[1], p.0[2]))
            .collect(),
        DynamicImage::ImageLuma16(buf) => buf.pixels().map(|p| grey16_to_8(p.0[0])).collect(),
        DynamicImage::ImageLumaA16(buf) => buf.pixels().map(|p| grey16_to_8(p.0[0])).collect(),
        DynamicImage::ImageRgb16(buf) => buf
            .pixels()
            .map(|p| luma16(p.0[0], p.0[1], p.0[2]))
            .collect(),
        DynamicImage::ImageRgba16(buf) => buf
            .pixels()
            .map(|p| luma16(p.0[0], p.0[1], p.0[2]))
            .collect(),
        _ => return None,
    })
}

/// Stretches a `width`×`height` grey image to `side`×`side` with a triangle filter (area-like
/// when shrinking). Shared with `dicom`.
pub fn resize_grey(grey: Vec<u8>, width: u32, height: u32, side: u32) -> GreyImage {
    let pixels = if width == side && height == side {
        grey
    } else {
        let buf = image::GrayImage::from_raw(width, height, grey)
            .expect("the grey buffer has width * height samples by construction");
        image::imageops::resize(&buf, side, side, image::imageops::FilterType::Triangle).into_raw()
    };
    GreyImage {
        side,
        pixels,
        source_width: width,
        source_height: height,
    }
}

/// Mean of bytes, 0–255; 0 for none.
pub(crate) fn mean_u8(values: &[u8]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let sum: u64 = values.iter().map(|v| u64::from(*v)).sum();
    sum as f64 / values.len() as f64
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use image::codecs::png::PngEncoder;
    use image::{ExtendedColorType, ImageEncoder as _};

    const SAMPLES: &str = "/work/shared/data/samples";

    /// Encodes raw samples as a PNG.
    pub(crate) fn png(width: u32, height: u32, color: ExtendedColorType, raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        PngEncoder::new(&mut out)
            .write_image(raw, width, height, color)
            .expect("encoding a PNG in memory");
        out
    }

    fn read_sample(name: &str) -> Option<Vec<u8>> {
        let path = format!("{SAMPLES}/{name}");
        match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                eprintln!("skipping: {path}: {e}");
                None
            }
        }
    }

    #[test]
    fn nih_png_matches_independent_decode() {
        let Some(bytes) = read_sample("00000001_000.png") else {
            return;
        };
        // Independent decode: the `png` crate's reader via `image`, full resolution.
        let full = image::load_from_memory(&bytes).unwrap();
        assert_eq!((full.width(), full.height()), (512, 512));
        let full = full.to_luma8();
        let full_mean = mean_u8(full.as_raw());

        let img = decode_grey("00000001_000.png", &bytes, 224).unwrap();
        assert_eq!(img.side, 224);
        assert_eq!(img.pixels.len(), 224 * 224);
        assert_eq!((img.source_width, img.source_height), (512, 512));
        // Resizing keeps the mean within a grey level.
        assert!(
            (img.mean() - full_mean).abs() < 1.0,
            "{} vs {full_mean}",
            img.mean()
        );
        // Spot check: the centre pixel against the mean of the matching 5×5 source block
        // (512/224 ≈ 2.29 source pixels per output pixel; centre of output pixel c is source
        // (c + 0.5) * 512 / 224).
        let (cx, cy) = (112u32, 112u32);
        let (sx, sy) = ((2 * cx + 1) * 512 / 448, (2 * cy + 1) * 512 / 448);
        let mut block = Vec::new();
        for y in sy - 1..=sy + 1 {
            for x in sx - 1..=sx + 1 {
                block.push(full.get_pixel(x, y).0[0]);
            }
        }
        let got = f64::from(img.pixels[(cy * 224 + cx) as usize]);
        assert!(
            (got - mean_u8(&block)).abs() < 6.0,
            "{got} vs {}",
            mean_u8(&block)
        );
        // Same at another side.
        let small = decode_grey("x.png", &bytes, 64).unwrap();
        assert_eq!(small.pixels.len(), 64 * 64);
        assert!((small.mean() - full_mean).abs() < 1.0);
    }

    #[test]
    fn rgb_jpeg_is_luma_of_independent_decode() {
        let Some(bytes) = read_sample("16747_3_1.jpg") else {
            return;
        };
        let full = image::load_from_memory(&bytes).unwrap();
        assert!(
            matches!(full, DynamicImage::ImageRgb8(_)),
            "{:?}",
            full.color()
        );
        let rgb = full.to_rgb8();
        let lumas: Vec<u8> = rgb
            .pixels()
            .map(|p| luma8(p.0[0], p.0[1], p.0[2]))
            .collect();
        // Independent luma in floating point, as PIL documents it.
        let float_mean = rgb
            .pixels()
            .map(|p| {
                0.299 * f64::from(p.0[0]) + 0.587 * f64::from(p.0[1]) + 0.114 * f64::from(p.0[2])
            })
            .sum::<f64>()
            / f64::from(rgb.width() * rgb.height());
        assert!((mean_u8(&lumas) - float_mean).abs() < 0.6);

        let img = decode_grey("16747_3_1.jpg", &bytes, 224).unwrap();
        assert_eq!(img.pixels.len(), 224 * 224);
        assert_eq!(
            (img.source_width, img.source_height),
            (rgb.width(), rgb.height())
        );
        assert!(
            (img.mean() - float_mean).abs() < 1.5,
            "{} vs {float_mean}",
            img.mean()
        );
    }

    #[test]
    fn luma_formula() {
        assert_eq!(luma8(255, 255, 255), 255);
        assert_eq!(luma8(0, 0, 0), 0);
        assert_eq!(luma8(255, 0, 0), 76); // 0.299 * 255 = 76.2
        assert_eq!(luma8(0, 255, 0), 150); // 0.587 * 255 = 149.7
        assert_eq!(luma8(0, 0, 255), 29); // 0.114 * 255 = 29.1
        assert_eq!(luma16(65_535, 65_535, 65_535), 255);
        assert_eq!(luma16(65_535, 0, 0), 76);
    }

    #[test]
    fn sixteen_bit_grey_is_rounded_not_truncated() {
        // Values chosen where round(v/257) and v >> 8 differ.
        let values: [u16; 8] = [0, 128, 129, 385, 32_767, 32_896, 65_407, 65_535];
        // The encoder takes 16-bit samples in native byte order.
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let bytes = png(8, 1, ExtendedColorType::L16, &raw);
        // Decode without resizing the width: ask for side 8 would stretch 1 row to 8, each
        // column constant, so row 0 holds the converted values.
        let img = decode_grey("g16.png", &bytes, 8).unwrap();
        for (x, v) in values.iter().enumerate() {
            let expected = (f64::from(*v) / 257.0).round() as u8;
            assert_eq!(img.pixels[x], expected, "v16 = {v}");
        }
        assert_eq!(grey16_to_8(385), 1); // 385 >> 8 = 1, 385 / 257 = 1.498
        assert_eq!(grey16_to_8(129), 1); // high byte would give 0
        assert_ne!(grey16_to_8(32_896), (32_896u16 >> 8) as u8 + 1);
        for v in 0..=u16::MAX {
            assert_eq!(grey16_to_8(v), (f64::from(v) / 257.0).round() as u8);
        }
    }

    #[test]
    fn grey_alpha_and_rgba_ignore_alpha() {
        // 2×2 grey+alpha: grey 10, 200, 30, 250 with various alpha.
        let la = png(
            2,
            2,
            ExtendedColorType::La8,
            &[10, 255, 200, 0, 30, 128, 250, 7],
        );
        let img = decode_grey("la.png", &la, 2).unwrap();
        assert_eq!(img.pixels, vec![10, 200, 30, 250]);
        let rgba = png(
            2,
            1,
            ExtendedColorType::Rgba8,
            &[255, 0, 0, 0, 10, 20, 30, 255],
        );
        let img = decode_grey("rgba.png", &rgba, 2).unwrap();
        assert_eq!(img.source_width, 2);
        // Stretched 2×1 → 2×2: both rows equal the lumas.
        assert_eq!(
            img.pixels,
            vec![76, luma8(10, 20, 30), 76, luma8(10, 20, 30)]
        );
        let rgb16: Vec<u8> = [65_535u16, 0, 0]
            .iter()
            .flat_map(|v| v.to_ne_bytes())
            .collect();
        let img =
            decode_grey("rgb16.png", &png(1, 1, ExtendedColorType::Rgb16, &rgb16), 1).unwrap();
        assert_eq!(img.pixels, vec![76]);
    }

    /// Found by fuzzing (fuzz/fuzz_targets/ingest.rs): a header claiming 2^32-1 pixels a side
    /// at 16 bits RGBA overflowed the size arithmetic (a panic in a debug build, a wrap in
    /// release). It is refused as too large.
    #[test]
    fn forged_giant_header_is_refused_not_overflowed() {
        // Wrapping, (2^32 - 1)^2 · 8 mod 2^64 is 2^64 - 2^36 + 8: a wrong size.
        assert_eq!(decoded_bytes(u32::MAX, u32::MAX, 8), u64::MAX);
        assert_eq!(decoded_bytes(1024, 1024, 2), 2 << 20);
        let bytes = png_header(u32::MAX, u32::MAX, 16, 6);
        let err = decode_grey("giant.png", &bytes, 8).unwrap_err();
        assert!(matches!(err.kind, ImageErrorKind::TooLarge { .. }), "{err}");
    }

    /// Found by fuzzing (fuzz/fuzz_targets/images.rs): 618 bytes of DICOM whose element claims a
    /// length of about 3 GB. An error, not a crash.
    #[test]
    fn dicom_with_a_huge_declared_length_is_an_error() {
        let bytes = include_bytes!("../../tests/fixtures/fuzz/dicom-huge-element-length");
        assert!(decode_grey("x.dcm", bytes, 8).is_err());
    }

    #[test]
    fn bad_files_are_errors() {
        // Noise, so that the compressed data is long; cut inside the header and inside IDAT.
        // (A file missing only its IEND chunk still holds every pixel, and is read.)
        let noise: Vec<u8> = (0..64 * 64u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        let good = png(64, 64, ExtendedColorType::L8, &noise);
        let idat = good.windows(4).position(|w| w == b"IDAT").unwrap() + 4;
        let idat_len = u32::from_be_bytes(good[idat - 8..idat - 4].try_into().unwrap()) as usize;
        assert!(idat_len > 1000, "{idat_len}");
        for cut in [
            8,
            20,
            33,
            40,
            idat + 10,
            idat + idat_len / 2,
            idat + idat_len - 1,
        ] {
            let err = decode_grey("cut.png", &good[..cut], 224).unwrap_err();
            assert!(
                matches!(err.kind, ImageErrorKind::Corrupt { format: "PNG", .. }),
                "cut at {cut}: {err}"
            );
        }
        let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n";
        let err = decode_grey("scan.png", pdf, 224).unwrap_err();
        assert_eq!(
            err.to_string(),
            "scan.png: not an image (looks like a PDF); only PNG, JPEG and DICOM files are read"
        );
        assert_eq!(
            decode_grey("e.png", b"", 224).unwrap_err().kind,
            ImageErrorKind::Empty
        );
        let gif = decode_grey("a.png", b"GIF89a\x01\0\x01\0", 224).unwrap_err();
        assert_eq!(gif.kind, ImageErrorKind::UnsupportedFormat("GIF"));
        // JPEG: header only, then garbage.
        let jpeg = decode_grey("a.jpg", &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 1, 2], 224).unwrap_err();
        assert!(
            matches!(jpeg.kind, ImageErrorKind::Corrupt { format: "JPEG", .. }),
            "{jpeg}"
        );
        // A damaged compressed stream (bytes flipped in IDAT) is an error, not a panic.
        let mut flipped = png(
            64,
            64,
            ExtendedColorType::L8,
            &(0..4096).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
        );
        let mid = flipped.len() / 2;
        for b in &mut flipped[mid..mid + 8] {
            *b ^= 0x5A;
        }
        assert!(decode_grey("flip.png", &flipped, 224).is_err());
    }

    /// CRC-32 (IEEE) for hand-made PNG chunks.
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for b in data {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// A PNG signature and IHDR claiming `width`×`height` 8-bit grey, and nothing else.
    pub(crate) fn png_header_only(width: u32, height: u32) -> Vec<u8> {
        png_header(width, height, 8, 0)
    }

    /// A PNG signature and IHDR (bit depth, colour type), and nothing else.
    fn png_header(width: u32, height: u32, depth: u8, colour: u8) -> Vec<u8> {
        let mut chunk = b"IHDR".to_vec();
        chunk.extend(width.to_be_bytes());
        chunk.extend(height.to_be_bytes());
        chunk.extend([depth, colour, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        out.extend(13u32.to_be_bytes());
        out.extend(&chunk);
        out.extend(crc32(&chunk).to_be_bytes());
        out
    }

    #[test]
    fn huge_header_is_refused_before_decoding() {
        // Only a header: a decode attempt would fail as truncated; the size check comes first.
        let err = decode_grey("huge.png", &png_header_only(20_000, 20_000), 224).unwrap_err();
        assert!(
            matches!(err.kind, ImageErrorKind::TooLarge { width: 20_000, .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("more than 10000 pixels a side"),
            "{err}"
        );
        let err = decode_grey("wide.png", &png_header_only(10_000, 10_001), 224).unwrap_err();
        assert!(matches!(err.kind, ImageErrorKind::TooLarge { .. }));
        // Under the limits, the same header-only file is a truncated PNG.
        let err = decode_grey("ok.png", &png_header_only(100, 100), 224).unwrap_err();
        assert!(matches!(err.kind, ImageErrorKind::Corrupt { .. }), "{err}");
        // 16-bit RGB 8000² would be 384 MB decoded (over the limit): refused from the header.
        let rgb16 = png_header(8000, 8000, 16, 2);
        let err = decode_grey("rgb16.png", &rgb16, 224).unwrap_err();
        assert!(
            err.to_string().contains("366 MiB of decoded samples"),
            "{err}"
        );
        assert!(check_size(8000, 8000, 8000 * 8000 * 4).is_ok());
        assert!(check_size(8000, 8000, 8000 * 8000).is_ok());
        // Header reads agree with the decoders.
        let p16 = png(3, 2, ExtendedColorType::La16, &[0; 24]);
        assert_eq!(header_dimensions(ImageFormat::Png, &p16), Some((3, 2, 4)));
        if let Some(jpeg) = read_sample("16747_3_1.jpg") {
            assert_eq!(
                header_dimensions(ImageFormat::Jpeg, &jpeg),
                Some((1036, 885, 3))
            );
        }
        if let Some(nih) = read_sample("00000001_000.png") {
            assert_eq!(
                header_dimensions(ImageFormat::Png, &nih),
                Some((512, 512, 1))
            );
        }
    }

    #[test]
    fn eight_thousand_square_png_is_read() {
        // 64 MB of one grey level with a bright square: compresses to a few hundred KB.
        let side = 8000usize;
        let mut raw = vec![40u8; side * side];
        for y in 0..side / 2 {
            raw[y * side..y * side + side / 2].fill(240);
        }
        let bytes = png(8000, 8000, ExtendedColorType::L8, &raw);
        drop(raw);
        assert!(bytes.len() < 2_000_000, "{}", bytes.len());
        let img = decode_grey("big.png", &bytes, 224).unwrap();
        assert_eq!((img.source_width, img.side), (8000, 224));
        // Top-left quarter bright, the rest dark; the mean is (240 + 3 * 40) / 4 = 90.
        assert_eq!(img.pixels[10 * 224 + 10], 240);
        assert_eq!(img.pixels[200 * 224 + 200], 40);
        assert!((img.mean() - 90.0).abs() < 0.5, "{}", img.mean());
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff(b"%PDF-1.7"), Sniffed::NotImage("a PDF"));
        assert_eq!(sniff(b"hello, world\n"), Sniffed::NotImage("text"));
        let mut dicom = vec![0u8; 128];
        dicom.extend(b"DICM");
        assert_eq!(sniff(&dicom), Sniffed::Dicom);
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xDB]), Sniffed::Jpeg);
    }
}
