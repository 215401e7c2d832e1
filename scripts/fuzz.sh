#!/usr/bin/env bash
# Fuzzes everything that reads user files (fuzz/fuzz_targets: labels, images, ingest) with
# cargo-fuzz (libFuzzer, AddressSanitizer), SECONDS_PER_TARGET each (default 300).
#
# cargo-fuzz wants nightly for its -Z flags; this machine has only stable, so RUSTC_BOOTSTRAP=1
# lets stable rustc take them. Seeds: the test fixtures (real NIH and CheXpert CSV excerpts,
# real PNGs) and the DICOMs in fuzz/seeds (written by the ignored test `write_fuzz_seeds`).
# Memory: the resident limit is 2 GiB, but one allocation may reach 4.2 GiB. dicom-parser reserves
# (`try_reserve_exact`) an element's declared length, up to 4 GiB, before reading it; a 618-byte
# file that claims 3 GB fails on the read that follows with an error, never touching the memory,
# and on wasm32 the reservation itself fails with an error. libFuzzer's default malloc limit
# (= the RSS limit) calls that an OOM.
# Not part of scripts/test.sh: a fuzz run is a search, not a check with a fixed answer.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
SECONDS_PER_TARGET="${1:-${SECONDS_PER_TARGET:-300}}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$CACHE/target-fuzz"

seeds="$CACHE/fuzz-seeds"
mkdir -p "$seeds"/{labels,images,ingest}
cp tests/fixtures/*.csv "$seeds/labels/"
cp tests/fixtures/nih800_files.txt "$seeds/labels/"
find tests/fixtures/images -type f | head -n 40 | while read -r f; do cp "$f" "$seeds/images/"; done
# Small ingest inputs: a label file and an image, in the target's `path\nbytes` 0xFF-separated form.
{ printf 'Data_Entry_2017.csv\n'; head -n 20 tests/fixtures/nih_v2020_excerpt.csv; printf '\xff'
  f=$(find tests/fixtures/images -name '*.png' | head -n 1); printf '%s\n' "${f#tests/fixtures/images/}"; cat "$f"; } \
  > "$seeds/ingest/nih"
cp fuzz/seeds/images/*.dcm "$seeds/images/"

for target in ${TARGETS:-labels images ingest}; do
  corpus="$CACHE/fuzz-corpus/$target"
  mkdir -p "$corpus"
  start=$(date +%s)
  echo "== $target: ${SECONDS_PER_TARGET}s"
  log="$CACHE/fuzz-$target.log"
  status=0
  cargo fuzz run --fuzz-dir fuzz "$target" "$corpus" "$seeds/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -malloc_limit_mb=4200 \
    -max_len=1048576 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  grep -E '^(#[0-9]+.*DONE|Done|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==ERROR|SUMMARY|artifact_prefix)|panicked' "$log" || true
  echo "== $target: exit $status after $(( $(date +%s) - start ))s, corpus $(ls "$corpus" | wc -l) inputs"
  [ "$status" -eq 0 ] || exit "$status"
done
