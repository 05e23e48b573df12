import {
  DerivedBytesBudget,
  IN_OUT_LAYOUT,
  kerasLayout,
  numelOf,
  OUT_IN_LAYOUT,
  type Checkpoint,
  type Role,
  type SkippedTensor,
  type TensorEntry,
  type TensorSource,
  type WeightLayout,
} from '../../checkpoint';
import type { DType } from '../../dtype';
import { CheckpointError } from '../../errors';
import { OpenFiles } from '../../randomAccessFile';
import { resolveFileBesideModel } from '../shared/fileBesideModel';
import { isJsonObject } from '../shared/jsonDocument';

/**
 * TensorFlow.js `model.json` (layers-model and graph-model): a JSON description whose
 * `weightsManifest` lists groups of weights, each stored in the group's shard files concatenated
 * in `paths` order, weights back to back in listed order (tfjs-core `io.decodeWeights`).
 *
 * Layouts follow Keras: Dense kernels are [in, out], convolution kernels [...kernel, in, out],
 * transposed convolutions [...kernel, out, in]. Depthwise kernels [...kernel, in, multiplier] are
 * read with one neuron per input channel (outAxis = in) and N:M along the multiplier axis: with
 * the usual multiplier 1 that is each output channel's exact fan-in, and every N:M group is
 * partial (a depthwise filter has one input channel, so there is nothing to prune along), as for
 * ONNX depthwise convolutions. With a multiplier > 1 a "neuron" sums its multiplier outputs.
 */

/** TF.js dtypes with a fixed element size ('string' is variable length). */
const TFJS_DTYPES: Readonly<Record<string, { dtype: DType; bytes: number }>> = {
  float32: { dtype: 'float32', bytes: 4 },
  int32: { dtype: 'int32', bytes: 4 },
  bool: { dtype: 'bool', bytes: 1 },
  complex64: { dtype: 'complex64', bytes: 8 },
};

/** Stored bytes per element of each quantization dtype. */
const QUANTIZED_BYTES = { uint8: 1, uint16: 2, float16: 2 } as const;
type QuantizationDType = keyof typeof QUANTIZED_BYTES;

interface Quantization {
  readonly dtype: QuantizationDType;
  readonly scale?: number;
  readonly min?: number;
}

interface WeightSpec {
  readonly name: string;
  readonly shape: number[];
  readonly dtype: string;
  readonly quantization?: Quantization;
}

interface ManifestGroup {
  readonly paths: string[];
  readonly weights: WeightSpec[];
}

export function isTfjsModelJson(json: Record<string, unknown>): boolean {
  return 'weightsManifest' in json;
}

/** More weight files than this in one model.json is not a real model (tfjs writes 4 MB shards). */
export const MAX_WEIGHT_FILES = 100_000;

/**
 * Reads a TF.js model.json already parsed from `path`. Weights lying within one shard are lazy
 * file ranges; a weight spanning two shards, or quantized to uint8/uint16, is materialized
 * (dequantized to float32 / int32 as tfjs-core does) within the checkpoint's DerivedBytesBudget.
 */
export async function readTfjsModel(path: string, json: Record<string, unknown>, budget = new DerivedBytesBudget()): Promise<Checkpoint> {
  const groups = parseManifest(path, json.weightsManifest);
  const files = groups.reduce((n, g) => n + g.paths.length, 0);
  if (files > MAX_WEIGHT_FILES) throw new CheckpointError(path, 'unsupported', `weightsManifest lists ${files} weight files, more than the ${MAX_WEIGHT_FILES} read`);
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
    if (quantization) throw new CheckpointError(path, 'unsupported', `weight ${quoted}: a quantized string tensor (tfjs-core decodes only float32 and int32)`);
    const length = await shards.stringTensorLength(spec, offset);
    return { length, result: { name, reason: 'string tensor (not numeric)' } };
  }
  const plain = Object.hasOwn(TFJS_DTYPES, spec.dtype) ? TFJS_DTYPES[spec.dtype] : undefined;
  if (!plain) {
    throw new CheckpointError(path, 'unsupported', `weight ${quoted}: dtype ${JSON.stringify(spec.dtype)} is not a TF.js weight dtype (float32, int32, bool, complex64, string)`);
  }
  const numel = numelOf(shape);
  const elementBytes = quantization ? QUANTIZED_BYTES[quantization.dtype] : plain.bytes;
  const length = numel * elementBytes;
  shards.checkRange(spec, offset, length);
  const role = roleOf(name, shape);

  if (quantization?.dtype === 'uint8' || quantization?.dtype === 'uint16') {
    if (plain.dtype !== 'float32' && plain.dtype !== 'int32') {
      throw new CheckpointError(path, 'unsupported', `weight ${quoted}: ${quantization.dtype} quantization of a ${spec.dtype} weight (tfjs-core decodes only float32 and int32)`);
    }
    const decoder = affineDecoder(path, name, quantization, plain.dtype);
    const refused = budget.reserve(numel * 4);
    if (refused) return { length, result: { name, reason: `dequantizing it ${refused}` } };
    const bytes = decoder.decode(await shards.read(offset, length), numel);
    return { length, result: { name, dtype: plain.dtype, shape, source: { kind: 'inline', bytes }, ...role, note: decoder.note } };
  }
  if (quantization?.dtype === 'float16' && plain.dtype !== 'float32') {
    throw new CheckpointError(path, 'unsupported', `weight ${quoted}: float16 quantization of a ${spec.dtype} weight (tfjs-core allows it only for float32)`);
  }
  // float16-quantized weights are analysed as stored: every half float is exactly a float32, so
  // zero-ness does not change in the widening tfjs-core does.
  const dtype: DType = quantization ? 'float16' : plain.dtype;
  const note = quantization ? 'stored as float16 (TF.js quantization of a float32 weight)' : undefined;
  let source: TensorSource | undefined = shards.fileRange(offset, length);
  if (!source) {
    const refused = budget.reserve(length);
    if (refused) return { length, result: { name, reason: `spans two weight files, and joining them ${refused}` } };
    source = { kind: 'inline', bytes: await shards.read(offset, length) };
  }
  return { length, result: { name, dtype, shape, source, ...role, ...(note ? { note } : {}) } };
}

/**
 * tfjs-core's affine dequantization, v × scale + min (float32 weights: rounded to float32; int32
 * weights: Math.round), through a table over every code. The note says which code decodes to
 * exactly 0, or that none does: then no weight of the tensor is zero.
 */
function affineDecoder(path: string, name: string, q: Quantization, target: 'float32' | 'int32') {
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
  const how = `dequantized from ${q.dtype} (v × scale + min)`;
  const note = zeroCode >= 0 ? `${how}; 0 = code ${zeroCode}` : `${how}; 0 is not representable: no weight decodes to exactly 0`;
  return {
    note,
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

// ------------------------------------------------------------------------------------------------
// weightsManifest
// ------------------------------------------------------------------------------------------------

function parseManifest(path: string, manifest: unknown): ManifestGroup[] {
  const bad = (what: string) => new CheckpointError(path, 'corrupt', `weightsManifest: ${what}`);
  if (!Array.isArray(manifest)) throw bad('is not a list of weight groups');
  return manifest.map((group, g) => {
    if (!isJsonObject(group)) throw bad(`group ${g + 1} is not an object`);
    const { paths, weights } = group;
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string')) throw bad(`group ${g + 1}: "paths" is not a list of file names`);
    if (!Array.isArray(weights)) throw bad(`group ${g + 1}: "weights" is not a list`);
    return { paths: paths as string[], weights: weights.map((w, i) => parseWeightSpec(path, g, i, w)) };
  });
}

function parseWeightSpec(path: string, g: number, i: number, w: unknown): WeightSpec {
  const where = `weightsManifest group ${g + 1}, weight ${i + 1}`;
  if (!isJsonObject(w) || typeof w.name !== 'string' || w.name === '') throw new CheckpointError(path, 'corrupt', `${where} has no name`);
  const bad = (what: string) => new CheckpointError(path, 'corrupt', `weight ${JSON.stringify(w.name)}: ${what}`);
  if (!Array.isArray(w.shape) || !w.shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw bad('shape is not a list of non-negative integers');
  }
  if (typeof w.dtype !== 'string') throw bad('dtype is missing');
  const spec = { name: w.name, shape: w.shape as number[], dtype: w.dtype };
  if (w.quantization === undefined || w.quantization === null) return spec;
  const q = w.quantization;
  if (!isJsonObject(q)) throw bad('quantization is not an object');
  if (typeof q.dtype !== 'string' || !Object.hasOwn(QUANTIZED_BYTES, q.dtype)) {
    throw new CheckpointError(path, 'unsupported', `weight ${JSON.stringify(w.name)}: quantization dtype ${JSON.stringify(String(q.dtype))} is not one TF.js defines (uint8, uint16, float16)`);
  }
  return {
    ...spec,
    quantization: {
      dtype: q.dtype as QuantizationDType,
      ...(q.scale !== undefined ? { scale: q.scale as number } : {}),
      ...(q.min !== undefined ? { min: q.min as number } : {}),
    },
  };
}

interface Shard {
  readonly name: string;
  readonly path: string;
  /** Offset of the shard's first byte in the group's byte sequence. */
  readonly start: number;
  readonly size: number;
}

/** One manifest group's shard files, read as the one byte sequence they form end to end. */
class WeightGroup {
  private readonly files = new OpenFiles();
  private window: { start: number; bytes: Uint8Array } | undefined;

  private constructor(
    private readonly modelPath: string,
    private readonly group: number,
    private readonly shards: readonly Shard[],
    readonly size: number,
  ) {}

  /** `listed` maps the resolved path of every weight file met so far to its name: one listed twice is refused. */
  static async open(modelPath: string, group: number, paths: readonly string[], listed: Map<string, string>): Promise<WeightGroup> {
    const shards: Shard[] = [];
    let start = 0;
    for (const name of paths) {
      const what = `weight file ${JSON.stringify(name)}`;
      const file = await resolveFileBesideModel(modelPath, name, what);
      const first = listed.get(file.path);
      if (first !== undefined) {
        throw new CheckpointError(modelPath, 'corrupt', first === name ? `weightsManifest lists ${what} twice` : `weightsManifest lists ${what}, the same file as ${JSON.stringify(first)}`);
      }
      listed.set(file.path, name);
      shards.push({ name, path: file.path, start, size: file.size });
      start += file.size;
    }
    return new WeightGroup(modelPath, group, shards, start);
  }

  /** The manifest must not ask for bytes past the end of the group's files. */
  checkRange(spec: WeightSpec, offset: number, length: number): void {
    if (!Number.isSafeInteger(length) || offset + length > this.size) {
      const files = this.shards.map((s) => s.name).join(', ') || 'no files';
      throw new CheckpointError(
        this.modelPath,
        'truncated',
        `weight ${JSON.stringify(spec.name)} [${spec.shape.join(', ')}] needs bytes ${offset}..${offset + length} of weight group ${this.group}, but its files (${files}) hold ${this.size} bytes`,
      );
    }
  }

  /** The weight's bytes as a lazy file range, when one shard holds them all. */
  fileRange(offset: number, length: number): TensorSource | undefined {
    if (length === 0) return { kind: 'inline', bytes: new Uint8Array(0) };
    const shard = this.shards[this.shardAt(offset)];
    return offset + length <= shard.start + shard.size ? { kind: 'file', path: shard.path, offset: offset - shard.start, length } : undefined;
  }

  /** Reads a range that may cross shard boundaries (the caller has checked its bounds). */
  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    for (let i = this.shardAt(offset); i < this.shards.length && this.shards[i].start < offset + length; i++) {
      const s = this.shards[i];
      const from = Math.max(offset, s.start);
      const to = Math.min(offset + length, s.start + s.size);
      if (from >= to) continue;
      await (await this.files.get(s.path)).read(from - s.start, to - from, out.subarray(from - offset, to - offset));
    }
    return out;
  }

  /** The shard holding byte `offset` of the group (0 ≤ offset < size): the last one starting at or before it. */
  private shardAt(offset: number): number {
    let lo = 0;
    let hi = this.shards.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.shards[mid].start <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Bytes of a string tensor: per element a uint32 LE length and that many bytes. */
  async stringTensorLength(spec: WeightSpec, offset: number): Promise<number> {
    const numel = numelOf(spec.shape);
    let at = offset;
    for (let i = 0; i < numel; i++) {
      this.checkRange(spec, offset, at + 4 - offset);
      at += 4 + (await this.uint32At(at));
    }
    this.checkRange(spec, offset, at - offset);
    return at - offset;
  }

  private async uint32At(offset: number): Promise<number> {
    const w = this.window;
    if (!w || offset < w.start || offset + 4 > w.start + w.bytes.length) {
      const bytes = await this.read(offset, Math.min(1 << 16, this.size - offset));
      this.window = { start: offset, bytes };
      return this.uint32At(offset);
    }
    const i = offset - w.start;
    return new DataView(w.bytes.buffer, w.bytes.byteOffset + i, 4).getUint32(0, true);
  }

  close(): Promise<void> {
    return this.files.close();
  }
}

// ------------------------------------------------------------------------------------------------
// roles from the topology
// ------------------------------------------------------------------------------------------------

/**
 * How a kernel is laid out: `in-out` [in, out] (Dense, MatMul), `out-in` [out, in] (MatMul with
 * transpose_b), `conv` [...kernel, in, out], `conv-transpose` [...kernel, out, in], `depthwise`
 * [...kernel, in, multiplier] (see the module comment).
 */
type KernelKind = 'in-out' | 'out-in' | 'conv' | 'conv-transpose' | 'depthwise';

function roleOfKind(kind: KernelKind | undefined, shape: readonly number[]): { role: Role; layout?: WeightLayout } {
  const r = shape.length;
  if (kind === 'in-out' && r === 2) return { role: 'linear', layout: IN_OUT_LAYOUT };
  if (kind === 'out-in' && r === 2) return { role: 'linear', layout: OUT_IN_LAYOUT };
  if (r < 3 || r > 5) return { role: 'other' };
  if (kind === 'conv') return { role: 'conv', layout: kerasLayout(r) };
  if (kind === 'conv-transpose' || kind === 'depthwise') return { role: 'conv', layout: { outAxis: r - 2, inAxis: r - 1 } };
  return { role: 'other' };
}

const CONV_KERNEL = { kernel: 'conv' } as const;
const TRANSPOSED_KERNEL = { kernel: 'conv-transpose' } as const;
const DEPTHWISE_KERNEL = { depthwise_kernel: 'depthwise' } as const;
const SEPARABLE_KERNELS = { depthwise_kernel: 'depthwise', pointwise_kernel: 'conv' } as const;
const RECURRENT_KERNELS = { kernel: 'in-out', recurrent_kernel: 'in-out' } as const;

/** Keras layer class → its weight variables' layouts; other variables (bias, gamma…) are 'other'. */
const LAYER_KERNELS: Readonly<Record<string, Readonly<Record<string, KernelKind>>>> = {
  Dense: { kernel: 'in-out' },
  Conv1D: CONV_KERNEL,
  Conv2D: CONV_KERNEL,
  Conv3D: CONV_KERNEL,
  Conv1DTranspose: TRANSPOSED_KERNEL,
  Conv2DTranspose: TRANSPOSED_KERNEL,
  Conv3DTranspose: TRANSPOSED_KERNEL,
  DepthwiseConv1D: DEPTHWISE_KERNEL,
  DepthwiseConv2D: DEPTHWISE_KERNEL,
  SeparableConv1D: SEPARABLE_KERNELS,
  SeparableConv2D: SEPARABLE_KERNELS,
  LSTM: RECURRENT_KERNELS,
  GRU: RECURRENT_KERNELS,
  SimpleRNN: RECURRENT_KERNELS,
  LSTMCell: RECURRENT_KERNELS,
  GRUCell: RECURRENT_KERNELS,
  SimpleRNNCell: RECURRENT_KERNELS,
  ConvLSTM2D: { kernel: 'conv', recurrent_kernel: 'conv' },
};

/**
 * Without a known layer: Keras variable names. A `kernel` of rank 3 or more is a convolution's
 * only when the layer class, if known, says convolution: MultiHeadAttention and EinsumDense keep
 * rank-3 `kernel`s that are projections, not convolutions.
 */
function kindByVariableName(variable: string, rank: number, layerClass?: string): KernelKind | undefined {
  switch (variable) {
    case 'kernel':
      if (rank === 2) return 'in-out';
      return layerClass === undefined || layerClass.includes('Conv') ? 'conv' : undefined;
    case 'recurrent_kernel':
      return 'in-out';
    case 'depthwise_kernel':
      return 'depthwise';
    case 'pointwise_kernel':
      return 'conv';
    default:
      return undefined;
  }
}

/**
 * Finds each weight's role: a layers-model's topology names the layer class of `layer/variable`
 * weights; a graph-model's nodes tell which op consumes each weight; otherwise the Keras variable
 * name and the rank decide.
 */
function roleFinder(topology: unknown): (name: string, shape: readonly number[]) => { role: Role; layout?: WeightLayout } {
  const classes = layerClasses(topology);
  const consumers = graphConsumers(topology);
  return (name, shape) => {
    const consumed = consumers.get(name);
    if (consumed) return roleOfKind(consumed, shape);
    const parts = name.split('/');
    const variable = parts[parts.length - 1].replace(/:\d+$/, '');
    for (let i = parts.length - 2; i >= 0; i--) {
      const cls = classes.get(parts[i]);
      if (cls === undefined) continue;
      const known = Object.hasOwn(LAYER_KERNELS, cls) ? LAYER_KERNELS[cls] : undefined;
      // A known class names its kernels exactly; a custom layer falls back to Keras variable names.
      return roleOfKind(known ? (Object.hasOwn(known, variable) ? known[variable] : undefined) : kindByVariableName(variable, shape.length, cls), shape);
    }
    return roleOfKind(kindByVariableName(variable, shape.length), shape);
  };
}

/** Layer name → class name over a Keras / tfjs-layers topology, nested models and wrappers included. */
function layerClasses(topology: unknown): Map<string, string> {
  const classes = new Map<string, string>();
  const visit = (layer: unknown, depth: number): void => {
    if (!isJsonObject(layer) || depth > 100 || typeof layer.class_name !== 'string') return;
    const config = layer.config;
    const name = isJsonObject(config) && typeof config.name === 'string' ? config.name : typeof layer.name === 'string' ? layer.name : undefined;
    // Wrappers (TimeDistributed, Bidirectional) keep the wrapped layer's weights under their name.
    const wrapped = isJsonObject(config) && isJsonObject(config.layer) ? config.layer : undefined;
    const cls = wrapped && typeof wrapped.class_name === 'string' ? wrapped.class_name : layer.class_name;
    if (name !== undefined && !classes.has(name)) classes.set(name, cls);
    if (wrapped) visit(wrapped, depth + 1);
    const children = Array.isArray(config) ? config : isJsonObject(config) ? config.layers : undefined;
    if (Array.isArray(children)) for (const child of children) visit(child, depth + 1);
  };
  // Keras-converted models wrap the topology as {keras_version, backend, model_config}.
  visit(isJsonObject(topology) && isJsonObject(topology.model_config) ? topology.model_config : topology, 0);
  return classes;
}

/** Graph-model weight (Const node) name → the layout implied by the op that consumes it. */
function graphConsumers(topology: unknown): Map<string, KernelKind> {
  const kinds = new Map<string, KernelKind>();
  const nodes = isJsonObject(topology) && Array.isArray(topology.node) ? topology.node : [];
  const identityOf = new Map<string, string>();
  const inputsOf = (node: Record<string, unknown>) =>
    Array.isArray(node.input) ? node.input.filter((s): s is string => typeof s === 'string').map((s) => s.replace(/^\^/, '').replace(/:\d+$/, '')) : [];
  for (const node of nodes) {
    if (isJsonObject(node) && node.op === 'Identity' && typeof node.name === 'string') identityOf.set(node.name, inputsOf(node)[0] ?? '');
  }
  const source = (name: string | undefined) => {
    for (let hops = 0; name !== undefined && identityOf.has(name) && hops < 100; hops++) name = identityOf.get(name);
    return name;
  };
  for (const node of nodes) {
    if (!isJsonObject(node)) continue;
    const weight = source(inputsOf(node)[1]);
    if (weight === undefined || kinds.has(weight)) continue;
    const attr = isJsonObject(node.attr) ? node.attr : {};
    const transposeB = isJsonObject(attr.transpose_b) && attr.transpose_b.b === true;
    switch (node.op) {
      case 'MatMul':
      case '_FusedMatMul':
        kinds.set(weight, transposeB ? 'out-in' : 'in-out');
        break;
      case 'Conv2D':
      case '_FusedConv2D':
      case 'Conv3D':
        kinds.set(weight, 'conv');
        break;
      case 'DepthwiseConv2dNative':
      case 'FusedDepthwiseConv2dNative':
        kinds.set(weight, 'depthwise');
        break;
      case 'Conv2DBackpropInput':
      case 'Conv3DBackpropInputV2':
        kinds.set(weight, 'conv-transpose');
        break;
    }
  }
  return kinds;
}

