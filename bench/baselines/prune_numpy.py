"""numpy baseline of `sparsity-lens prune` for the benchmark (bench/prune.bench.ts).

    python3 prune_numpy.py IN OUT --weight NAME (--nm | --fan-in K) [--variant compare|argsort] [--block-rows R]

Reads IN (safetensors) through a memory map, prunes tensor NAME (2-D, [out, in]) and writes OUT:
the same header (same tensors, same offsets; no metadata added) and the data section with NAME
replaced by w * mask, every other tensor copied as it is; then fsyncs OUT.

2:4 keeps the 2 largest |w| of every 4 consecutive inputs of a row, with NVIDIA ASP m4n2_1d's
effect; ties go to the lower index, as `np.argsort(-|w|, kind='stable')[:, :2]` does (and as
sparsity-lens does), so the output is byte-comparable. Two formulations:
  compare  (default, the fastest): each element's rank from the 6 pairwise comparisons of its
           group, kept unless beaten by 2 others (a majority of its 3 comparisons);
  argsort  ASP's formulation: stable argsort of -|w| per group of 4, the first 2 kept.
--fan-in K keeps the K largest |w| of every row (np.argpartition; ties in any order).
Rows are processed --block-rows at a time (default 256: 16 MiB of a 16384-wide float32 weight),
so temporaries stay in cache-sized pieces and the block is written as soon as it is pruned.
Prints one JSON line with the in-script times (seconds).
"""
import time

t_start = time.perf_counter()
import argparse  # noqa: E402

import numpy as np  # noqa: E402

from safetensors_io import prune_copy  # noqa: E402

t_imported = time.perf_counter()


def keep_2of4_compare(w):
    """The 2:4 keep mask of w ([rows, cols], cols % 4 == 0) from pairwise comparisons in each group."""
    a = np.abs(w).reshape(-1, 4)
    c0, c1, c2, c3 = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
    # gij: j beats i (|w_j| > |w_i|); otherwise i beats j (an equal |w| loses to the lower index).
    g01, g02, g03 = c1 > c0, c2 > c0, c3 > c0
    g12, g13, g23 = c2 > c1, c3 > c1, c3 > c2

    def beaten_twice(x, y, z):  # at least 2 of 3
        return (x & y) | (z & (x | y))

    keep = np.empty(a.shape, dtype=bool)
    keep[:, 0] = ~beaten_twice(g01, g02, g03)
    keep[:, 1] = ~beaten_twice(~g01, g12, g13)
    keep[:, 2] = ~beaten_twice(~g02, ~g12, g23)
    keep[:, 3] = ~beaten_twice(~g03, ~g13, ~g23)
    return keep.reshape(w.shape)


def keep_2of4_argsort(w):
    """ASP m4n2_1d's formulation: the 2 largest |w| of each group of 4 by a stable argsort."""
    a = np.abs(w).reshape(-1, 4)
    keep = np.zeros(a.shape, dtype=bool)
    np.put_along_axis(keep, np.argsort(-a, axis=1, kind="stable")[:, :2], True, axis=1)
    return keep.reshape(w.shape)


def keep_fan_in(w, k):
    """The k largest |w| of every row."""
    cols = w.shape[1]
    keep = np.zeros(w.shape, dtype=bool)
    np.put_along_axis(keep, np.argpartition(np.abs(w), cols - k, axis=1)[:, cols - k :], True, axis=1)
    return keep


def main():
    p = argparse.ArgumentParser()
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--weight", required=True)
    rule = p.add_mutually_exclusive_group(required=True)
    rule.add_argument("--nm", action="store_true", help="2:4")
    rule.add_argument("--fan-in", type=int, metavar="K")
    p.add_argument("--variant", choices=["compare", "argsort"], default="compare")
    p.add_argument("--block-rows", type=int, default=256, help="0: the whole tensor at once")
    args = p.parse_args()

    if args.nm:
        keep_of = keep_2of4_compare if args.variant == "compare" else keep_2of4_argsort
    else:
        keep_of = lambda w: keep_fan_in(w, args.fan_in)  # noqa: E731

    def prune_block(piece):
        piece = np.asarray(piece)
        return piece * keep_of(piece)  # -0.0 where a negative weight is pruned, as w * mask in torch

    formulation = f"{args.variant if args.nm else 'argpartition'}, {args.block_rows or 'all'} rows at a time"
    prune_copy(args, lambda mapped: mapped("r"), prune_block, t_start, t_imported, formulation)

main()
