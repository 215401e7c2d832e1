#!/usr/bin/env python3
"""DenseNet121 on the CPU, side by side: PyTorch, TensorFlow/Keras and burn `flex`
(`cargo run --release --example densenet_bench`), inference and a training step, batch 8, at
each size, in one table with images/s, peak memory and burn's ratio to the faster of the two.

Run from the repository root:
    python3 benches/densenet_bench.py [--sizes 64,128,224] [--batch 8] [--steps 5] [--warmup 2]
        [--only torch,tf,burn] [--rounds 3] [--torch-device cpu|cuda]

It uses two venvs under ~/.cache/cxr-lab/ (PyPI only), made when missing: venv-torch (torch,
torchvision) and venv-tf (tensorflow-cpu). Every (library, mode, size) runs in its own process,
so that its peak resident memory (VmHWM) is its own. Thread counts are each library's default on
this machine (all cores); the header says how many. This machine's speed drifts by up to 2x
within minutes, so the libraries take turns, configuration by configuration, over several
rounds: each figure is the median over the rounds, and burn's ratio to the faster of the others
is taken within each round (the runs compared are minutes apart) and its median reported.

The same network everywhere: DenseNet121 (growth 32, blocks 6-12-24-16), a 1-channel input
(grey X-rays: torchvision's conv0 replaced by a 1-channel one; Keras built with input_shape
(s, s, 1)) and 14 logits (torchvision's classifier Linear(1024, 14); Keras include_top=False,
global average pool, Dense(14)). Timed per batch, after the warm-up batches:
- inference: eval mode / training=False, sigmoid, probabilities back as numpy;
- training: forward, class-weighted masked BCE on logits (the loss of src/train/loss.rs: weight
  0.9 on positives, 0.1 on negatives, mean over all elements), backward, Adam (lr 1e-3), loss
  read back as a float. TensorFlow's step is a `tf.function` (graph), as `model.fit` runs it.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

CACHE = os.path.expanduser("~/.cache/cxr-lab")
VENVS = {
    "torch": (os.path.join(CACHE, "venv-torch"), ["torch", "torchvision"]),
    "tf": (os.path.join(CACHE, "venv-tf"), ["tensorflow-cpu"]),
}
CLASSES = 14
W_POS, W_NEG = 0.9, 0.1


def venv_python(library):
    venv, packages = VENVS[library]
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        print(f"making {venv} ({' '.join(packages)}) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", *packages], check=True)
    return python


def peak_rss_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def targets_numpy(batch):
    import numpy as np

    # About one finding in ten positive, as in NIH (the Rust benchmark's pattern).
    y = (np.arange(batch * CLASSES) % 10 == 3).astype(np.float32).reshape(batch, CLASSES)
    return y, np.ones_like(y)


def timed(run, warmup, steps):
    """Median wall seconds and median CPU seconds (all threads) per batch."""
    times, cpu_times = [], []
    for i in range(warmup + steps):
        start, cpu = time.perf_counter(), time.process_time()
        run()
        if i >= warmup:
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu)
    return statistics.median(times), statistics.median(cpu_times)


def torch_child(mode, size, batch, warmup, steps):
    import torch
    import torch.nn.functional as F
    import torchvision

    # `--torch-device cuda` on a machine with a GPU: the wgpu-vs-cuDNN comparison, in
    # fp32 (TF32 off), with cuDNN's autotuner on as wgpu's is.
    device = torch.device(os.environ.get("CXR_TORCH_DEVICE", "cpu"))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(1)
    model = torchvision.models.densenet121(num_classes=CLASSES)
    model.features.conv0 = torch.nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    model = model.to(device)
    x = torch.randn(batch, 1, size, size).to(device)
    if mode == "infer":
        model.eval()

        def run():
            with torch.inference_mode():
                return torch.sigmoid(model(x)).cpu().numpy()

    else:
        model.train()
        y, m = (torch.from_numpy(a).to(device) for a in targets_numpy(batch))
        weights = y * W_POS + (1 - y) * W_NEG
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

        def run():
            optimizer.zero_grad(set_to_none=True)
            per_element = F.binary_cross_entropy_with_logits(model(x), y, reduction="none")
            loss = (per_element * weights * m).mean()
            loss.backward()
            optimizer.step()
            return loss.item()

    version = f"PyTorch {torch.__version__.split('+')[0]} ({torch.get_num_threads()} threads)"
    if device.type == "cuda":
        version = (f"PyTorch {torch.__version__.split('+')[0]} CUDA fp32 "
                   f"({torch.cuda.get_device_name(device)})")
    return version, timed(run, warmup, steps)


def tf_child(mode, size, batch, warmup, steps):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf
    import keras

    keras.utils.set_random_seed(1)
    backbone = keras.applications.DenseNet121(
        weights=None, include_top=False, input_shape=(size, size, 1), pooling="avg"
    )
    model = keras.Sequential([backbone, keras.layers.Dense(CLASSES)])
    x = tf.constant(np.random.default_rng(1).standard_normal((batch, size, size, 1), dtype=np.float32))
    if mode == "infer":
        predict = tf.function(lambda images: tf.sigmoid(model(images, training=False)))

        def run():
            return predict(x).numpy()

    else:
        y, m = (tf.constant(a) for a in targets_numpy(batch))
        weights = y * W_POS + (1 - y) * W_NEG
        optimizer = keras.optimizers.Adam(learning_rate=1e-3)

        @tf.function
        def step(images):
            with tf.GradientTape() as tape:
                logits = model(images, training=True)
                per_element = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits)
                loss = tf.reduce_mean(per_element * weights * m)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            return loss

        def run():
            return float(step(x))

    threads = os.cpu_count()
    intra = tf.config.threading.get_intra_op_parallelism_threads() or threads
    version = f"TensorFlow {tf.__version__} CPU (intra-op {intra} threads)"
    return version, timed(run, warmup, steps)


def child(spec, batch, warmup, steps):
    library, mode, size = spec.split(":")
    run = torch_child if library == "torch" else tf_child
    version, (seconds, cpu_seconds) = run(mode, int(size), batch, warmup, steps)
    print("RESULT " + json.dumps({
        "library": version, "mode": mode, "size": int(size), "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "images_per_second": batch / seconds, "peak_rss_mib": peak_rss_mib(),
    }))


def run_python(library, mode, size, args):
    cmd = [venv_python(library), os.path.abspath(__file__), "--child", f"{library}:{mode}:{size}",
           "--batch", str(args.batch), "--warmup", str(args.warmup), "--steps", str(args.steps)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    print(f"{library} {mode} {size}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
    return None


def run_rust(mode, size, args):
    env = dict(os.environ)
    # The build cache the scripts use (scripts/env.sh), not a fresh ./target of several GB.
    env.setdefault("CARGO_TARGET_DIR", os.path.join(CACHE, "target"))
    cmd = ["cargo", "run", "--release", "-q", "--example", "densenet_bench", "--", "--json",
           "--sizes", str(size), "--modes", mode, "--batch", str(args.batch),
           "--warmup", str(args.warmup), "--steps", str(args.steps)]
    try:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    except (OSError, subprocess.CalledProcessError) as err:
        print(f"(Rust benchmark not run: {err})", file=sys.stderr)
        return None
    for line in out.splitlines():
        if line.startswith("{"):
            result = json.loads(line)
            result["library"] = f"burn 0.22 flex ({os.cpu_count()} threads)"
            return result
    return None


def combine(rounds):
    """One result per (library, mode, size): the medians over the rounds, with the range of
    images/s, and per (mode, size) burn's ratio to the faster of the others round by round
    (both measured minutes apart, so drift of the machine's speed cancels)."""
    by_key = {}
    for results in rounds:
        for r in results:
            by_key.setdefault((r["library"], r["mode"], r["size"]), []).append(r)
    combined = []
    for runs in by_key.values():
        r = dict(runs[0])
        speeds = [x["images_per_second"] for x in runs]
        r["images_per_second"] = statistics.median(speeds)
        r["range"] = (min(speeds), max(speeds))
        r["cpu_seconds"] = statistics.median(x["cpu_seconds"] for x in runs)
        r["peak_rss_mib"] = max(x["peak_rss_mib"] for x in runs)
        combined.append(r)
    ratios = {}
    for results in rounds:
        keys = {(r["mode"], r["size"]) for r in results}
        for mode, size in keys:
            here = [r for r in results if (r["mode"], r["size"]) == (mode, size)]
            ours = [r for r in here if r["library"].startswith("burn")]
            theirs = [r for r in here if not r["library"].startswith("burn")]
            if ours and theirs:
                best = max(r["images_per_second"] for r in theirs)
                ratios.setdefault((mode, size), []).append(ours[0]["images_per_second"] / best)
    return combined, ratios


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def print_table(results, ratios, sizes, args):
    libraries = list(dict.fromkeys(r["library"] for r in results))
    by_key = {(r["library"], r["mode"], r["size"]): r for r in results}
    print(f"DenseNet121 (1 channel, 14 outputs), batch {args.batch}, median of {args.steps} batches "
          f"after {args.warmup} warm-up, each configuration in its own process; median of "
          f"{args.rounds} rounds [range], the libraries taking turns in each round; "
          f"{os.cpu_count()} cores; load average {load_average()} at the end")
    print()
    header = ("| library | mode | "
              + " | ".join(f"{s}² images/s [range] (CPU s/batch, peak MiB)" for s in sizes)
              + " |")
    print(header)
    print("|---|---|" + "---|" * len(sizes))
    for mode in ("infer", "train"):
        for library in libraries:
            cells = []
            for size in sizes:
                r = by_key.get((library, mode, size))
                cells.append(f"{r['images_per_second']:.1f} [{r['range'][0]:.1f}–{r['range'][1]:.1f}] "
                             f"({r['cpu_seconds']:.2f} s, {r['peak_rss_mib']:.0f})" if r else "–")
            print(f"| {library} | {mode} | " + " | ".join(cells) + " |")
        burn = next((lib for lib in libraries if lib.startswith("burn")), None)
        others = [lib for lib in libraries if not lib.startswith("burn")]
        if burn and others:
            cells = []
            for size in sizes:
                ours = by_key.get((burn, mode, size))
                theirs = [by_key[(o, mode, size)] for o in others if (o, mode, size) in by_key]
                per_round = ratios.get((mode, size), [])
                if ours and theirs and per_round:
                    memory = ours["peak_rss_mib"] / min(r["peak_rss_mib"] for r in theirs)
                    cells.append(f"**{statistics.median(per_round):.2f}x** "
                                 f"[{min(per_round):.2f}–{max(per_round):.2f}] "
                                 f"(memory {memory:.2f}x)")
                else:
                    cells.append("–")
            print(f"| burn ÷ faster of the others, round by round | {mode} | " + " | ".join(cells) + " |")
    print()
    print("CPU s/batch: CPU time of all the process's threads per batch (time.process_time, "
          "/proc schedstat for burn); busy-waiting threads (OpenMP in PyTorch, TensorFlow's pool) "
          "count too. On a busy machine images/s falls for every library, PyTorch's most: its "
          "OpenMP barriers wait for descheduled threads.")
    print("Native wgpu: `cargo run --release --example densenet_bench -- --backend wgpu` (not in "
          "this table: without a GPU wgpu runs on Mesa's lavapipe, a CPU driver, whose figures "
          "say nothing about a GPU).")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="64,128,224")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--only", default="torch,tf,burn")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--torch-device", default="cpu",
                        help="cuda: PyTorch on the GPU (compare with densenet_bench --backend wgpu)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.batch, args.warmup, args.steps)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    only = args.only.split(",")
    os.environ["CXR_TORCH_DEVICE"] = args.torch_device  # read by the PyTorch children
    rounds = []
    for number in range(args.rounds):
        results = []
        for size in sizes:
            for mode in ("infer", "train"):
                for library in ("tf", "torch", "burn"):
                    if library not in only:
                        continue
                    if library == "burn":
                        r = run_rust(mode, size, args)
                    else:
                        r = run_python(library, mode, size, args)
                    if r:
                        print(f"round {number + 1}: {r['library']} {mode} {size}²: "
                              f"{r['images_per_second']:.1f} images/s, "
                              f"peak {r['peak_rss_mib']:.0f} MiB", file=sys.stderr)
                        results.append(r)
        rounds.append(results)
    combined, ratios = combine(rounds)
    print_table(combined, ratios, sizes, args)

if __name__ == "__main__":
    main()
