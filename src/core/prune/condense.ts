import * as nodePath from 'node:path';
import type { CheckpointKey } from '../../kernels/checkpointKernels';
import { formatBytes, numelOf, type Checkpoint, type SkippedTensor, type TensorEntry } from '../checkpoint';
import { MAX_DERIVED_BYTES, MAX_DERIVED_BYTES_PER_CHECKPOINT } from '../derivedBytes';
import { byteLength, DTYPE_BITS, markNonZero, type DType } from '../dtype';
import { printable } from '../errors';
import {
  CONDENSED_KEY,
  CONDENSED_VERSION,
  condensedPartNames,
  indexDTypeFor,
  type CondensedManifest,
  type CondensedManifestLayer,
} from '../formats/safetensors/condensed';
import { SAFETENSORS_DTYPES } from '../formats/safetensors/reader';
import { encodeHeader } from '../formats/safetensors/writer';
import { createFile } from '../outputFiles';
import { storageNote } from '../storedTensor';
import { chunkPairs, CHUNK_ELEMENTS, tensorChunks } from '../tensorBytes';
import { VerificationError } from './pruneCheckpoint';
import { provenanceOf } from './provenance';
import { PruneError, type SkippedLayer } from './pruneSelection';
import { checkOutputs, inputFiles, writeStaged } from './stagedOutput';

export interface CondenseRequest extends CheckpointKey {
  /** The safetensors file to write. */
  readonly output: string;
  /** Replace an existing output file. */
  readonly force: boolean;
  readonly toolVersion: string;
}

/** One weight written condensed. */
export interface CondensedLayerResult {
  readonly name: string;
  readonly displayName?: string;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly k: number;
  readonly denseFanIn: number;
  readonly activeRows: number;
  readonly removedRows: number;
  readonly indexDtype: 'int16' | 'int32';
  /** The weight's bytes dense, and its three parts' bytes condensed. */
  readonly denseBytes: number;
  readonly condensedBytes: number;
}

/** The JSON of `sparsity-lens condense`: keys may be added, never changed. */
export interface CondenseResult {
  readonly input: string;
  /** The file written. */
  readonly written: readonly string[];
  readonly layers: readonly CondensedLayerResult[];
  /** Linear and conv weights written dense, with the reason. */
  readonly skipped: readonly SkippedLayer[];
  /** Tensors the input's reader did not analyse, with its reason: they are not in the output. */
  readonly notWritten: readonly SkippedTensor[];
  /** Tensors whose analysed values are not their stored bytes (byte-swapped, dequantized …): written as analysed. */
  readonly converted: readonly { readonly name: string; readonly note: string }[];
  /** Zeros are not stored: a condensed layer expands with +0.0 wherever it holds no value (the sign of pruned zeros is dropped). */
  readonly zeros: 'unsigned';
  readonly inputSha256: string;
}

export type CondenseProgress = {
  readonly phase: 'scanning' | 'writing' | 'verifying';
  readonly done: number;
  readonly total: number;
  readonly name?: string;
};

export interface CondenseOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: CondenseProgress) => void;
}

/** A weight found to have constant fan-in, and how it is condensed. */
interface LayerPlan {
  readonly tensor: TensorEntry;
  readonly k: number;
  readonly denseFanIn: number;
  readonly active: Int32Array;
  readonly removed: readonly number[];
  readonly indexDtype: 'int16' | 'int32';
}

/** A tensor of the output: its name, dtype, shape and byte length, with where it goes. */
interface OutputTensor {
  readonly name: string;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly length: number;
  /** Offset in the data section, set once all are known. */
  begin: number;
}

/** Safetensors' name of each dtype it has (the first name where two read as one: F8_E4M3 for float8_e4m3fn). */
const SAFETENSORS_NAMES = new Map<DType, string>();
for (const [name, dtype] of Object.entries(SAFETENSORS_DTYPES)) if (!SAFETENSORS_NAMES.has(dtype)) SAFETENSORS_NAMES.set(dtype, name);

/** Metadata the safetensors reader adds for display to a shard set, which is not the files' own. */
const SHARD_DISPLAY_KEYS = ['shards', 'shard files'];

/**
 * Writes an opened checkpoint (any format the project reads) as safetensors with each constant
 * fan-in weight in SRigL's condensed layout (see formats/safetensors/condensed.ts) and every other
 * tensor as it is analysed. The output is staged beside its final place, re-opened and checked
 * (every input tensor present; each condensed one expanding to the input's bytes except that its
 * zeros become +0.0, every other one byte-identical) and only then renamed into place.
 */
export async function condenseCheckpoint(
  checkpoint: Checkpoint,
  request: CondenseRequest,
  options: CondenseOptions = {},
): Promise<CondenseResult> {
  const { signal, onProgress } = options;
  if (nodePath.extname(request.output).toLowerCase() !== '.safetensors')
    throw new PruneError(
      `a condensed checkpoint is written as safetensors, so the output must end in .safetensors: ${nodePath.basename(request.output)}`,
    );
  const seen = new Set<string>();
  for (const t of checkpoint.tensors) {
    if (seen.has(t.name))
      throw new PruneError(`${checkpoint.file} holds two tensors named "${printable(t.name)}": a safetensors file cannot`);
    seen.add(t.name);
  }
  const inputs = inputFiles(checkpoint);
  await checkOutputs([request.output], inputs, request.force);
  for (const t of checkpoint.tensors) {
    if (!SAFETENSORS_NAMES.has(t.dtype))
      throw new PruneError(`tensor "${printable(t.name)}" is ${t.dtype}, which safetensors has no dtype for`);
    if (byteLength(t.dtype, numelOf(t.shape)) === undefined)
      throw new PruneError(`tensor "${printable(t.name)}": ${numelOf(t.shape)} elements of ${t.dtype} do not fill whole bytes`);
  }

  const { plans, skipped } = await planLayers(checkpoint, signal, onProgress);
  if (plans.size === 0) {
    const why = skipped.map((s) => `${printable(s.name)}: ${s.reason}`).join('; ');
    throw new PruneError(`nothing to condense: no linear or conv weight can be stored condensed${why ? ` (${why})` : ''}`);
  }
  const tensors = outputTensors(checkpoint, plans);
  const manifest: CondensedManifest = {
    version: CONDENSED_VERSION,
    layers: Object.fromEntries(
      [...plans.values()].map((p): [string, CondensedManifestLayer] => [
        p.tensor.name,
        { shape: p.tensor.shape, dtype: SAFETENSORS_NAMES.get(p.tensor.dtype)!, k: p.k, denseFanIn: p.denseFanIn, removedRows: p.removed },
      ]),
    ),
  };
  const provenance = await provenanceOf(checkpoint.file, request.toolVersion);
  const kept =
    checkpoint.format === 'safetensors'
      ? Object.fromEntries(Object.entries(checkpoint.metadata).filter(([k]) => !(inputs.length > 1 && SHARD_DISPLAY_KEYS.includes(k))))
      : {};
  const metadata = {
    ...kept,
    ...provenance,
    'sparsity_lens.zeros': 'condensed layers store no zeros: expanded, every weight they do not hold is +0.0',
    [CONDENSED_KEY]: JSON.stringify(manifest),
  };

  const name = nodePath.basename(request.output);
  const { paths } = await writeStaged({
    output: request.output,
    inputs,
    force: request.force,
    signal,
    onPhase: (phase) => onProgress?.({ phase, done: 0, total: 1 }),
    write: async (folder) => {
      await writeCondensed(nodePath.join(folder, name), checkpoint, tensors, metadata, plans, signal);
      return [name];
    },
    verify: (written) => verifyCondensed(checkpoint, written, plans, signal),
  });
  return {
    input: checkpoint.file,
    written: paths,
    layers: [...plans.values()].map((p) => layerResult(p)),
    skipped,
    notWritten: checkpoint.skipped,
    converted: checkpoint.tensors.flatMap((t) => {
      const note = plans.has(t.name) ? undefined : storageNote(t.stored);
      return note === undefined ? [] : [{ name: t.name, note }];
    }),
    zeros: 'unsigned',
    inputSha256: provenance['sparsity_lens.input_sha256'],
  };
}

function layerResult(p: LayerPlan): CondensedLayerResult {
  const t = p.tensor;
  const size = DTYPE_BITS[t.dtype] / 8;
  const stored = p.active.length * p.k;
  return {
    name: t.name,
    ...(t.displayName ? { displayName: t.displayName } : {}),
    shape: t.shape,
    dtype: t.dtype,
    k: p.k,
    denseFanIn: p.denseFanIn,
    activeRows: p.active.length,
    removedRows: p.removed.length,
    indexDtype: p.indexDtype,
    denseBytes: numelOf(t.shape) * size,
    condensedBytes: stored * size + stored * (DTYPE_BITS[p.indexDtype] / 8) + p.active.length * 4,
  };
}

/**
 * The linear and conv weights to condense: stored [out, …], whole-byte elements, constant fan-in
 * k over the rows that are not all zero (from the non-zero mask, -0.0 counting as zero), not fully
 * dense, and small enough for the reader to expand again; the others with the reason.
 */
async function planLayers(
  checkpoint: Checkpoint,
  signal: AbortSignal | undefined,
  onProgress: CondenseOptions['onProgress'],
): Promise<{ plans: Map<string, LayerPlan>; skipped: SkippedLayer[] }> {
  // Only the tensors written: those the reader listed apart (a condensed input's own parts among them) are not.
  const names = new Set(checkpoint.tensors.map((t) => t.name));
  const weights = checkpoint.tensors.filter((t) => t.layout && (t.role === 'linear' || t.role === 'conv'));
  const plans = new Map<string, LayerPlan>();
  const skipped: SkippedLayer[] = [];
  let expandedBytes = 0;
  for (const [i, t] of weights.entries()) {
    signal?.throwIfAborted();
    onProgress?.({ phase: 'scanning', done: i, total: weights.length, name: t.name });
    const skip = (reason: string) => skipped.push({ name: t.name, reason });
    const numel = numelOf(t.shape);
    const bits = DTYPE_BITS[t.dtype];
    if (t.layout!.outAxis !== 0) {
      skip(`its outputs are on axis ${t.layout!.outAxis} ([in, out] storage): only weights stored [out, …] are condensed`);
      continue;
    }
    if (bits % 8 !== 0) {
      skip(`its ${t.dtype} elements are packed ${8 / bits} to a byte: only whole-byte elements are condensed`);
      continue;
    }
    if (numel === 0) {
      skip('it is empty');
      continue;
    }
    const out = t.shape[0];
    const fanIn = numel / out;
    if (fanIn > 0x7fffffff) {
      skip(`its dense fan-in ${fanIn} does not fit int32 indices`);
      continue;
    }
    const parts = Object.values(condensedPartNames(t.name));
    const taken = parts.find((p) => names.has(p));
    if (taken !== undefined) {
      skip(`the name of its part "${printable(taken)}" is taken by another tensor`);
      continue;
    }
    const denseBytes = numel * (bits / 8);
    if (denseBytes > MAX_DERIVED_BYTES || expandedBytes + denseBytes > MAX_DERIVED_BYTES_PER_CHECKPOINT) {
      skip(
        `expanded again it would take ${formatBytes(denseBytes)}, and a reader expands at most ${formatBytes(MAX_DERIVED_BYTES)} per layer and ${formatBytes(MAX_DERIVED_BYTES_PER_CHECKPOINT)} per file`,
      );
      continue;
    }
    const counts = await rowCounts(t, fanIn, signal);
    const active: number[] = [];
    const removed: number[] = [];
    let min = Infinity;
    let max = 0;
    counts.forEach((c, row) => {
      if (c === 0) removed.push(row);
      else {
        active.push(row);
        min = Math.min(min, c);
        max = Math.max(max, c);
      }
    });
    if (active.length === 0) skip('every row is zero');
    else if (min !== max) skip(`not constant fan-in: its non-zero rows hold from ${min} to ${max} weights`);
    else if (min === fanIn && removed.length === 0)
      skip(`dense: every row holds all ${fanIn} weights, so condensing would only add indices`);
    else {
      expandedBytes += denseBytes;
      plans.set(t.name, {
        tensor: t,
        k: min,
        denseFanIn: fanIn,
        active: Int32Array.from(active),
        removed,
        indexDtype: indexDTypeFor(fanIn),
      });
    }
  }
  onProgress?.({ phase: 'scanning', done: weights.length, total: weights.length });
  return { plans, skipped };
}

/** The non-zeros of each output row of a weight stored [out, …] (rows of `fanIn` elements in C order). */
async function rowCounts(t: TensorEntry, fanIn: number, signal?: AbortSignal): Promise<Uint32Array> {
  const counts = new Uint32Array(t.shape[0]);
  const mask = new Uint8Array(Math.min(CHUNK_ELEMENTS, numelOf(t.shape)));
  for await (const chunk of tensorChunks(t.source, t.dtype, numelOf(t.shape), CHUNK_ELEMENTS, signal)) {
    markNonZero(t.dtype, chunk.bytes, chunk.count, mask);
    for (let i = 0, row = Math.floor(chunk.first / fanIn), col = chunk.first % fanIn; i < chunk.count; i++) {
      counts[row] += mask[i];
      if (++col === fanIn) {
        col = 0;
        row++;
      }
    }
  }
  return counts;
}

/**
 * The output's tensors in header order, the input's order with each condensed layer's three parts
 * in its place; data offsets assigned by element size, largest first (stable), as the reference
 * writer orders them, so every tensor starts aligned to its element size.
 */
function outputTensors(checkpoint: Checkpoint, plans: ReadonlyMap<string, LayerPlan>): OutputTensor[] {
  const tensors: OutputTensor[] = [];
  const add = (name: string, dtype: DType, shape: readonly number[]) =>
    tensors.push({ name, dtype, shape, length: byteLength(dtype, numelOf(shape))!, begin: 0 });
  for (const t of checkpoint.tensors) {
    const plan = plans.get(t.name);
    if (!plan) {
      add(t.name, t.dtype, t.shape);
      continue;
    }
    const names = condensedPartNames(t.name);
    const rows = plan.active.length;
    add(names.values, t.dtype, [rows, plan.k]);
    add(names.indices, plan.indexDtype, [rows, plan.k]);
    add(names.activeRows, 'int32', [rows]);
  }
  const bySize = [...tensors].sort((a, b) => DTYPE_BITS[b.dtype] - DTYPE_BITS[a.dtype]);
  let offset = 0;
  for (const t of bySize) {
    t.begin = offset;
    offset += t.length;
  }
  return tensors;
}

/** Writes the whole safetensors file: the header, each copied tensor's analysed bytes, and each condensed layer's parts. */
async function writeCondensed(
  path: string,
  checkpoint: Checkpoint,
  tensors: readonly OutputTensor[],
  metadata: Readonly<Record<string, string>>,
  plans: ReadonlyMap<string, LayerPlan>,
  signal?: AbortSignal,
): Promise<void> {
  const header = encodeHeader(
    metadata,
    tensors.map((t) => [t.name, { dtype: SAFETENSORS_NAMES.get(t.dtype), shape: t.shape, data_offsets: [t.begin, t.begin + t.length] }]),
  );
  const placed = new Map(tensors.map((t) => [t.name, header.length + t.begin]));
  const out = await createFile(path);
  const write = (bytes: Uint8Array, at: number) => out.write(bytes, at);
  try {
    await write(header, 0);
    for (const t of checkpoint.tensors) {
      const plan = plans.get(t.name);
      if (plan) {
        await writeParts(t, plan, placed, write, signal);
        continue;
      }
      let at = placed.get(t.name)!;
      for await (const chunk of tensorChunks(t.source, t.dtype, numelOf(t.shape), CHUNK_ELEMENTS, signal)) {
        await write(chunk.bytes, at);
        at += chunk.bytes.length;
      }
    }
  } finally {
    await out.close();
  }
}

/**
 * One pass over a constant fan-in weight: the non-zeros of each row (by the mask, never by value
 * sums) as raw element bytes into `.values`, their columns into `.indices`; then `.active_rows`.
 */
async function writeParts(
  t: TensorEntry,
  plan: LayerPlan,
  placed: ReadonlyMap<string, number>,
  write: (bytes: Uint8Array, at: number) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const names = condensedPartNames(t.name);
  const size = DTYPE_BITS[t.dtype] / 8;
  const indexSize = DTYPE_BITS[plan.indexDtype] / 8;
  const fanIn = plan.denseFanIn;
  const total = plan.active.length * plan.k;
  const batch = Math.min(CHUNK_ELEMENTS, total);
  const values = new Uint8Array(batch * size);
  const indices = plan.indexDtype === 'int16' ? new Int16Array(batch) : new Int32Array(batch);
  const mask = new Uint8Array(Math.min(CHUNK_ELEMENTS, numelOf(t.shape)));
  let held = 0;
  let written = 0;
  const flush = async () => {
    await write(values.subarray(0, held * size), placed.get(names.values)! + written * size);
    await write(new Uint8Array(indices.buffer, 0, held * indexSize), placed.get(names.indices)! + written * indexSize);
    written += held;
    held = 0;
  };
  for await (const chunk of tensorChunks(t.source, t.dtype, numelOf(t.shape), CHUNK_ELEMENTS, signal)) {
    markNonZero(t.dtype, chunk.bytes, chunk.count, mask);
    for (let i = 0, col = chunk.first % fanIn; i < chunk.count; i++) {
      if (mask[i]) {
        if (written + held === total) throw new Error(`${t.name} changed while it was being condensed`);
        values.set(chunk.bytes.subarray(i * size, (i + 1) * size), held * size);
        indices[held++] = col;
        if (held === batch) await flush();
      }
      if (++col === fanIn) col = 0;
    }
  }
  if (held > 0) await flush();
  if (written !== total) throw new Error(`${t.name} changed while it was being condensed`);
  await write(new Uint8Array(plan.active.buffer, plan.active.byteOffset, plan.active.byteLength), placed.get(names.activeRows)!);
}

/**
 * Re-reads the written file: the same tensors (names, dtypes, shapes) as the input, each
 * condensed layer read back through its manifest and equal to the input's bytes except that its
 * zeros are +0.0, every other tensor byte-identical, and nothing else listed apart.
 */
async function verifyCondensed(input: Checkpoint, output: Checkpoint, plans: ReadonlyMap<string, LayerPlan>, signal?: AbortSignal) {
  const fail = (what: string): never => {
    throw new VerificationError(`the written file did not verify: ${what}; it was not kept`);
  };
  if (output.tensors.length !== input.tensors.length)
    fail(`it reads back as ${output.tensors.length} tensors, not ${input.tensors.length}`);
  if (output.skipped.length !== 0) fail(`it lists ${output.skipped.length} tensors apart`);
  const written = new Map(output.tensors.map((t) => [t.name, t]));
  for (const a of input.tensors) {
    const b = written.get(a.name);
    if (!b || b.dtype !== a.dtype || b.shape.join() !== a.shape.join())
      return fail(`tensor "${a.name}" is missing or changed type or shape`);
    const plan = plans.get(a.name);
    if (plan && !(b.stored.kind === 'derived' && b.stored.op === 'condensed' && b.stored.k === plan.k))
      fail(`tensor "${a.name}" does not read back as condensed with k = ${plan.k}`);
    if (!(await sameOrUnsignedZeros(a, b, plan !== undefined, signal))) fail(`tensor "${a.name}" holds other values than it should`);
  }
}

/** Whether `b` equals `a` byte for byte, or with `zerosUnsigned`: all-zero bytes wherever `a` is zero (±0) and `a`'s bytes elsewhere. */
async function sameOrUnsignedZeros(a: TensorEntry, b: TensorEntry, zerosUnsigned: boolean, signal?: AbortSignal): Promise<boolean> {
  const size = DTYPE_BITS[a.dtype] / 8;
  const mask = new Uint8Array(Math.min(CHUNK_ELEMENTS, numelOf(a.shape)));
  for await (const [{ bytes: x, count }, { bytes: y }] of chunkPairs(a, b, numelOf(a.shape), signal)) {
    if (!zerosUnsigned) {
      if (Buffer.compare(x, y) !== 0) return false;
      continue;
    }
    markNonZero(a.dtype, x, count, mask);
    for (let i = 0; i < count; i++) for (let j = i * size; j < (i + 1) * size; j++) if (y[j] !== (mask[i] ? x[j] : 0)) return false;
  }
  return true;
}
