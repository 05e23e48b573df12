// Writers of ~20 GiB checkpoints as sparse files: the size is set with ftruncate and only the
// header and a few real values are written, so the holes read as zeros and cost no disk.
import { closeSync, ftruncateSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { onnxExternalTensor, onnxModel, onnxNode, ONNX_DTYPE } from './protobuf';

export const GiB = 2 ** 30;

/** A float32 matrix of the huge layout, at `offset` of the tensor data. */
export interface HugeTensor {
  readonly name: string;
  readonly shape: readonly [number, number];
  readonly offset: number;
  readonly length: number;
}

/** A value written at [row, col] of a tensor; every other element is a hole (zero). */
export interface WrittenValue {
  readonly tensor: string;
  readonly row: number;
  readonly col: number;
  readonly value: number;
}

export interface HugeLayout {
  readonly tensors: readonly HugeTensor[];
  readonly values: readonly WrittenValue[];
  /** Bytes of tensor data: the sum of the tensors' lengths. */
  readonly dataBytes: number;
}

const BLOCK = 32768; // float32 [32768, 32768]: 4 GiB per block

/**
 * Five 4 GiB blocks and a small head after them (at 20 GiB), all linear [out, in] weights. Each
 * block holds, at rows 0, 1, 2, 16384 + i and 32767: 1.5 at [0, 0]; three values in the 2:4
 * group [1, 4..7] (one N:M violation); -0.0 at [2, 0] (a negative zero, not a non-zero); 7 at
 * [16384 + i, 1000 i + 7]; -0.5 at the block's last element. The head has three values.
 */
export function hugeLayout(): HugeLayout {
  const tensors: HugeTensor[] = [];
  const values: WrittenValue[] = [];
  let offset = 0;
  const add = (name: string, shape: [number, number]) => {
    const length = shape[0] * shape[1] * 4;
    tensors.push({ name, shape, offset, length });
    offset += length;
  };
  for (let i = 0; i < 5; i++) {
    const name = `blocks.${i}.weight`;
    add(name, [BLOCK, BLOCK]);
    for (const [row, col, value] of [
      [0, 0, 1.5],
      [1, 4, 0.25],
      [1, 5, -2],
      [1, 7, 3],
      [2, 0, -0],
      [BLOCK / 2 + i, 1000 * i + 7, 7],
      [BLOCK - 1, BLOCK - 1, -0.5],
    ])
      values.push({ tensor: name, row, col, value });
  }
  add('head.weight', [64, BLOCK]);
  for (const [row, col, value] of [
    [0, 0, 1],
    [10, 100, -1],
    [63, BLOCK - 1, 2],
  ])
    values.push({ tensor: 'head.weight', row, col, value });
  return { tensors, values, dataBytes: offset };
}

/** What a report must say of a tensor of the layout, counted from the values written. */
export interface HugeFigures {
  readonly numel: number;
  readonly nnz: number;
  readonly negativeZeros: number;
  readonly fanInMax: number;
  readonly zeroNeurons: number;
  /** 2:4 groups along a row. */
  readonly groups: number;
  readonly compliant: number;
}

export function hugeFigures(layout: HugeLayout, tensor: HugeTensor, rows: readonly [number, number] = [0, tensor.shape[0]]): HugeFigures {
  const cols = tensor.shape[1];
  const fanIn = new Map<number, number>();
  const groups = new Map<string, number>();
  let nnz = 0;
  let negativeZeros = 0;
  for (const v of layout.values) {
    if (v.tensor !== tensor.name || v.row < rows[0] || v.row >= rows[1]) continue;
    if (Object.is(v.value, -0)) negativeZeros++;
    if (v.value === 0) continue;
    nnz++;
    fanIn.set(v.row, (fanIn.get(v.row) ?? 0) + 1);
    const group = `${v.row}:${Math.floor(v.col / 4)}`;
    groups.set(group, (groups.get(group) ?? 0) + 1);
  }
  const rowCount = rows[1] - rows[0];
  const groupCount = (rowCount * cols) / 4;
  return {
    numel: rowCount * cols,
    nnz,
    negativeZeros,
    fanInMax: Math.max(0, ...fanIn.values()),
    zeroNeurons: rowCount - fanIn.size,
    groups: groupCount,
    compliant: groupCount - [...groups.values()].filter((n) => n > 2).length,
  };
}

/** A written file: its apparent size and the bytes it really takes on disk. */
export interface SparseFile {
  readonly path: string;
  readonly size: number;
  readonly allocated: number;
}

function sparseFile(file: string): SparseFile {
  const st = statSync(file);
  return { path: file, size: st.size, allocated: st.blocks * 512 };
}

/** Sets the size of `file` to `size` bytes of holes and writes each value at dataStart + its position. */
function writeSparse(file: string, size: number, layout: HugeLayout, dataStart: number, head?: Buffer): SparseFile {
  const fd = openSync(file, 'w');
  try {
    ftruncateSync(fd, size);
    if (head) writeSync(fd, head, 0, head.length, 0);
    const bytes = Buffer.alloc(4);
    for (const v of layout.values) {
      const t = layout.tensors.find((x) => x.name === v.tensor)!;
      bytes.writeFloatLE(v.value);
      writeSync(fd, bytes, 0, 4, dataStart + t.offset + (v.row * t.shape[1] + v.col) * 4);
    }
  } finally {
    closeSync(fd);
  }
  return sparseFile(file);
}

/** `dir`/huge.safetensors: the header (with `__metadata__`), then the layout's data. */
export function writeHugeSafetensors(dir: string, layout: HugeLayout = hugeLayout()): SparseFile & { readonly dataStart: number } {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  for (const t of layout.tensors) header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [t.offset, t.offset + t.length] };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const head = Buffer.alloc(8 + json.length);
  head.writeBigUInt64LE(BigInt(json.length));
  head.write(json, 8, 'utf8');
  const file = writeSparse(path.join(dir, 'huge.safetensors'), head.length + layout.dataBytes, layout, head.length, head);
  return { ...file, dataStart: head.length };
}

/**
 * `dir`/huge.onnx, a graph of one Gemm (transB = 1) per tensor, whose initializers are external
 * data (`location`, `offset`, `length`) into `dir`/huge.onnx.data, the layout's data.
 */
export function writeHugeOnnx(dir: string, layout: HugeLayout = hugeLayout()): { readonly model: SparseFile; readonly data: SparseFile } {
  const location = 'huge.onnx.data';
  const initializers = layout.tensors.map((t) => onnxExternalTensor(t.name, ONNX_DTYPE.float, t.shape, location, t.offset, t.length));
  const nodes = layout.tensors.map((t, i) => onnxNode('Gemm', [`x${i}`, t.name], [`y${i}`], { transB: 1 }));
  const model = path.join(dir, 'huge.onnx');
  writeFileSync(model, onnxModel(nodes, initializers));
  const data = writeSparse(path.join(dir, location), layout.dataBytes, layout, 0);
  return { model: sparseFile(model), data };
}
