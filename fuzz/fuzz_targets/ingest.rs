//! A whole ingest on arbitrary files: the input is cut into up to eight `(path, bytes)` files
//! (a path line, then the bytes up to a 0xFF 0x00 separator), added, joined, relabelled and
//! summarised. Whatever the files, the ingest never fails as a whole.
#![no_main]

use cxr_lab::data::{Ingest, IssueLine, UncertainPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let mut ingest = Ingest::new(8);
    for chunk in bytes.split(|b| *b == 0xFF).take(8) {
        let chunk = chunk.strip_prefix(&[0]).unwrap_or(chunk);
        let (path, body) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (&chunk[..i], &chunk[i + 1..]),
            None => (chunk, &[][..]),
        };
        ingest.add_file(&String::from_utf8_lossy(path), body);
    }
    let dataset = ingest.finish().relabel(UncertainPolicy::Positive);
    assert_eq!(dataset.rows.len(), dataset.store.len());
    for issue in &dataset.issues {
        let line = IssueLine::from(issue);
        assert!(!line.text.contains('\n'), "one line per issue: {}", line.text);
    }
});
