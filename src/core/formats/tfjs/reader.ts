import {
  numelOf,
  type Checkpoint,
  type Role,
  type SkippedTensor,
  type TensorEntry,
  type TensorSource,
  type WeightLayout,
} from '../../checkpoint';
import { DerivedBytesBudget } from '../../derivedBytes';
import type { DType } from '../../dtype';
import { CheckpointError } from '../../errors';
import type { StoredTensor } from '../../storedTensor';
import { parseManifest, QUANTIZED_BYTES, type Quantization, type WeightSpec } from './manifest';
import { roleFinder } from './topologyRoles';
import { WeightGroup } from './weightGroup';

/**
 * TensorFlow.js `model.json` (layers-model and graph-model): a JSON description whose
 * `weightsManifest` lists groups of weights, each stored in the group's shard files concatenated
 * in `paths` order, weights back to back in listed order (tfjs-core `io.decodeWeights`).
 * Roles come from the topology (topologyRoles.ts).
 */

/** More weight files than this in one model.json is not a real model (tfjs writes 4 MB shards). */
export const MAX_WEIGHT_FILES = 100_000;

/** TF.js dtypes with a fixed element size ('string' is variable length). */
const TFJS_DTYPES: Readonly<Record<string, { dtype: DType; bytes: number }>> = {
  float32: { dtype: 'float32', bytes: 4 },
  int32: { dtype: 'int32', bytes: 4 },
  bool: { dtype: 'bool', bytes: 1 },
  complex64: { dtype: 'complex64', bytes: 8 },
};

export function isTfjsModelJson(json: Record<string, unknown>): boolean {
  return 'weightsManifest' in json;
}

/**
 * Reads a TF.js model.json already parsed from `path`. Weights lying within one shard are lazy
 * file ranges; a weight spanning two shards, or quantized to uint8/uint16, is materialized
 * (dequantized to float32 / int32 as tfjs-core does) within the checkpoint's DerivedBytesBudget.
 */
export async function readTfjsModel(path: string, json: Record<string, unknown>, budget = new DerivedBytesBudget()): Promise<Checkpoint> {
  const groups = parseManifest(path, json.weightsManifest);
  const files = groups.reduce((n, g) => n + g.paths.length, 0);
  if (files > MAX_WEIGHT_FILES)
    throw new CheckpointError(path, 'unsupported', `weightsManifest lists ${files} weight files, more than the ${MAX_WEIGHT_FILES} read`);
  const roleOf = roleFinder(json.modelTopology);
  const tensors: TensorEntry[] = [];
  const skipped: SkippedTensor[] = [];
  const names = new Set<string>();
  // Each weight file holds its own bytes once: a file listed twice would be read (and
  // materialized) again for every listing.
  const listed = new Map<string, string>();
  for (const [g, group] of groups.entries()) {
    for (const w of group.weights) {
      if (names.has(w.name)) throw new CheckpointError(path, 'corrupt', `weightsManifest lists weight ${JSON.stringify(w.name)} twice`);
      names.add(w.name);
    }
    const shards = await WeightGroup.open(path, g + 1, group.paths, listed);
    try {
      let offset = 0;
      for (const spec of group.weights) {
        const read = await readWeight(path, shards, spec, offset, roleOf, budget);
        offset += read.length;
        if ('reason' in read.result) skipped.push(read.result);
        else tensors.push(read.result);
      }
    } finally {
      await shards.close();
    }
  }
  const metadata: Record<string, string> = {};
  for (const key of ['format', 'generatedBy', 'convertedBy'] as const) {
    if (typeof json[key] === 'string') metadata[key] = json[key] as string;
  }
  metadata['weight files'] = String(files);
  return { file: path, format: 'tfjs', tensors, metadata, skipped };
}

async function readWeight(
  path: string,
  shards: WeightGroup,
  spec: WeightSpec,
  offset: number,
  roleOf: (name: string, shape: readonly number[]) => { role: Role; layout?: WeightLayout },
  budget: DerivedBytesBudget,
): Promise<{ length: number; result: TensorEntry | SkippedTensor }> {
  const { name, shape, quantization } = spec;
  const quoted = JSON.stringify(name);
  if (spec.dtype === 'string') {
    if (quantization)
      throw new CheckpointError(
        path,
        'unsupported',
        `weight ${quoted}: a quantized string tensor (tfjs-core decodes only float32 and int32)`,
      );
    const length = await shards.stringTensorLength(spec, offset);
    return { length, result: { name, reason: 'string tensor (not numeric)' } };
  }
  const plain = Object.hasOwn(TFJS_DTYPES, spec.dtype) ? TFJS_DTYPES[spec.dtype] : undefined;
  if (!plain) {
    throw new CheckpointError(
      path,
      'unsupported',
      `weight ${quoted}: dtype ${JSON.stringify(spec.dtype)} is not a TF.js weight dtype (float32, int32, bool, complex64, string)`,
    );
  }
  const numel = numelOf(shape);
  const elementBytes = quantization ? QUANTIZED_BYTES[quantization.dtype] : plain.bytes;
  const length = numel * elementBytes;
  shards.checkRange(spec, offset, length);
  const role = roleOf(name, shape);

  if (quantization?.dtype === 'uint8' || quantization?.dtype === 'uint16') {
    if (plain.dtype !== 'float32' && plain.dtype !== 'int32') {
      throw new CheckpointError(
        path,
        'unsupported',
        `weight ${quoted}: ${quantization.dtype} quantization of a ${spec.dtype} weight (tfjs-core decodes only float32 and int32)`,
      );
    }
    const decoder = affineDecoder(path, name, { ...quantization, dtype: quantization.dtype }, plain.dtype);
    const refused = budget.reserve(numel * 4);
    if (refused) return { length, result: { name, reason: `dequantizing it ${refused}` } };
    const bytes = decoder.decode(await shards.read(offset, length), numel);
    const stored: StoredTensor = { kind: 'derived', op: 'dequantize', ...decoder.parameters, from: shards.stored(offset, length) };
    return { length, result: { name, dtype: plain.dtype, shape, source: { kind: 'inline', bytes }, stored, ...role } };
  }
  if (quantization?.dtype === 'float16' && plain.dtype !== 'float32') {
    throw new CheckpointError(
      path,
      'unsupported',
      `weight ${quoted}: float16 quantization of a ${spec.dtype} weight (tfjs-core allows it only for float32)`,
    );
  }
  // float16-quantized weights are analysed as stored: every half float is exactly a float32, so
  // zero-ness does not change in the widening tfjs-core does.
  const dtype: DType = quantization ? 'float16' : plain.dtype;
  const bytes = shards.stored(offset, length);
  const stored: StoredTensor = quantization ? { kind: 'derived', op: 'float16Quantization', from: bytes } : bytes;
  let source: TensorSource | undefined = shards.fileRange(offset, length);
  if (!source) {
    const refused = budget.reserve(length);
    if (refused) return { length, result: { name, reason: `spans two weight files, and joining them ${refused}` } };
    source = { kind: 'inline', bytes: await shards.read(offset, length) };
  }
  return { length, result: { name, dtype, shape, source, stored, ...role } };
}

/**
 * tfjs-core's affine dequantization, v × scale + min (float32 weights: rounded to float32; int32
 * weights: Math.round), through a table over every code. Its parameters say which code decodes
 * to exactly 0, or that none does: then no weight of the tensor is zero.
 */
function affineDecoder(path: string, name: string, q: Quantization & { readonly dtype: 'uint8' | 'uint16' }, target: 'float32' | 'int32') {
  const bad = (why: string) => new CheckpointError(path, 'corrupt', `weight ${JSON.stringify(name)}: ${q.dtype} quantization ${why}`);
  if (typeof q.scale !== 'number' || typeof q.min !== 'number') throw bad('needs numeric "scale" and "min"');
  const { scale, min } = q;
  const levels = q.dtype === 'uint8' ? 256 : 65536;
  for (const end of [min, (levels - 1) * scale + min]) {
    const ok = target === 'float32' ? Number.isFinite(Math.fround(end)) : Math.abs(Math.round(end)) <= 2 ** 31 - 1;
    if (!ok) throw bad(`with scale ${scale} and min ${min} decodes to values out of ${target} range`);
  }
  const table = target === 'float32' ? new Float32Array(levels) : new Int32Array(levels);
  for (let code = 0; code < levels; code++) table[code] = target === 'float32' ? code * scale + min : Math.round(code * scale + min);
  const zeroCode = table.findIndex((v) => v === 0);
  return {
    parameters: { codes: q.dtype, scale, min, to: target, zeroCode: zeroCode >= 0 ? zeroCode : undefined },
    decode(stored: Uint8Array, numel: number): Uint8Array {
      const out = target === 'float32' ? new Float32Array(numel) : new Int32Array(numel);
      if (q.dtype === 'uint8') {
        for (let i = 0; i < numel; i++) out[i] = table[stored[i]];
      } else {
        const view = new DataView(stored.buffer, stored.byteOffset, stored.byteLength);
        for (let i = 0; i < numel; i++) out[i] = table[view.getUint16(2 * i, true)];
      }
      return new Uint8Array(out.buffer);
    },
  };
}
