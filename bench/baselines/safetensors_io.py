"""Minimal safetensors I/O for the prune baselines: no safetensors package, as the benchmark asks.

read_header parses the 8-byte little-endian header length and the JSON header; map_tensor maps a
tensor's bytes with numpy.memmap (nothing is read until touched); Writer writes a header and then
the data section piece by piece, and fsyncs the file on close, as the CLI does before it renames.
"""
import json
import os
import struct
import time

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_header(path):
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    return header, 8 + length


def map_tensor(path, header, data_start, name, mode="r"):
    entry = header[name]
    begin, end = entry["data_offsets"]
    return np.memmap(path, dtype=DTYPES[entry["dtype"]], mode=mode, offset=data_start + begin, shape=tuple(entry["shape"]))


class Writer:
    """Writes `header` (its tensors must then be written in data-offset order) and fsyncs on close."""

    def __init__(self, path, header):
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * ((8 - len(text) % 8) % 8)
        self.file = open(path, "wb")
        self.file.write(struct.pack("<Q", len(text)) + text)

    def write(self, array):
        # Contiguous arrays go out through the buffer protocol, without a copy.
        self.file.write(memoryview(np.ascontiguousarray(array)).cast("B"))

    def close(self):
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()


def tensors_in_order(header):
    return sorted((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"][0])


def prune_copy(args, load, prune_block, t_start, t_imported, formulation):
    """Copies safetensors `args.input` to `args.output` with tensor `args.weight` pruned
    `args.block_rows` rows at a time (0: whole) by `prune_block(piece) -> array to write`; `load`
    maps the weight (numpy.memmap → what prune_block takes). Prints the in-script times as one
    JSON line (seconds): imports, compute, write, fsync, and compute + write + fsync."""
    header, data_start = read_header(args.input)
    out = Writer(args.output, header)
    compute = write = 0.0
    for name in tensors_in_order(header):
        if name != args.weight:
            t = time.perf_counter()
            out.write(map_tensor(args.input, header, data_start, name))
            write += time.perf_counter() - t
            continue
        w = load(lambda mode: map_tensor(args.input, header, data_start, name, mode=mode))
        rows = w.shape[0]
        block = args.block_rows or rows
        for r in range(0, rows, block):
            t = time.perf_counter()
            pruned = prune_block(w[r : r + block])
            t2 = time.perf_counter()
            out.write(pruned)
            write += time.perf_counter() - t2
            compute += t2 - t
    t = time.perf_counter()
    out.close()
    fsync = time.perf_counter() - t
    end = time.perf_counter()
    times = {"import_s": t_imported - t_start, "compute_s": compute, "write_s": write, "fsync_s": fsync}
    print(json.dumps({**times, "compute_write_s": end - t_imported, "formulation": formulation}))
