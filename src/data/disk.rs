//! Loading a data set from disk for the CLI and the native tests, through the same [`Ingest`]
//! as the browser's dropped files: walk the folder, feed every file as `(relative path, bytes)`.

use std::path::{Path, PathBuf};

use super::ingest::{Dataset, Ingest};

/// Every file under `dir`, recursively, sorted by path (a stable order, as the browser's walk).
/// Symbolic links to folders are not followed, so a link loop cannot hang the walk.
///
/// # Errors
/// The I/O error of a folder that cannot be listed.
pub fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The images under `images` (and the label file `labels`, if given), decoded at `side`.
/// `on_file` is called after each file with (done, total), for a progress bar.
///
/// Paths are given to the ingest relative to `images`' parent, so that folder labels
/// (`train/0_normal/x.png`) work as when the folder is dropped in the page. A file that cannot be
/// read becomes an issue like any bad file.
///
/// # Errors
/// The I/O error of a folder that cannot be listed.
pub fn load_dataset(
    images: &Path,
    labels: Option<&Path>,
    side: u32,
    mut on_file: impl FnMut(usize, usize),
) -> std::io::Result<Dataset> {
    let files = walk(images)?;
    let base = images.parent().unwrap_or(images);
    let total = files.len() + usize::from(labels.is_some());
    let mut ingest = Ingest::new(side);
    ingest.reserve(files.len());
    let mut done = 0;
    if let Some(labels) = labels {
        add(&mut ingest, labels, labels.parent().unwrap_or(labels));
        done += 1;
        on_file(done, total);
    }
    for file in &files {
        add(&mut ingest, file, base);
        done += 1;
        on_file(done, total);
    }
    Ok(ingest.finish())
}

fn add(ingest: &mut Ingest, path: &Path, base: &Path) {
    let name = path
        .strip_prefix(base)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/");
    match std::fs::read(path) {
        Ok(bytes) => {
            ingest.add_file(&name, &bytes);
        }
        // An unreadable file is reported like a corrupt one: an empty file is an issue.
        Err(_) => {
            ingest.add_file(&name, &[]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_the_fixture_folders_with_their_folder_labels() {
        let dir = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/images"
        ));
        let mut calls = 0;
        let data = load_dataset(dir, None, 16, |_, _| calls += 1).unwrap();
        let files = walk(dir).unwrap().len();
        assert_eq!(calls, files);
        assert_eq!(data.store.len(), files);
        assert_eq!(data.labelled().count(), files);
        assert!(
            data.store.names()[0].starts_with("images/"),
            "{:?}",
            data.store.names()[0]
        );
    }
}
