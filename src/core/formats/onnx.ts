import { type SkippedTensor, numelOf, type Checkpoint, type TensorEntry, type TensorSource } from '../checkpoint';
import { CheckpointError } from '../errors';
import { resolveFileBesideModel } from './fileBesideModel';
import type { RandomAccessFile } from '../randomAccessFile';
import { analyseGraph, type OnnxNode } from './onnxGraph';
import { analysedValues, SourceReader, storedBits, type StoredTensor, type StoredType } from './onnxQuantized';
import { ProtobufWalker, signed, Wire, type Field } from './protobufWalker';

/** onnx.proto TensorProto.DataType → our dtype; the rest are listed as skipped tensors. */
const ONNX_DTYPES: Readonly<Record<number, StoredType>> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  14: 'complex64',
  15: 'complex128',
  16: 'bfloat16',
  17: 'float8_e4m3fn',
  18: 'float8_e4m3fnuz',
  19: 'float8_e5m2',
  20: 'float8_e5m2fnuz',
  21: 'uint4',
  22: 'int4',
  23: 'float4_e2m1',
  24: 'float8_e8m0',
};
const ONNX_TYPE_NAMES: Readonly<Record<number, string>> = { 8: 'STRING', 25: 'UINT2', 26: 'INT2' };

// Field numbers from onnx.proto.
const MODEL = { irVersion: 1, producerName: 2, producerVersion: 3, graph: 7, opsetImport: 8 } as const;
const GRAPH = { node: 1, initializer: 5, sparseInitializer: 15 } as const;
const NODE = { input: 1, output: 2, opType: 4, attribute: 5 } as const;
const ATTRIBUTE = { name: 1, i: 3, t: 5, g: 6, ints: 8, graphs: 11 } as const;
const TENSOR = {
  dims: 1,
  dataType: 2,
  segment: 3,
  floatData: 4,
  int32Data: 5,
  int64Data: 7,
  name: 8,
  rawData: 9,
  doubleData: 10,
  uint64Data: 11,
  externalData: 13,
  dataLocation: 14,
} as const;

const MAX_GRAPH_DEPTH = 32;

type ParsedTensor = StoredTensor;

interface GraphContents {
  readonly tensors: ParsedTensor[];
  readonly nodes: OnnxNode[];
  readonly skipped: SkippedTensor[];
}

/**
 * Reads an ONNX model's weights (initializers, including those of subgraphs, and Constant node
 * values) with their byte ranges in the file, and gives each its role from the graph: the B input
 * of Gemm (layout by transB), MatMul ([in, out]) and their quantized forms is linear, the W input
 * of Conv and its quantized forms is conv, also when reached through Cast, Identity, Transpose or
 * (De)QuantizeLinear. Quantized weights whose zero point is not 0 are analysed as value − zero
 * point (see onnxQuantized.ts).
 */
export async function readOnnx(file: RandomAccessFile): Promise<Checkpoint> {
  if (file.size === 0) throw new CheckpointError(file.path, 'empty', 'the file is empty');
  const walker = new ProtobufWalker(file);
  const metadata: Record<string, string> = {};
  const contents: GraphContents = { tensors: [], nodes: [], skipped: [] };
  let graphs = 0;
  for await (const f of walker.fields(0, file.size)) {
    if (f.no === MODEL.graph) {
      expectWire(walker, f, Wire.Len, 'ModelProto.graph');
      await readGraph(walker, f, contents, 0);
      graphs++;
    } else if (f.no === MODEL.irVersion && f.wire === Wire.Varint) {
      metadata.ir_version = String(f.varint);
    } else if (f.no === MODEL.producerName && f.wire === Wire.Len) {
      metadata.producer = await walker.string(f);
    } else if (f.no === MODEL.producerVersion && f.wire === Wire.Len) {
      metadata.producer_version = await walker.string(f);
    } else if (f.no === MODEL.opsetImport && f.wire === Wire.Len) {
      const opset = await readOpset(walker, f);
      if (opset.domain === '' || opset.domain === 'ai.onnx') metadata.opset = String(opset.version);
    }
  }
  if (graphs !== 1) {
    throw new CheckpointError(file.path, 'corrupt', graphs === 0 ? 'not an ONNX model: it has no graph' : 'not an ONNX model: it has several graphs');
  }
  const stored = new Map(contents.tensors.map((t) => [t.name, t]));
  const facts = analyseGraph(contents.nodes, new Map(contents.tensors.map((t) => [t.name, t.shape.length])));
  const tensors: TensorEntry[] = [];
  const skipped = [...contents.skipped];
  const reader = new SourceReader(file);
  try {
    for (const t of contents.tensors) {
      const values = await analysedValues(t, facts.zeroPoints.get(t.name), stored, reader);
      if ('reason' in values) {
        skipped.push(values);
        continue;
      }
      const found = facts.roles.get(t.name);
      tensors.push(found ? { ...values, role: found.role, layout: found.layout } : { ...values, role: 'other' });
    }
  } finally {
    await reader.close();
  }
  return { file: file.path, format: 'onnx', tensors, metadata, skipped };
}

function expectWire(walker: ProtobufWalker, f: Field, wire: Wire, what: string): void {
  if (f.wire !== wire) throw walker.corrupt(`${what} has wire type ${f.wire}`, f.start);
}

async function readOpset(walker: ProtobufWalker, field: Field): Promise<{ domain: string; version: number }> {
  let domain = '';
  let version = 0;
  for await (const f of walker.fields(field.start, field.end)) {
    if (f.no === 1 && f.wire === Wire.Len) domain = await walker.string(f);
    if (f.no === 2 && f.wire === Wire.Varint) version = signed(f.varint);
  }
  return { domain, version };
}

async function readGraph(walker: ProtobufWalker, graph: Field, out: GraphContents, depth: number): Promise<void> {
  if (depth > MAX_GRAPH_DEPTH) throw walker.corrupt(`subgraphs nested deeper than ${MAX_GRAPH_DEPTH}`, graph.start);
  for await (const f of walker.fields(graph.start, graph.end)) {
    if (f.wire !== Wire.Len) continue;
    if (f.no === GRAPH.initializer) {
      addTensor(out, await readTensor(walker, f));
    } else if (f.no === GRAPH.node) {
      await readNode(walker, f, out, depth);
    } else if (f.no === GRAPH.sparseInitializer) {
      out.skipped.push({ name: '(sparse initializer)', reason: 'ONNX sparse initializers are not read yet' });
    }
  }
}

function addTensor(out: GraphContents, t: ParsedTensor | SkippedTensor): void {
  if ('reason' in t) out.skipped.push(t);
  else out.tensors.push(t);
}

async function readNode(walker: ProtobufWalker, field: Field, out: GraphContents, depth: number): Promise<void> {
  const node: OnnxNode = { opType: '', inputs: [], outputs: [], ints: new Map(), intLists: new Map() };
  const constants: { attribute: string; tensor: ParsedTensor | SkippedTensor }[] = [];
  for await (const f of walker.fields(field.start, field.end)) {
    if (f.wire !== Wire.Len) continue;
    if (f.no === NODE.input) node.inputs.push(await walker.string(f));
    else if (f.no === NODE.output) node.outputs.push(await walker.string(f));
    else if (f.no === NODE.opType) (node as { opType: string }).opType = await walker.string(f);
    else if (f.no === NODE.attribute) {
      let name = '';
      for await (const a of walker.fields(f.start, f.end)) {
        if (a.no === ATTRIBUTE.name && a.wire === Wire.Len) name = await walker.string(a);
        else if (a.no === ATTRIBUTE.i && a.wire === Wire.Varint) node.ints.set(name, signed(a.varint));
        else if (a.no === ATTRIBUTE.ints) await readInts(walker, a, name, node.intLists);
        else if (a.no === ATTRIBUTE.t && a.wire === Wire.Len) constants.push({ attribute: name, tensor: await readTensor(walker, a) });
        else if ((a.no === ATTRIBUTE.g || a.no === ATTRIBUTE.graphs) && a.wire === Wire.Len) {
          await readGraph(walker, a, out, depth + 1);
        }
      }
    }
  }
  // A Constant node's tensor is known by the node's output name; other unnamed attribute tensors
  // (ConstantOfShape's fill value) by the node's output and the attribute.
  for (const { attribute, tensor } of constants) {
    const output = node.outputs[0] ?? '';
    const name = node.opType === 'Constant' && output ? output : tensor.name || (output && `${output}.${attribute}`);
    addTensor(out, { ...tensor, name });
  }
  if (node.opType === 'ConstantOfShape') {
    const value = constants.find((c) => c.attribute === 'value')?.tensor;
    (node as { zeroFill?: boolean }).zeroFill = value === undefined || (!('reason' in value) && (await isAllZero(walker, value)));
  }
  out.nodes.push(node);
}

/** Whether a small embedded tensor (a fill value) holds only zero bytes. */
async function isAllZero(walker: ProtobufWalker, t: ParsedTensor): Promise<boolean> {
  const source = t.source;
  if (source.kind === 'inline') return source.bytes.every((b) => b === 0);
  if (source.path !== walker.path || source.length > 64) return false;
  return (await walker.bytes(source.offset, source.offset + source.length)).every((b) => b === 0);
}

/** One element of a repeated `ints` attribute (packed or not); the name comes first in practice. */
async function readInts(walker: ProtobufWalker, f: Field, name: string, into: Map<string, number[]>): Promise<void> {
  if (!into.has(name)) into.set(name, []);
  const list = into.get(name)!;
  if (f.wire === Wire.Varint) list.push(signed(f.varint));
  else if (f.wire === Wire.Len) for (const v of await walker.packedVarints(f.start, f.end)) list.push(signed(v));
}

async function readTensor(walker: ProtobufWalker, field: Field): Promise<ParsedTensor | SkippedTensor> {
  let name = '';
  let dataType = 0;
  const dims: number[] = [];
  let external = false;
  const externalData = new Map<string, string>();
  const payloads = new Map<number, Field[]>();
  for await (const f of walker.fields(field.start, field.end)) {
    switch (f.no) {
      case TENSOR.name:
        if (f.wire === Wire.Len) name = await walker.string(f);
        break;
      case TENSOR.dataType:
        if (f.wire === Wire.Varint) dataType = Number(f.varint);
        break;
      case TENSOR.dims:
        if (f.wire === Wire.Varint) dims.push(signed(f.varint));
        else if (f.wire === Wire.Len) for (const d of await walker.packedVarints(f.start, f.end)) dims.push(signed(d));
        break;
      case TENSOR.dataLocation:
        if (f.wire === Wire.Varint) external = f.varint === 1n;
        break;
      case TENSOR.externalData:
        if (f.wire === Wire.Len) {
          const entry = await readStringPair(walker, f);
          externalData.set(entry.key, entry.value);
        }
        break;
      case TENSOR.segment:
        throw new CheckpointError(walker.path, 'unsupported', `tensor "${name}" is stored in segments`, f.start);
      default:
        if (!payloads.has(f.no)) payloads.set(f.no, []);
        payloads.get(f.no)!.push(f);
    }
  }
  const dtype = ONNX_DTYPES[dataType];
  if (!dtype) {
    return { name, reason: `ONNX data type ${ONNX_TYPE_NAMES[dataType] ?? dataType} is not analysed` };
  }
  if (dims.some((d) => d < 0 || !Number.isSafeInteger(d))) {
    throw new CheckpointError(walker.path, 'corrupt', `tensor "${name}" has a negative or huge dimension`, field.start);
  }
  const numel = numelOf(dims);
  // ONNX pads an odd count of 4-bit elements to a whole byte.
  const expected = Math.ceil((numel * storedBits(dtype)) / 8);
  const source = external
    ? await externalSource(walker.path, name, externalData, expected)
    : await embeddedSource(walker, name, dtype, numel, expected, payloads, field.start);
  return { name, dtype, shape: dims, source };
}

async function readStringPair(walker: ProtobufWalker, field: Field): Promise<{ key: string; value: string }> {
  let key = '';
  let value = '';
  for await (const f of walker.fields(field.start, field.end)) {
    if (f.no === 1 && f.wire === Wire.Len) key = await walker.string(f);
    if (f.no === 2 && f.wire === Wire.Len) value = await walker.string(f);
  }
  return { key, value };
}

/**
 * Where an embedded tensor's bytes are. `raw_data` and packed `float_data` / `double_data` are
 * little-endian element bytes already, so they stay file ranges; the varint-encoded typed fields
 * are decoded into memory (exporters use them only for small tensors).
 */
async function embeddedSource(
  walker: ProtobufWalker,
  name: string,
  dtype: StoredType,
  numel: number,
  expected: number,
  payloads: Map<number, Field[]>,
  at: number,
): Promise<TensorSource> {
  const mismatch = (what: string, got: number) =>
    new CheckpointError(walker.path, 'corrupt', `tensor "${name}": ${what} holds ${got} bytes but ${dtype}[${numel}] needs ${expected}`, at);
  const raw = payloads.get(TENSOR.rawData);
  if (raw) {
    const f = raw[raw.length - 1];
    if (f.end - f.start !== expected) throw mismatch('raw_data', f.end - f.start);
    return { kind: 'file', path: walker.path, offset: f.start, length: expected };
  }
  for (const fieldNo of [TENSOR.floatData, TENSOR.doubleData]) {
    const fields = payloads.get(fieldNo);
    if (!fields) continue;
    const length = fields.reduce((n, f) => n + f.end - f.start, 0);
    if (length !== expected) throw mismatch(fieldNo === TENSOR.floatData ? 'float_data' : 'double_data', length);
    if (fields.length === 1) return { kind: 'file', path: walker.path, offset: fields[0].start, length };
    const bytes = new Uint8Array(length);
    let at2 = 0;
    for (const f of fields) {
      bytes.set(await walker.bytes(f.start, f.end), at2);
      at2 += f.end - f.start;
    }
    return { kind: 'inline', bytes };
  }
  for (const fieldNo of [TENSOR.int32Data, TENSOR.int64Data, TENSOR.uint64Data]) {
    const fields = payloads.get(fieldNo);
    if (!fields) continue;
    const values: bigint[] = [];
    for (const f of fields) {
      if (f.wire === Wire.Len) values.push(...(await walker.packedVarints(f.start, f.end)));
      else if (f.wire === Wire.Varint) values.push(f.varint);
    }
    const count = storedBits(dtype) === 4 ? Math.ceil(numel / 2) : numel;
    if (values.length !== count) {
      throw new CheckpointError(walker.path, 'corrupt', `tensor "${name}": ${values.length} typed values for ${numel} elements`, at);
    }
    return { kind: 'inline', bytes: packTypedValues(dtype, values, expected) };
  }
  if (numel === 0) return { kind: 'inline', bytes: new Uint8Array(0) };
  throw new CheckpointError(walker.path, 'corrupt', `tensor "${name}" has no data`, at);
}

/** Writes values from int32_data / int64_data / uint64_data as little-endian elements of `dtype`. */
function packTypedValues(dtype: StoredType, values: bigint[], length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  const size = storedBits(dtype) / 8;
  values.forEach((v, i) => {
    if (size >= 8) view.setBigUint64(i * 8, BigInt.asUintN(64, v), true);
    else if (size === 4) view.setUint32(i * 4, Number(BigInt.asUintN(32, v)), true);
    else if (size === 2) view.setUint16(i * 2, Number(BigInt.asUintN(16, v)), true);
    else bytes[i] = Number(BigInt.asUintN(8, v)); // 8-bit types, and float4 packed two per value
  });
  return bytes;
}

/**
 * Resolves external data: `location` must name a file inside the model's folder (see
 * resolveFileBesideModel), and `offset` / `length` a range of it holding the tensor.
 */
async function externalSource(modelPath: string, name: string, entries: Map<string, string>, expected: number): Promise<TensorSource> {
  const location = entries.get('location');
  if (!location) throw new CheckpointError(modelPath, 'corrupt', `tensor "${name}": external data without a location`);
  const { path: realTarget, size: fileSize } = await resolveFileBesideModel(modelPath, location, `tensor "${name}": external data location "${location}"`);
  const offset = parseNonNegative(entries.get('offset') ?? '0');
  const length = entries.has('length') ? parseNonNegative(entries.get('length')!) : fileSize - (offset ?? 0);
  if (offset === undefined || length === undefined) throw new CheckpointError(modelPath, 'corrupt', `tensor "${name}": bad external data offset or length`);
  if (length !== expected) {
    throw new CheckpointError(modelPath, 'corrupt', `tensor "${name}": external data length ${length} but ${expected} bytes are needed`);
  }
  if (offset + length > fileSize) {
    throw new CheckpointError(modelPath, 'truncated', `tensor "${name}": external data needs bytes ${offset}..${offset + length} of "${location}" (${fileSize} bytes)`);
  }
  return { kind: 'file', path: realTarget, offset, length };
}

function parseNonNegative(s: string): number | undefined {
  return /^\d+$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : undefined;
}
