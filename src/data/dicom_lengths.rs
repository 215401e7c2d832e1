//! A walk over a DICOM file's element headers that refuses any value longer than the bytes
//! left, before dicom-rs parses it.
//!
//! Why: dicom-parser 0.10 allocates *and zeroes* an element's declared length before reading
//! it (`try_reserve_exact(len)` then `resize(len, 0)`), so a 540-byte file that claims a
//! 3 GB element makes the decoder touch 3 GB (found by fuzzing, `fuzz/fuzz_targets/images.rs`).
//! Every file here is in memory, so a declared length can be checked against what is left.
//!
//! The walk is linear: it steps *into* sequences and items (their elements follow their
//! headers) and *over* other values. Inside encapsulated pixel data (undefined-length Pixel
//! Data) the items are raw fragments and are stepped over. Only the meta group and, for the
//! native transfer syntaxes, the data set are walked; other syntaxes are refused by name later.

/// Undefined length (sequences, items, encapsulated pixel data).
const UNDEFINED: u32 = 0xFFFF_FFFF;

/// Explicit VRs whose length field is 2 bytes. Every other VR, unknown ones included, has 2
/// reserved bytes and a 4-byte length: dicom-rs reads an unknown VR as `UN`, which is long.
const SHORT_VRS: [&[u8; 2]; 21] = [
    b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT", b"PN",
    b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
];

/// How the data set after the meta group is encoded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    ExplicitLittle,
    ImplicitLittle,
    ExplicitBig,
}

/// Checks `body` (starting at `DICM`); `Err` names the first element whose declared length
/// runs past the end of the file.
pub fn check_lengths(body: &[u8]) -> Result<(), String> {
    let mut pos = 4; // after `DICM`
    let mut encoding = Encoding::ExplicitLittle;
    let mut in_meta = true;
    let mut transfer_syntax = String::new();
    let mut in_fragments = false;
    while body.len().saturating_sub(pos) >= 8 {
        let little = encoding != Encoding::ExplicitBig || in_meta;
        let u16_at = |at: usize| {
            let b = [body[at], body[at + 1]];
            if little {
                u16::from_le_bytes(b)
            } else {
                u16::from_be_bytes(b)
            }
        };
        let group = u16_at(pos);
        if in_meta && group > 0x0002 {
            in_meta = false;
            encoding = match transfer_syntax.trim_end_matches(['\0', ' ']) {
                "1.2.840.10008.1.2" => Encoding::ImplicitLittle,
                "1.2.840.10008.1.2.2" => Encoding::ExplicitBig,
                // Deflated: the data set is a zlib stream (and is refused by name).
                "1.2.840.10008.1.2.1.99" => return Ok(()),
                // Explicit little endian, the compressed syntaxes (encapsulated pixel data,
                // refused by name later), or none given: dicom-rs reads explicit VR.
                _ => Encoding::ExplicitLittle,
            };
            continue;
        }
        let u32_at = |at: usize| {
            let b = [body[at], body[at + 1], body[at + 2], body[at + 3]];
            if little {
                u32::from_le_bytes(b)
            } else {
                u32::from_be_bytes(b)
            }
        };
        let element = u16_at(pos + 2);
        let tag = format!("({group:04X},{element:04X})");
        // Items and delimiters: no VR, a 4-byte length.
        if group == 0xFFFE {
            let len = u32_at(pos + 4);
            pos += 8;
            match element {
                0xE000 if in_fragments => {
                    pos = skip(body, pos, len, &tag)?;
                }
                0xE000 if len != UNDEFINED => {
                    check(body, pos, len, &tag)?;
                }
                0xE0DD => in_fragments = false,
                _ => {}
            }
            continue;
        }
        let explicit = in_meta || encoding != Encoding::ImplicitLittle;
        let (vr, len, header) = if explicit {
            let vr = [body[pos + 4], body[pos + 5]];
            if !SHORT_VRS.contains(&&vr) {
                if body.len() - pos < 12 {
                    return Err(format!("element {tag} is cut short"));
                }
                (Some(vr), u32_at(pos + 8), 12)
            } else {
                (Some(vr), u32::from(u16_at(pos + 6)), 8)
            }
        } else {
            (None, u32_at(pos + 4), 8)
        };
        pos += header;
        if len == UNDEFINED {
            // A sequence, or encapsulated pixel data: its items follow.
            in_fragments = group == 0x7FE0 && element == 0x0010;
            continue;
        }
        check(body, pos, len, &tag)?;
        let value = &body[pos..pos + len as usize];
        let is_sequence = match vr {
            Some(vr) => &vr == b"SQ",
            // Implicit VR: a sequence's value starts with an item tag.
            None => value.len() >= 4 && value[..4] == [0xFE, 0xFF, 0x00, 0xE0],
        };
        if is_sequence {
            continue; // step into its items
        }
        if in_meta && group == 0x0002 && element == 0x0010 {
            transfer_syntax = String::from_utf8_lossy(value).into_owned();
        }
        pos += len as usize;
    }
    Ok(())
}

fn check(body: &[u8], pos: usize, len: u32, tag: &str) -> Result<(), String> {
    let left = body.len().saturating_sub(pos);
    if len as usize > left {
        Err(format!(
            "element {tag} claims {len} bytes but only {left} are left in the file"
        ))
    } else {
        Ok(())
    }
}

fn skip(body: &[u8], pos: usize, len: u32, tag: &str) -> Result<usize, String> {
    check(body, pos, len, tag)?;
    Ok(pos + len as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Explicit VR little endian element bytes.
    fn element(group: u16, element: u16, vr: &[u8; 2], value: &[u8], long: bool) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(group.to_le_bytes());
        out.extend(element.to_le_bytes());
        out.extend(vr);
        if long {
            out.extend([0, 0]);
            out.extend((value.len() as u32).to_le_bytes());
        } else {
            out.extend((value.len() as u16).to_le_bytes());
        }
        out.extend(value);
        out
    }

    fn file(data_set: &[u8]) -> Vec<u8> {
        let mut out = b"DICM".to_vec();
        out.extend(element(
            0x0002,
            0x0010,
            b"UI",
            b"1.2.840.10008.1.2.1\0",
            false,
        ));
        out.extend(data_set);
        out
    }

    #[test]
    fn a_well_formed_file_passes() {
        let mut data = element(0x0028, 0x0010, b"US", &4u16.to_le_bytes(), false);
        data.extend(element(0x7FE0, 0x0010, b"OW", &[0; 32], true));
        assert_eq!(check_lengths(&file(&data)), Ok(()));
    }

    #[test]
    fn a_value_longer_than_the_file_is_refused() {
        let mut data = element(0x0028, 0x0010, b"US", &4u16.to_le_bytes(), false);
        let mut pixel = element(0x7FE0, 0x0010, b"OW", &[0; 8], true);
        // Claim 3 GB.
        pixel[8..12].copy_from_slice(&3_000_000_000u32.to_le_bytes());
        data.extend(pixel);
        let err = check_lengths(&file(&data)).unwrap_err();
        assert!(err.contains("(7FE0,0010) claims 3000000000 bytes"), "{err}");
    }

    #[test]
    fn a_long_element_inside_a_sequence_is_refused() {
        let mut inner = element(0x0008, 0x0100, b"OB", &[0; 4], true);
        inner[8..12].copy_from_slice(&u32::MAX.wrapping_sub(1).to_le_bytes());
        let mut item = vec![0xFE, 0xFF, 0x00, 0xE0];
        item.extend((inner.len() as u32).to_le_bytes());
        item.extend(&inner);
        let sequence = element(0x0008, 0x1140, b"SQ", &item, true);
        assert!(check_lengths(&file(&sequence)).is_err());
    }

    #[test]
    fn the_fuzzer_findings_are_refused() {
        for bytes in [
            &include_bytes!("../../tests/fixtures/fuzz/dicom-huge-element-length")[..],
            &include_bytes!("../../tests/fixtures/fuzz/dicom-zeroed-3gb")[..],
            &include_bytes!("../../tests/fixtures/fuzz/dicom-unknown-vr")[..],
        ] {
            let result = check_lengths(&bytes[128..]);
            assert!(result.is_err(), "{result:?}");
        }
    }
}
