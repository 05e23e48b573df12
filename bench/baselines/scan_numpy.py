"""The numpy baseline of a report: the best two-thread scan found of every tensor of a safetensors file.

A memory map of the file; per tensor, `W != 0` as bytes, 4 bytes read as one uint32 and multiplied
by 0x01010101 for the group popcounts (2:4 compliance), row sums for the fan-in; two Python threads
over the tensors (numpy releases the GIL in these loops). Prints one JSON line with the figures, so
that the caller can check both scans counted the same.

    python3 scan_numpy.py FILE.safetensors
"""
import json
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def scan(mm, base, info):
    begin, end = info["data_offsets"]
    rows, cols = info["shape"][0], int(np.prod(info["shape"][1:]))
    if info["dtype"] == "F32":
        w = np.frombuffer(mm, dtype=np.float32, count=rows * cols, offset=base + begin)
        nz = w != 0
    elif info["dtype"] == "BF16":
        # numpy has no bfloat16: the upper half of a float32; zero when all but the sign bit are 0.
        w = np.frombuffer(mm, dtype=np.uint16, count=rows * cols, offset=base + begin)
        nz = (w & 0x7FFF) != 0
    else:
        raise SystemExit(f"unsupported dtype {info['dtype']}")
    nz = nz.reshape(rows, cols)
    fan_in = nz.sum(axis=1, dtype=np.int64)
    groups = (nz.view(np.uint32) * np.uint32(0x01010101)) >> np.uint32(24)
    compliant = int(np.count_nonzero((groups <= 2).all(axis=1)))
    return int(fan_in.sum()), int(fan_in.min()), int(fan_in.max()), compliant


def main():
    path = sys.argv[1]
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda info: scan(mm, 8 + n, info), header.values()))
    print(json.dumps({"nnz": sum(r[0] for r in results), "tensors": len(results)}))


main()
