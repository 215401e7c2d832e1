//! A read-only zip reader for `torch.save` archives, over bytes already in memory.
//!
//! PyTorch (≥ 1.6) writes its archives with every entry *stored* (uncompressed, 64-byte aligned
//! through padding in the local header's extra field) and adds ZIP64 end records. That is all
//! this reader supports: compressed entries (a `.pth` re-zipped by hand, say) are refused with a
//! sentence instead of being inflated, and encrypted or multi-disk archives likewise.
//!
//! Every offset and length read from the file is checked against the bytes actually there
//! before it is used, so a truncated or hostile file gives a [`ZipError`], never a panic or an
//! allocation sized by the file.

use std::fmt;

/// Why the bytes could not be read as a zip archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipError(pub String);

impl fmt::Display for ZipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ZipError {}

fn error<T>(message: impl Into<String>) -> Result<T, ZipError> {
    Err(ZipError(message.into()))
}

/// One file in the archive: its name and its (stored, uncompressed) bytes.
#[derive(Debug, Clone, Copy)]
pub struct ZipEntry<'a> {
    /// The name as written in the central directory, e.g. `archive/data.pkl`.
    pub name: &'a str,
    /// The entry's bytes, borrowed from the archive.
    pub data: &'a [u8],
}

/// The local file header's signature: the first four bytes of any zip file.
pub const LOCAL_HEADER_MAGIC: &[u8; 4] = b"PK\x03\x04";
const CENTRAL_HEADER_MAGIC: u32 = 0x0201_4b50;
const END_MAGIC: u32 = 0x0605_4b50;
const ZIP64_END_MAGIC: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_MAGIC: u32 = 0x0706_4b50;
const END_LEN: usize = 22;
const ZIP64_LOCATOR_LEN: usize = 20;
const CENTRAL_HEADER_LEN: usize = 46;
const LOCAL_HEADER_LEN: usize = 30;
/// The end record may be followed by a comment of at most 65,535 bytes.
const MAX_COMMENT: usize = 0xFFFF;

/// Little-endian reads at an offset, each bounds-checked.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn slice(&self, at: usize, len: usize) -> Result<&'a [u8], ZipError> {
        at.checked_add(len)
            .and_then(|end| self.0.get(at..end))
            .ok_or_else(|| ZipError("the zip archive is truncated".to_owned()))
    }

    fn u16(&self, at: usize) -> Result<u16, ZipError> {
        let b = self.slice(at, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&self, at: usize) -> Result<u32, ZipError> {
        let b = self.slice(at, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&self, at: usize) -> Result<u64, ZipError> {
        let b = self.slice(at, 8)?;
        let mut word = [0; 8];
        word.copy_from_slice(b);
        Ok(u64::from_le_bytes(word))
    }
}

fn to_usize(value: u64) -> Result<usize, ZipError> {
    usize::try_from(value).or_else(|_| error("a zip offset does not fit in memory"))
}

/// Where the central directory is and how many entries it lists.
struct Directory {
    offset: usize,
    size: usize,
    entries: usize,
}

/// Reads every entry of a zip archive held in `bytes`.
///
/// # Errors
/// A [`ZipError`] saying what is wrong: not a zip archive, truncated, compressed or encrypted
/// entries, a name that is not UTF-8.
pub fn read_entries(bytes: &[u8]) -> Result<Vec<ZipEntry<'_>>, ZipError> {
    let file = Bytes(bytes);
    let directory = find_directory(&file)?;
    // Each central header is at least 46 bytes: a count the directory cannot hold is a lie, and
    // must not size an allocation.
    if directory.entries > directory.size / CENTRAL_HEADER_LEN {
        return error("the zip directory lists more entries than it has room for");
    }
    let mut entries = Vec::with_capacity(directory.entries);
    let mut at = directory.offset;
    for _ in 0..directory.entries {
        let (entry, next) = read_entry(&file, at)?;
        entries.push(entry);
        at = next;
    }
    Ok(entries)
}

/// Finds the end-of-central-directory record (searching back over a possible comment) and,
/// where its fields are saturated, the ZIP64 record it points to.
fn find_directory(file: &Bytes<'_>) -> Result<Directory, ZipError> {
    let len = file.0.len();
    if len < END_LEN {
        return error("too short to be a zip archive");
    }
    let earliest = (len - END_LEN).saturating_sub(MAX_COMMENT);
    let end = (earliest..=len - END_LEN)
        .rev()
        .find(|&at| file.u32(at).is_ok_and(|magic| magic == END_MAGIC))
        .ok_or_else(|| ZipError("no zip directory found (truncated download?)".to_owned()))?;
    let disk = file.u16(end + 4)?;
    let directory_disk = file.u16(end + 6)?;
    let entries = file.u16(end + 10)?;
    let size = file.u32(end + 12)?;
    let offset = file.u32(end + 16)?;
    if disk != 0 || directory_disk != 0 {
        return error("multi-part zip archives are not supported");
    }
    if entries != u16::MAX && size != u32::MAX && offset != u32::MAX {
        return Ok(Directory {
            offset: offset as usize,
            size: size as usize,
            entries: usize::from(entries),
        });
    }
    // ZIP64: the locator sits just before the classic end record.
    let locator = end
        .checked_sub(ZIP64_LOCATOR_LEN)
        .ok_or_else(|| ZipError("the zip64 locator is missing".to_owned()))?;
    if file.u32(locator)? != ZIP64_LOCATOR_MAGIC {
        return error("the zip64 locator is missing");
    }
    let record = to_usize(file.u64(locator + 8)?)?;
    if file.u32(record)? != ZIP64_END_MAGIC {
        return error("the zip64 end record is missing");
    }
    Ok(Directory {
        entries: to_usize(file.u64(record + 32)?)?,
        size: to_usize(file.u64(record + 40)?)?,
        offset: to_usize(file.u64(record + 48)?)?,
    })
}

/// Reads the central header at `at` and the entry's data through its local header; returns the
/// entry and where the next central header starts.
fn read_entry<'a>(file: &Bytes<'a>, at: usize) -> Result<(ZipEntry<'a>, usize), ZipError> {
    if file.u32(at)? != CENTRAL_HEADER_MAGIC {
        return error("the zip directory is damaged");
    }
    let flags = file.u16(at + 8)?;
    let method = file.u16(at + 10)?;
    let mut compressed = u64::from(file.u32(at + 20)?);
    let mut uncompressed = u64::from(file.u32(at + 24)?);
    let name_len = usize::from(file.u16(at + 28)?);
    let extra_len = usize::from(file.u16(at + 30)?);
    let comment_len = usize::from(file.u16(at + 32)?);
    let mut local = u64::from(file.u32(at + 42)?);
    let name_bytes = file.slice(at + CENTRAL_HEADER_LEN, name_len)?;
    let name =
        std::str::from_utf8(name_bytes).or_else(|_| error("a zip entry's name is not UTF-8"))?;
    if flags & 1 != 0 {
        return error(format!("zip entry `{name}` is encrypted"));
    }
    if method != 0 {
        return error(format!(
            "zip entry `{name}` is compressed (method {method}); PyTorch stores its entries \
             uncompressed: save the file again with torch.save instead of re-zipping it"
        ));
    }
    let extra = file.slice(at + CENTRAL_HEADER_LEN + name_len, extra_len)?;
    apply_zip64_extra(extra, &mut uncompressed, &mut compressed, &mut local)?;
    if compressed != uncompressed {
        return error(format!("zip entry `{name}` has inconsistent sizes"));
    }
    let local = to_usize(local)?;
    if file.u32(local)? != u32::from_le_bytes(*LOCAL_HEADER_MAGIC) {
        return error(format!("zip entry `{name}` points to no local header"));
    }
    // The local header's name and extra field may differ from the central copy: PyTorch pads
    // the local extra field so that the data starts on a 64-byte boundary.
    let local_name_len = usize::from(file.u16(local + 26)?);
    let local_extra_len = usize::from(file.u16(local + 28)?);
    let data_at = local + LOCAL_HEADER_LEN + local_name_len + local_extra_len;
    let data = file.slice(data_at, to_usize(compressed)?)?;
    let next = at + CENTRAL_HEADER_LEN + name_len + extra_len + comment_len;
    Ok((ZipEntry { name, data }, next))
}

/// Replaces saturated (`0xFFFFFFFF`) sizes and offset by the 64-bit values of the ZIP64 extra
/// field (header id 1), which lists only the saturated ones, in this order.
fn apply_zip64_extra(
    extra: &[u8],
    uncompressed: &mut u64,
    compressed: &mut u64,
    local: &mut u64,
) -> Result<(), ZipError> {
    let saturated = u64::from(u32::MAX);
    if *uncompressed != saturated && *compressed != saturated && *local != saturated {
        return Ok(());
    }
    let extra = Bytes(extra);
    let mut at = 0;
    while at + 4 <= extra.0.len() {
        let id = extra.u16(at)?;
        let len = usize::from(extra.u16(at + 2)?);
        if id == 1 {
            let mut field = at + 4;
            for value in [uncompressed, compressed, local] {
                if *value == saturated {
                    *value = extra.u64(field)?;
                    field += 8;
                }
            }
            return Ok(());
        }
        at += 4 + len;
    }
    error("a zip64 entry lacks its zip64 sizes")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zip with stored entries, written the way PyTorch and Python's `zipfile` lay it out.
    pub(crate) fn stored_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in files {
            let offset = out.len() as u32;
            out.extend_from_slice(LOCAL_HEADER_MAGIC);
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&0u32.to_le_bytes()); // crc, unchecked
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&3u16.to_le_bytes()); // a padding extra field
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&[0, 0, 0]);
            out.extend_from_slice(data);
            central.extend_from_slice(&CENTRAL_HEADER_MAGIC.to_le_bytes());
            central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend_from_slice(&0u32.to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let directory = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&END_MAGIC.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&directory.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    #[test]
    fn reads_stored_entries_with_padded_local_headers() {
        let zip = stored_zip(&[("a/data.pkl", b"pickle"), ("a/data/0", b"\x01\x02")]);
        let entries = read_entries(&zip).expect("a valid zip");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].name, "a/data.pkl");
        assert_eq!(entries[0].data, b"pickle");
        assert_eq!(entries[1].data, b"\x01\x02");
    }

    #[test]
    fn reads_torch_save_output_with_zip64_records() {
        let bytes = include_bytes!("../../../tests/fixtures/pth/xrv_tiny.pt");
        let entries = read_entries(bytes).expect("torch.save output");
        assert!(entries.iter().any(|e| e.name == "xrv_tiny/data.pkl"));
        let byteorder = entries
            .iter()
            .find(|e| e.name.ends_with("/byteorder"))
            .expect("a byteorder entry");
        assert_eq!(byteorder.data, b"little");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let zip = stored_zip(&[("a/data.pkl", b"pickle"), ("a/data/0", b"\x01\x02")]);
        for len in 0..zip.len() {
            assert!(read_entries(&zip[..len]).is_err(), "length {len}");
        }
    }

    #[test]
    fn corrupted_bytes_never_panic() {
        let zip = stored_zip(&[("a/data.pkl", b"pickle"), ("a/data/0", b"\x01\x02")]);
        for at in 0..zip.len() {
            for value in [0x00, 0xFF, 0x7F] {
                let mut bad = zip.clone();
                bad[at] = value;
                let _ = read_entries(&bad);
            }
        }
    }

    #[test]
    fn compressed_entries_are_refused_with_a_reason() {
        let mut zip = stored_zip(&[("a/data.pkl", b"pickle")]);
        let central = zip.len() - END_LEN - (CENTRAL_HEADER_LEN + "a/data.pkl".len());
        zip[central + 10] = 8; // deflate
        let message = read_entries(&zip)
            .expect_err("deflate is refused")
            .to_string();
        assert!(message.contains("compressed"), "{message}");
    }
}
