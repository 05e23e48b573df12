import { numelOf, type Checkpoint, type SkippedTensor, type TensorEntry, type TensorSource } from '../../checkpoint';
import { DerivedBytesBudget } from '../../derivedBytes';
import { CheckpointError } from '../../errors';
import type { OnnxDataField, StoredTensor } from '../../storedTensor';
import { resolveFileBesideModel } from '../shared/fileBesideModel';
import type { RandomAccessFile } from '../../randomAccessFile';
import { analyseGraph, isGeneratedName, modulePathOf, type GraphFacts, type OnnxNode } from './graphRoles';
import { analysedValues, SourceReader, storedBits, type ParsedTensor, type StoredType } from './quantized';
import { MAX_EXTERNAL_DATA_ENTRIES, MAX_FILL_VALUE_BYTES, MAX_GRAPH_DEPTH, MAX_PAYLOAD_FIELDS, MAX_RANK } from './limits';
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
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5 } as const;
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

interface GraphContents {
  readonly tensors: ParsedTensor[];
  readonly nodes: OnnxNode[];
  readonly skipped: SkippedTensor[];
  /** Shared by every tensor of the model materialized in memory. */
  readonly budget: DerivedBytesBudget;
}

/**
 * Reads an ONNX model's weights (initializers, including those of subgraphs, and Constant node
 * values) with their byte ranges in the file, and gives each its role from the graph: the B input
 * of Gemm (layout by transB), MatMul ([in, out]) and their quantized forms is linear, the W input
 * of Conv and its quantized forms is conv, also when reached through Cast, Identity, Transpose or
 * (De)QuantizeLinear. Quantized weights whose zero point is not 0 are analysed as value − zero
 * point (see quantized.ts). Tensors materialized in memory share `budget`.
 */
export async function readOnnx(file: RandomAccessFile, budget = new DerivedBytesBudget()): Promise<Checkpoint> {
  if (file.size === 0) throw new CheckpointError(file.path, 'empty', 'the file is empty');
  const walker = new ProtobufWalker(file);
  const metadata: Record<string, string> = {};
  const contents: GraphContents = { tensors: [], nodes: [], skipped: [], budget };
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
    throw new CheckpointError(
      file.path,
      'corrupt',
      graphs === 0 ? 'not an ONNX model: it has no graph' : 'not an ONNX model: it has several graphs',
    );
  }
  const stored = new Map(contents.tensors.map((t) => [t.name, t]));
  const facts = analyseGraph(contents.nodes, new Map(contents.tensors.map((t) => [t.name, t.shape.length])));
  const tensors: TensorEntry[] = [];
  const skipped = [...contents.skipped];
  const reader = new SourceReader(file);
  try {
    for (const t of contents.tensors) {
      const values = await analysedValues(t, facts.zeroPoints.get(t.name), stored, reader, contents.budget);
      if ('reason' in values) {
        skipped.push(values);
        continue;
      }
      const found = facts.roles.get(t.name);
      const displayName = isGeneratedName(t.name) ? knownNameOf(t.name, facts) : undefined;
      const named = displayName ? { displayName } : {};
      const nextLayer = facts.nextWeight.get(t.name);
      tensors.push(
        found
          ? { ...values, role: found.role, layout: found.layout, ...named, ...(nextLayer ? { nextLayer } : {}) }
          : { ...values, role: 'other', ...named },
      );
    }
  } finally {
    await reader.close();
  }
  // Graph order: a model's layers as they compute (exporters may write initializers in another order).
  const order = (t: TensorEntry) => facts.firstUse.get(t.name) ?? Infinity;
  tensors.sort((a, b) => order(a) - order(b));
  return { file: file.path, format: 'onnx', tensors, metadata, skipped };
}

/** A made-up initializer name's module path: `layer1.0.conv1` for a weight, `layer1.0.conv1.bias` for a bias. */
function knownNameOf(name: string, facts: GraphFacts): string | undefined {
  const consumer = facts.roles.get(name)?.consumer;
  if (consumer) return modulePathOf(consumer);
  const biasOf = facts.biasOf.get(name);
  const path = biasOf && modulePathOf(biasOf);
  return path ? `${path}.bias` : undefined;
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
      addTensor(out, await readTensor(walker, f, out.budget));
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
    else if (f.no === NODE.name) (node as { name: string }).name = await walker.string(f);
    else if (f.no === NODE.attribute) {
      let name = '';
      for await (const a of walker.fields(f.start, f.end)) {
        if (a.no === ATTRIBUTE.name && a.wire === Wire.Len) name = await walker.string(a);
        else if (a.no === ATTRIBUTE.i && a.wire === Wire.Varint) node.ints.set(name, signed(a.varint));
        else if (a.no === ATTRIBUTE.ints) await readInts(walker, a, name, node.intLists);
        else if (a.no === ATTRIBUTE.t && a.wire === Wire.Len)
          constants.push({ attribute: name, tensor: await readTensor(walker, a, out.budget) });
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
  if (source.path !== walker.path || source.length > MAX_FILL_VALUE_BYTES) return false;
  return (await walker.bytes(source.offset, source.offset + source.length)).every((b) => b === 0);
}

/** One element of a repeated `ints` attribute (packed or not); the name comes first in practice. */
async function readInts(walker: ProtobufWalker, f: Field, name: string, into: Map<string, number[]>): Promise<void> {
  if (!into.has(name)) into.set(name, []);
  const list = into.get(name)!;
  if (f.wire === Wire.Varint) list.push(signed(f.varint));
  else if (f.wire === Wire.Len) for (const v of await walker.packedVarints(f.start, f.end)) list.push(signed(v));
}

/** The fields of a repeated payload (`float_data`, `int32_data`…): their byte ranges and total size. */
interface Payload {
  readonly starts: number[];
  readonly ends: number[];
  bytes: number;
}

const PAYLOAD_WIRES: Readonly<Record<number, readonly Wire[]>> = {
  [TENSOR.floatData]: [Wire.Len, Wire.Fixed32],
  [TENSOR.doubleData]: [Wire.Len, Wire.Fixed64],
  [TENSOR.int32Data]: [Wire.Len, Wire.Varint],
  [TENSOR.int64Data]: [Wire.Len, Wire.Varint],
  [TENSOR.uint64Data]: [Wire.Len, Wire.Varint],
};

/** A TensorProto's data fields: only the last `raw_data` counts (protobuf semantics), the repeated ones add up. */
interface TensorPayloads {
  raw?: Field;
  readonly lists: Map<number, Payload>;
}

async function readTensor(walker: ProtobufWalker, field: Field, budget: DerivedBytesBudget): Promise<ParsedTensor | SkippedTensor> {
  let name = '';
  let dataType = 0;
  const dims: number[] = [];
  let external = false;
  const externalData = new Map<string, string>();
  const payloads: TensorPayloads = { lists: new Map() };
  let rank = 0; // dims beyond MAX_RANK are counted, not kept
  for await (const f of walker.fields(field.start, field.end)) {
    switch (f.no) {
      case TENSOR.name:
        if (f.wire === Wire.Len) name = await walker.string(f);
        break;
      case TENSOR.dataType:
        if (f.wire === Wire.Varint) dataType = Number(f.varint);
        break;
      case TENSOR.dims:
        if (f.wire === Wire.Varint) {
          if (++rank <= MAX_RANK) dims.push(signed(f.varint));
        } else if (f.wire === Wire.Len) {
          if (rank + (f.end - f.start) > MAX_RANK) rank += await countVarints(walker, f);
          else for (const d of await walker.packedVarints(f.start, f.end)) if (++rank <= MAX_RANK) dims.push(signed(d));
        }
        break;
      case TENSOR.dataLocation:
        if (f.wire === Wire.Varint) external = f.varint === 1n;
        break;
      case TENSOR.externalData:
        if (f.wire === Wire.Len) {
          if (externalData.size > MAX_EXTERNAL_DATA_ENTRIES) {
            throw new CheckpointError(
              walker.path,
              'corrupt',
              `tensor ${JSON.stringify(name)} has more than ${MAX_EXTERNAL_DATA_ENTRIES} external_data entries`,
              f.start,
            );
          }
          const entry = await readStringPair(walker, f);
          externalData.set(entry.key, entry.value);
        }
        break;
      case TENSOR.segment:
        throw new CheckpointError(walker.path, 'unsupported', `tensor ${JSON.stringify(name)} is stored in segments`, f.start);
      case TENSOR.rawData:
        if (f.wire === Wire.Len) payloads.raw = f;
        break;
      default:
        if (Object.hasOwn(PAYLOAD_WIRES, f.no)) addPayload(walker, name, payloads.lists, f);
      // Other fields (doc_string, metadata_props, string_data, unknown numbers) are not needed.
    }
  }
  if (rank > MAX_RANK) {
    throw new CheckpointError(
      walker.path,
      'unsupported',
      `tensor ${JSON.stringify(name)} has ${rank} dimensions, more than the ${MAX_RANK} read`,
      field.start,
    );
  }
  const dtype = ONNX_DTYPES[dataType];
  if (!dtype) {
    return { name, reason: `ONNX data type ${ONNX_TYPE_NAMES[dataType] ?? dataType} is not analysed` };
  }
  if (dims.some((d) => d < 0 || !Number.isSafeInteger(d))) {
    throw new CheckpointError(walker.path, 'corrupt', `tensor ${JSON.stringify(name)} has a negative or huge dimension`, field.start);
  }
  const numel = numelOf(dims);
  // ONNX pads an odd count of 4-bit elements to a whole byte.
  const expected = Math.ceil((numel * storedBits(dtype)) / 8);
  const data = external
    ? await externalSource(walker.path, name, externalData, expected)
    : await embeddedSource(walker, name, dtype, numel, expected, payloads, field.start, budget);
  if (typeof data === 'string') return { name, reason: data };
  return { name, dtype, shape: dims, ...data };
}

function addPayload(walker: ProtobufWalker, name: string, lists: Map<number, Payload>, f: Field): void {
  if (!PAYLOAD_WIRES[f.no].includes(f.wire))
    throw walker.corrupt(`tensor ${JSON.stringify(name)}: field ${f.no} has wire type ${f.wire}`, f.start);
  let list = lists.get(f.no);
  if (!list) lists.set(f.no, (list = { starts: [], ends: [], bytes: 0 }));
  if (list.starts.length === MAX_PAYLOAD_FIELDS) {
    throw new CheckpointError(
      walker.path,
      'unsupported',
      `tensor ${JSON.stringify(name)}: its data is split into more than ${MAX_PAYLOAD_FIELDS} fields`,
      f.start,
    );
  }
  list.starts.push(f.start);
  list.ends.push(f.end);
  list.bytes += f.end - f.start;
}

/** How many varints a packed field holds: the bytes without the continuation bit. */
async function countVarints(walker: ProtobufWalker, f: Field): Promise<number> {
  let count = 0;
  for (let at = f.start; at < f.end; at += CHUNK_BYTES) {
    for (const b of await walker.bytes(at, Math.min(f.end, at + CHUNK_BYTES))) if ((b & 0x80) === 0) count++;
  }
  return count;
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

/** Where a tensor's analysed bytes are, and how they are stored in the model. */
interface TensorData {
  readonly source: TensorSource;
  readonly stored: StoredTensor;
}

/** The record of a repeated payload field's values, in one field or split over several. */
function storedPayload(file: string, field: OnnxDataField, encoding: 'fixed' | 'varint', list: Payload): StoredTensor {
  const split = list.starts.length > 1 ? { fields: { starts: list.starts, ends: list.ends } } : {};
  return { kind: 'onnxField', file, field, encoding, offset: list.starts[0], length: list.bytes, ...split };
}

/**
 * Where an embedded tensor's bytes are, or why it is not analysed. `raw_data` and packed
 * `float_data` / `double_data` are little-endian element bytes already, so they stay file ranges;
 * the varint-encoded typed fields (and float data split over several fields) are decoded into
 * memory within the budget (exporters use them only for small tensors).
 */
async function embeddedSource(
  walker: ProtobufWalker,
  name: string,
  dtype: StoredType,
  numel: number,
  expected: number,
  payloads: TensorPayloads,
  at: number,
  budget: DerivedBytesBudget,
): Promise<TensorData | string> {
  const quoted = JSON.stringify(name);
  const mismatch = (what: string, got: number) =>
    new CheckpointError(
      walker.path,
      'corrupt',
      `tensor ${quoted}: ${what} holds ${got} bytes but ${dtype}[${numel}] needs ${expected}`,
      at,
    );
  const raw = payloads.raw;
  if (raw) {
    if (raw.end - raw.start !== expected) throw mismatch('raw_data', raw.end - raw.start);
    return {
      source: { kind: 'file', path: walker.path, offset: raw.start, length: expected },
      stored: { kind: 'onnxField', file: walker.path, field: 'raw_data', encoding: 'raw', offset: raw.start, length: expected },
    };
  }
  for (const fieldNo of [TENSOR.floatData, TENSOR.doubleData]) {
    const list = payloads.lists.get(fieldNo);
    if (!list) continue;
    const field = fieldNo === TENSOR.floatData ? 'float_data' : 'double_data';
    if (list.bytes !== expected) throw mismatch(field, list.bytes);
    const stored = storedPayload(walker.path, field, 'fixed', list);
    if (list.starts.length === 1) return { source: { kind: 'file', path: walker.path, offset: list.starts[0], length: expected }, stored };
    const refused = budget.reserve(expected);
    if (refused) return `its values, split over ${list.starts.length} fields, ${refused}`;
    const bytes = new Uint8Array(expected);
    let into = 0;
    for (let i = 0; i < list.starts.length; i++) {
      bytes.set(await walker.bytes(list.starts[i], list.ends[i]), into);
      into += list.ends[i] - list.starts[i];
    }
    return { source: { kind: 'inline', bytes }, stored };
  }
  for (const fieldNo of [TENSOR.int32Data, TENSOR.int64Data, TENSOR.uint64Data]) {
    const list = payloads.lists.get(fieldNo);
    if (!list) continue;
    // float4 and 4-bit integers: two elements per value.
    const count = storedBits(dtype) === 4 ? Math.ceil(numel / 2) : numel;
    const valuesMismatch = (got: string) =>
      new CheckpointError(walker.path, 'corrupt', `tensor ${quoted}: ${got} typed values for ${numel} elements`, at);
    // A varint takes 1 to 10 bytes: the count is checked before anything is decoded.
    if (list.bytes < count) throw valuesMismatch(`at most ${list.bytes}`);
    if (list.bytes > 10 * count) throw valuesMismatch(`at least ${Math.ceil(list.bytes / 10)}`);
    const refused = budget.reserve(expected);
    if (refused) return `decoding its typed values ${refused}`;
    const bytes = new Uint8Array(expected);
    const decoded = await decodeTypedValues(walker, list, storedBits(dtype), count, bytes);
    if (decoded !== count) throw valuesMismatch(decoded > count ? `more than ${count}` : String(decoded));
    const field = fieldNo === TENSOR.int32Data ? 'int32_data' : fieldNo === TENSOR.int64Data ? 'int64_data' : 'uint64_data';
    return { source: { kind: 'inline', bytes }, stored: storedPayload(walker.path, field, 'varint', list) };
  }
  if (numel === 0) return { source: { kind: 'inline', bytes: new Uint8Array(0) }, stored: { kind: 'empty' } };
  throw new CheckpointError(walker.path, 'corrupt', `tensor ${quoted} has no data`, at);
}

/** Bytes read at a time while decoding packed values. */
const CHUNK_BYTES = 1 << 20;

/**
 * Decodes the varints of int32_data / int64_data / uint64_data into `out` as little-endian
 * elements of `bits` bits (4-bit types: one byte per value, two elements packed), reading the
 * payload in chunks. Returns how many values there are; stops counting past `count`.
 */
async function decodeTypedValues(walker: ProtobufWalker, list: Payload, bits: number, count: number, out: Uint8Array): Promise<number> {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const size = Math.max(1, bits / 8);
  let index = 0;
  for (let f = 0; f < list.starts.length; f++) {
    const end = list.ends[f];
    let at = list.starts[f];
    while (at < end) {
      const chunk = await walker.bytes(at, Math.min(end, at + CHUNK_BYTES));
      const last = at + chunk.length === end;
      let pos = 0;
      while (pos < chunk.length) {
        let stop = pos;
        while (stop < chunk.length && chunk[stop] & 0x80) stop++;
        if (stop === chunk.length) {
          if (last || chunk.length - pos >= 10) throw walker.corrupt('a varint runs past its field or is longer than 10 bytes', at + pos);
          break; // the varint continues in the next chunk
        }
        if (stop - pos >= 10) throw walker.corrupt('a varint longer than 10 bytes', at + pos);
        if (index === count) return count + 1;
        if (stop - pos < 4) {
          // Up to 28 bits: exact in a number, and the common case.
          let v = 0;
          for (let i = stop; i >= pos; i--) v = v * 128 + (chunk[i] & 0x7f);
          if (size === 8)
            view.setUint32(index * 8, v, true); // the high word stays 0
          else writeLow(view, index, size, v);
        } else {
          let v = 0n;
          for (let i = stop; i >= pos; i--) v = (v << 7n) | BigInt(chunk[i] & 0x7f);
          if (size === 8) view.setBigUint64(index * 8, BigInt.asUintN(64, v), true);
          else writeLow(view, index, size, Number(BigInt.asUintN(32, v)));
        }
        index++;
        pos = stop + 1;
      }
      at += pos;
    }
  }
  return index;
}

/** Writes the low `size` bytes (1, 2 or 4) of a 32-bit value as element `index`. */
function writeLow(view: DataView, index: number, size: number, v: number): void {
  if (size === 4) view.setUint32(index * 4, v >>> 0, true);
  else if (size === 2) view.setUint16(index * 2, v & 0xffff, true);
  else view.setUint8(index, v & 0xff);
}
/**
 * Resolves external data: `location` must name a file inside the model's folder (see
 * resolveFileBesideModel), and `offset` / `length` a range of it holding the tensor.
 */
async function externalSource(modelPath: string, name: string, entries: Map<string, string>, expected: number): Promise<TensorData> {
  const quoted = JSON.stringify(name);
  const location = entries.get('location');
  if (!location) throw new CheckpointError(modelPath, 'corrupt', `tensor ${quoted}: external data without a location`);
  const { path: realTarget, size: fileSize } = await resolveFileBesideModel(
    modelPath,
    location,
    `tensor ${quoted}: external data location ${JSON.stringify(location)}`,
  );
  const offset = parseNonNegative(entries.get('offset') ?? '0');
  const length = entries.has('length') ? parseNonNegative(entries.get('length')!) : fileSize - (offset ?? 0);
  if (offset === undefined || length === undefined)
    throw new CheckpointError(modelPath, 'corrupt', `tensor ${quoted}: bad external data offset or length`);
  if (length !== expected) {
    throw new CheckpointError(modelPath, 'corrupt', `tensor ${quoted}: external data length ${length} but ${expected} bytes are needed`);
  }
  if (offset + length > fileSize) {
    throw new CheckpointError(
      modelPath,
      'truncated',
      `tensor ${quoted}: external data needs bytes ${offset}..${offset + length} of ${JSON.stringify(location)} (${fileSize} bytes)`,
    );
  }
  return {
    source: { kind: 'file', path: realTarget, offset, length },
    stored: {
      kind: 'onnxField',
      file: realTarget,
      field: 'raw_data',
      encoding: 'raw',
      offset,
      length,
      external: { model: modelPath, location },
    },
  };
}

function parseNonNegative(s: string): number | undefined {
  return /^\d+$/.test(s) && Number.isSafeInteger(Number(s)) ? Number(s) : undefined;
}
