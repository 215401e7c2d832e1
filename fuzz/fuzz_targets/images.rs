//! The image decoders on arbitrary bytes: PNG, JPEG and DICOM (the content picks the decoder),
//! and DICOM directly. Errors are fine; panics, and allocations beyond libFuzzer's limit, are not.
#![no_main]

use cxr_lab::data::{decode_dicom, decode_grey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(image) = decode_grey("fuzz", bytes, 32) {
        assert_eq!(image.pixels.len(), 32 * 32);
    }
    if let Ok(image) = decode_dicom("fuzz.dcm", bytes, 16) {
        assert_eq!(image.pixels.len(), 16 * 16);
    }
});
