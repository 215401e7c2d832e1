#!/usr/bin/env python3
"""Images/s of Keras's ImageDataGenerator and albumentations doing the `complex` preset's work
on the same machine as `cargo run --release --example augment_bench`, printed in one table with
the Rust figures.

Run from the repository root: `python3 benches/augment_bench.py [batches] [rounds]`. It creates a venv
under ~/.cache/cxr-lab/venv-augbench (PyPI only: keras-preprocessing 1.1.2, the package the
goldens in tests/fixtures/keras_augment came from, and albumentations), re-runs itself there,
times both on batches of 8 grey 320x320 images, then runs the Rust benchmark and adds its rows.
The machine is shared and busy, so the figures are indicative.

The work, per image, as AugmentSpec::complex() does it:
- Keras: random_transform (rotation 5 deg, shear 0.02 deg, zoom 0.02, fill `nearest`, scipy
  bilinear in float64), then standardize (samplewise centre and std). Keras has no random crop,
  so its row lacks it and does slightly less work than ours.
- albumentations: RandomResizedCrop (scale 0.85-1, square), Affine (same ranges, bilinear,
  edge replication), then the same per-image standardisation in numpy float32.
"""

import os
import subprocess
import sys
import time

VENV = os.path.expanduser("~/.cache/cxr-lab/venv-augbench")
PACKAGES = ["keras-preprocessing==1.1.2", "numpy", "scipy", "pillow", "albumentations"]
SIDE = 320
BATCH = 8


def ensure_venv():
    python = os.path.join(VENV, "bin", "python")
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", *PACKAGES], check=True)
    os.execv(python, [python, *sys.argv])


def load_images():
    import numpy as np
    from PIL import Image

    folder = os.environ.get("CXR_SAMPLES", "/work/shared/data/samples")
    images = []
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        try:
            img = Image.open(os.path.join(folder, name)).convert("L")
        except OSError:
            continue
        # Bilinear, as the Rust benchmark's Triangle filter.
        img = img.resize((SIDE, SIDE), Image.BILINEAR)
        images.append(np.asarray(img, dtype=np.float32))
    if not images:
        ramp = np.add.outer(np.arange(SIDE), np.arange(SIDE)) % 256
        images.append(ramp.astype(np.float32))
    return [images[i % len(images)] for i in range(BATCH)]


def time_batches(batches, images, augment):
    augment(images)  # warm-up, not counted
    start = time.perf_counter()
    for _ in range(batches):
        augment(images)
    elapsed = time.perf_counter() - start
    return batches * BATCH / elapsed, elapsed * 1e3 / batches


def keras_row(batches, images):
    import numpy as np
    from keras_preprocessing.image import ImageDataGenerator

    gen = ImageDataGenerator(
        rotation_range=5,
        shear_range=0.02,
        zoom_range=0.02,
        samplewise_center=True,
        samplewise_std_normalization=True,
    )
    np.random.seed(1)

    def augment(batch):
        for img in batch:
            x = gen.random_transform(img[..., None])
            gen.standardize(x)

    return time_batches(batches, images, augment)


def albumentations_row(batches, images):
    import albumentations as A
    import cv2
    import numpy as np

    try:
        crop = A.RandomResizedCrop(size=(SIDE, SIDE), scale=(0.85, 1.0), ratio=(1.0, 1.0))
    except TypeError:  # albumentations < 1.4 takes height and width
        crop = A.RandomResizedCrop(SIDE, SIDE, scale=(0.85, 1.0), ratio=(1.0, 1.0))
    affine = A.Affine(
        rotate=(-5, 5),
        shear=(-0.02, 0.02),
        scale=(0.98, 1.02),
        interpolation=cv2.INTER_LINEAR,
        border_mode=cv2.BORDER_REPLICATE,
        p=1.0,
    )
    pipeline = A.Compose([crop, affine])

    def augment(batch):
        for img in batch:
            x = pipeline(image=img)["image"]
            x = x - x.mean()
            x /= x.std() + 1e-6

    return time_batches(batches, images, augment)


def rust_rows(batches, cpu_only=False):
    env = dict(os.environ)
    env.pop("VIRTUAL_ENV", None)
    # The build cache the scripts use (scripts/env.sh), not a fresh ./target of several GB.
    env.setdefault("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/cxr-lab/target"))
    cmd = ["cargo", "run", "--release", "-q", "--example", "augment_bench", "--", str(batches)]
    if cpu_only:
        cmd.append("--cpu-only")
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        print(f"(Rust benchmark not run: {err})", file=sys.stderr)
        return []
    return [line for line in out.splitlines() if line.startswith("| ") and "images/s" not in line]


def main():
    ensure_venv()
    batches = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    images = load_images()
    import albumentations
    import keras_preprocessing

    keras = f"Keras ImageDataGenerator {keras_preprocessing.__version__} (no crop)"
    albu = f"albumentations {albumentations.__version__}"
    # This machine's speed drifts by up to 2x within minutes (a shared host), so the libraries
    # and our CPU path take turns, `rounds` times, and each row is the median of its rounds,
    # with the range beside it. The slow tensor rows run once, after.
    rates = {}
    order = []

    def record(name, rate):
        if name not in rates:
            rates[name] = []
            order.append(name)
        rates[name].append(rate)

    for _ in range(rounds):
        record(keras, keras_row(batches, images)[0])
        record(albu, albumentations_row(batches, images)[0])
        for line in rust_rows(batches, cpu_only=True):
            cells = [c.strip() for c in line.strip("|").split("|")]
            record(cells[0], float(cells[1]))
    print(
        f"complex preset, {batches} batches of {BATCH} grey {SIDE}x{SIDE} images (after 1 warm-up), "
        f"one process at a time, {rounds} interleaved rounds"
    )
    print("| path | images/s (median) | range over the rounds | ms per batch (median) |")
    print("|---|---|---|---|")
    for name in order:
        values = sorted(rates[name])
        median = values[len(values) // 2]
        print(f"| {name} | {median:.1f} | {values[0]:.1f}–{values[-1]:.1f} | {BATCH * 1e3 / median:.1f} |")
    ours = rates.get("our CPU path, 1 thread (prepare_image)")
    if ours:
        per_round = [o / a for o, a in zip(ours, rates[albu])]
        print(f"our 1 thread / albumentations, round by round: {', '.join(f'{r:.2f}' for r in per_round)}")
    for line in rust_rows(batches):
        if "tensor path" in line:
            print(line)


if __name__ == "__main__":
    main()
