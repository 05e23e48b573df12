"""PyTorch baselines of the mask kernels for the benchmark (bench/kernels.bench.ts).

    python3 mask_torch.py ROWS COLS K [--threads T] [--runs R]

Times, on a random float32 [ROWS, COLS] tensor already in memory (the best of R runs, ms):
- nm_topk: NVIDIA ASP's m4n2_1d as torch code writes it: |w| viewed as groups of 4, topk(2),
  a bool mask scattered from the indices;
- nm_minmax: a blocked formulation without topk, the fastest found on this machine: per group,
  the two smallest |w| of 4 found by comparisons (ties to the lower index), the mask their
  complement; 1M groups at a time;
- fanin_topk: constant fan-in, topk(K, dim=1) of |w| and a scatter, as SRigL's initial masks.
Prints one JSON line.
"""
import argparse
import json
import time

import torch


def best(runs, fn):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return min(times)


def nm_topk(w):
    groups = w.abs().view(-1, 4)
    index = groups.topk(2, dim=1, sorted=False).indices
    return torch.zeros(groups.shape, dtype=torch.bool).scatter_(1, index, True)


def nm_minmax(w, block=1 << 20):
    groups = w.view(-1, 4)
    out = torch.empty(groups.shape, dtype=torch.bool)
    for s in range(0, groups.shape[0], block):
        a = groups[s : s + block].abs()
        x0, x1, x2, x3 = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
        # rank of each element among the 4 (larger first, ties to the lower index); keep rank < 2
        r0 = (x1 > x0).int() + (x2 > x0).int() + (x3 > x0).int()
        r1 = (x0 >= x1).int() + (x2 > x1).int() + (x3 > x1).int()
        r2 = (x0 >= x2).int() + (x1 >= x2).int() + (x3 > x2).int()
        r3 = (x0 >= x3).int() + (x1 >= x3).int() + (x2 >= x3).int()
        out[s : s + block] = torch.stack([r0 < 2, r1 < 2, r2 < 2, r3 < 2], dim=1)
    return out


def fanin_topk(w, k):
    index = torch.topk(w.abs(), k, dim=1, sorted=False).indices
    return torch.zeros(w.shape, dtype=torch.bool).scatter_(1, index, True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("rows", type=int)
    p.add_argument("cols", type=int)
    p.add_argument("k", type=int)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    w = torch.randn(args.rows, args.cols)
    # topk orders ties as it likes, the comparisons by index: they may differ where |w| ties.
    differ = int((nm_topk(w) != nm_minmax(w)).sum())
    print(
        json.dumps(
            {
                "version": torch.__version__,
                "threads": args.threads,
                "nm_topk_ms": best(args.runs, lambda: nm_topk(w)),
                "nm_minmax_ms": best(args.runs, lambda: nm_minmax(w)),
                "fanin_topk_ms": best(args.runs, lambda: fanin_topk(w, args.k)),
                "nm_formulations_differ_at": differ,
            }
        )
    )


main()
