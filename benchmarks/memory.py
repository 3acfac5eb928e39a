"""Peak memory of denoising a large uint16 image on the CPU (default 8192x8192, the default model).

Runs the denoising in a fresh child process and reports its peak resident set
size (ru_maxrss), which includes the Python interpreter, torch, the input and
the output arrays.

    python benchmarks/memory.py
    python benchmarks/memory.py --side 8192 --model ffdnet_gray   # default: auto
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

CHILD = r"""
import sys, time, resource
import numpy as np
import napari_denoise as nd
side, model = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
# a smooth gradient plus noise, uint16 like a camera frame, built in row blocks so that
# making it does not set the peak (the peak is then the denoising's)
img = np.empty((side, side), np.uint16)
x = np.arange(side, dtype=np.float32)[None]
for r0 in range(0, side, 256):
    y = np.arange(r0, min(r0 + 256, side), dtype=np.float32)[:, None]
    blk = 1000 + 2000 * np.sin(x / 300) ** 2 + 500 * np.cos(y / 200)
    blk += rng.standard_normal(blk.shape, dtype=np.float32) * 40
    img[r0:r0 + len(y)] = np.clip(blk, 0, 65535).astype(np.uint16)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
out = nd.denoise(img, model, sigma=40, device="cpu")
dt = time.perf_counter() - t
assert out.shape == img.shape and out.dtype == np.uint16
print(f"RESULT seconds={dt:.1f} input_MB={img.nbytes / 2**20:.0f} before_MB={base / 1024:.0f}")
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--side", type=int, default=8192)
    p.add_argument("--model", default="auto")
    a = p.parse_args(argv)
    t = time.time()
    r = subprocess.run([sys.executable, "-c", CHILD, str(a.side), a.model], capture_output=True,
                       text=True)
    if r.returncode:
        print(r.stderr)
        return r.returncode
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    line = [l for l in r.stdout.splitlines() if l.startswith("RESULT")][0]
    print(f"{a.side}x{a.side} uint16, {a.model}, CPU: peak RSS {peak_kb / 2**20:.2f} GiB "
          f"({line[7:]}, wall {time.time() - t:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
