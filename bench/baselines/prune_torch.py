"""PyTorch baseline of `sparsity-lens prune` for the benchmark (bench/prune.bench.ts).

    python3 prune_torch.py IN OUT --weight NAME (--nm | --fan-in K) [--variant topk|patterns] [--block-rows R] [--threads T]

As prune_numpy.py, with NVIDIA ASP's own formulation in torch: the weight mapped copy-on-write
(numpy.memmap mode "c") and wrapped with torch.from_numpy, for 2:4
`w.abs().view(-1, 4).topk(2)` → a mask scattered from the indices → `w.mul_(mask)` (ASP's
m4n2_1d with `mul_`; -0.0 where a negative weight is pruned); for --fan-in K
`torch.topk(w.abs(), K, dim=1)` per row. topk leaves the order of ties to the implementation.
--variant patterns is ASP's mn_1d_best itself: |w| of each group times the 6 patterns of 2 in 4,
argmax (ties to the first pattern, hence to the lower index, as sparsity-lens, though a float32
sum can also tie two unequal pairs); about as fast here as topk.
torch.set_num_threads(T) (default 2, this machine's cores). --block-rows R (default 0: the whole
tensor at once, as ASP does) prunes R rows at a time.
Prints one JSON line with the in-script times (seconds).
"""
import time

t_start = time.perf_counter()
import argparse  # noqa: E402

import torch  # noqa: E402

from safetensors_io import prune_copy  # noqa: E402

t_imported = time.perf_counter()


PATTERNS = torch.tensor([[1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 1], [0, 1, 1, 0], [0, 1, 0, 1], [0, 0, 1, 1]], dtype=torch.float32)


def prune_(w, k, variant="topk"):
    """Prunes torch tensor w ([rows, cols]) in place: 2:4 when k is None, else the k largest |w| of each row."""
    if k is None and variant == "patterns":
        # ASP's mn_1d_best: the pattern of the 6 whose kept |w| sum is largest.
        groups = w.view(-1, 4)
        groups.mul_(PATTERNS[torch.argmax(groups.abs() @ PATTERNS.t(), dim=1)])
    elif k is None:
        groups = w.view(-1, 4)
        index = groups.abs().topk(2, dim=1, sorted=False).indices
        mask = torch.zeros(groups.shape, dtype=torch.bool).scatter_(1, index, True)
        groups.mul_(mask)
    else:
        index = torch.topk(w.abs(), k, dim=1, sorted=False).indices
        mask = torch.zeros(w.shape, dtype=torch.bool).scatter_(1, index, True)
        w.mul_(mask)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--weight", required=True)
    rule = p.add_mutually_exclusive_group(required=True)
    rule.add_argument("--nm", action="store_true", help="2:4")
    rule.add_argument("--fan-in", type=int, metavar="K")
    p.add_argument("--block-rows", type=int, default=0, help="0: the whole tensor at once")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--variant", choices=["topk", "patterns"], default="topk")
    args = p.parse_args()
    torch.set_num_threads(args.threads)


    def prune_block(piece):
        prune_(piece, None if args.nm else args.fan_in, args.variant)
        return piece.numpy()

    rule = ("topk(2) of view(-1, 4)" if args.variant == "topk" else "ASP mn_1d_best patterns") if args.nm else "topk(k, dim=1)"
    formulation = f"{rule}, {args.block_rows or 'all'} rows at a time, {args.threads} threads"
    # Mapped copy-on-write: prune_ works in place on the weight's pages.
    prune_copy(args, lambda mapped: torch.from_numpy(mapped("c")), prune_block, t_start, t_imported, formulation)

main()
