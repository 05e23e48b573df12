import { CheckpointError } from '../../errors';
import type { RandomAccessFile } from '../../randomAccessFile';
import { ProtobufWalker, signed, Wire, type Field } from './protobufWalker';

/** A node of the main graph with every attribute a training program needs. */
export interface GraphNode {
  readonly opType: string;
  /** The node's name; may be empty. */
  readonly name: string;
  /** The op's domain; '' for the default ONNX domain. */
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly ints: ReadonlyMap<string, number>;
  readonly floats: ReadonlyMap<string, number>;
  readonly intLists: ReadonlyMap<string, readonly number[]>;
  readonly strings: ReadonlyMap<string, string>;
  /** Attributes of other kinds (tensors, graphs, float lists), by name: the program builder refuses what it needs and cannot read. */
  readonly others: ReadonlySet<string>;
}

/** A graph input or output: its name and dimensions (a number, or the symbolic name of a dynamic one). */
export interface GraphValue {
  readonly name: string;
  /** Undefined when the file gives no shape. */
  readonly dims?: readonly (number | string)[];
  /** ONNX TensorProto.DataType (1 = float). */
  readonly elemType?: number;
}

/** The computation of an ONNX model's main graph (the weights' bytes are read by readOnnx). */
export interface OnnxGraph {
  readonly file: string;
  readonly nodes: readonly GraphNode[];
  /** Inputs, initializers excluded (old exporters list initializers as inputs too). */
  readonly inputs: readonly GraphValue[];
  readonly outputs: readonly GraphValue[];
  readonly initializers: ReadonlySet<string>;
}

// Field numbers from onnx.proto.
const MODEL_GRAPH = 7;
const GRAPH = { node: 1, initializer: 5, input: 11, output: 12 } as const;
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5, domain: 7 } as const;
const ATTRIBUTE = { name: 1, f: 2, i: 3, s: 4, t: 5, g: 6, floats: 7, ints: 8, strings: 9, tensors: 10, graphs: 11 } as const;
/** Attribute fields training does not read (tensors, graphs, float and string lists). */
const OTHER_ATTRIBUTES: ReadonlySet<number> = new Set([
  ATTRIBUTE.t,
  ATTRIBUTE.g,
  ATTRIBUTE.floats,
  ATTRIBUTE.strings,
  ATTRIBUTE.tensors,
  ATTRIBUTE.graphs,
]);
const TENSOR_NAME = 8;
const VALUE_INFO = { name: 1, type: 2 } as const;
const TYPE_TENSOR = 1;
const TENSOR_TYPE = { elemType: 1, shape: 2 } as const;
const SHAPE_DIM = 1;
const DIM = { value: 1, param: 2 } as const;

/** Reads the main graph's nodes, inputs and outputs (subgraphs are not entered: training does not run control flow). */
export async function readOnnxGraph(file: RandomAccessFile): Promise<OnnxGraph> {
  const walker = new ProtobufWalker(file);
  let graph: Field | undefined;
  for await (const f of walker.fields(0, file.size)) if (f.no === MODEL_GRAPH && f.wire === Wire.Len) graph = f;
  if (!graph) throw new CheckpointError(file.path, 'corrupt', 'not an ONNX model: it has no graph');
  const nodes: GraphNode[] = [];
  const inputs: GraphValue[] = [];
  const outputs: GraphValue[] = [];
  const initializers = new Set<string>();
  for await (const f of walker.fields(graph.start, graph.end)) {
    if (f.wire !== Wire.Len) continue;
    if (f.no === GRAPH.node) nodes.push(await readNode(walker, f));
    else if (f.no === GRAPH.input) inputs.push(await readValueInfo(walker, f));
    else if (f.no === GRAPH.output) outputs.push(await readValueInfo(walker, f));
    else if (f.no === GRAPH.initializer) {
      for await (const t of walker.fields(f.start, f.end))
        if (t.no === TENSOR_NAME && t.wire === Wire.Len) initializers.add(await walker.string(t));
    }
  }
  return { file: file.path, nodes, inputs: inputs.filter((i) => !initializers.has(i.name)), outputs, initializers };
}

async function readNode(walker: ProtobufWalker, field: Field): Promise<GraphNode> {
  let opType = '';
  let name = '';
  let domain = '';
  const inputs: string[] = [];
  const outputs: string[] = [];
  const ints = new Map<string, number>();
  const floats = new Map<string, number>();
  const intLists = new Map<string, number[]>();
  const strings = new Map<string, string>();
  const others = new Set<string>();
  for await (const f of walker.fields(field.start, field.end)) {
    if (f.wire !== Wire.Len) continue;
    if (f.no === NODE.input) inputs.push(await walker.string(f));
    else if (f.no === NODE.output) outputs.push(await walker.string(f));
    else if (f.no === NODE.opType) opType = await walker.string(f);
    else if (f.no === NODE.name) name = await walker.string(f);
    else if (f.no === NODE.domain) domain = await walker.string(f);
    else if (f.no === NODE.attribute) {
      // The name may come after the value, so the value is kept until the attribute ends.
      let attribute = '';
      let value: { kind: 'i' | 'f'; n: number } | { kind: 's'; text: string } | { kind: 'ints' } | { kind: 'other' } | undefined;
      const list: number[] = [];
      for await (const a of walker.fields(f.start, f.end)) {
        if (a.no === ATTRIBUTE.name && a.wire === Wire.Len) attribute = await walker.string(a);
        else if (a.no === ATTRIBUTE.i && a.wire === Wire.Varint) value = { kind: 'i', n: signed(a.varint) };
        else if (a.no === ATTRIBUTE.f && a.wire === Wire.Fixed32) value = { kind: 'f', n: await float32At(walker, a.start) };
        else if (a.no === ATTRIBUTE.s && a.wire === Wire.Len) value = { kind: 's', text: await walker.string(a) };
        else if (a.no === ATTRIBUTE.ints) {
          if (a.wire === Wire.Varint) list.push(signed(a.varint));
          else if (a.wire === Wire.Len) for (const v of await walker.packedVarints(a.start, a.end)) list.push(signed(v));
          value = { kind: 'ints' };
        } else if (OTHER_ATTRIBUTES.has(a.no)) value = { kind: 'other' };
      }
      if (value?.kind === 'i') ints.set(attribute, value.n);
      else if (value?.kind === 'f') floats.set(attribute, value.n);
      else if (value?.kind === 's') strings.set(attribute, value.text);
      else if (value?.kind === 'ints') intLists.set(attribute, list);
      else if (value?.kind === 'other') others.add(attribute);
    }
  }
  return { opType, name, domain, inputs, outputs, ints, floats, intLists, strings, others };
}

async function float32At(walker: ProtobufWalker, at: number): Promise<number> {
  const bytes = await walker.bytes(at, at + 4);
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getFloat32(0, true);
}

async function readValueInfo(walker: ProtobufWalker, field: Field): Promise<GraphValue> {
  let name = '';
  let elemType: number | undefined;
  let dims: (number | string)[] | undefined;
  for await (const f of walker.fields(field.start, field.end)) {
    if (f.no === VALUE_INFO.name && f.wire === Wire.Len) name = await walker.string(f);
    else if (f.no === VALUE_INFO.type && f.wire === Wire.Len) {
      for await (const t of walker.fields(f.start, f.end)) {
        if (t.no !== TYPE_TENSOR || t.wire !== Wire.Len) continue;
        for await (const tt of walker.fields(t.start, t.end)) {
          if (tt.no === TENSOR_TYPE.elemType && tt.wire === Wire.Varint) elemType = Number(tt.varint);
          else if (tt.no === TENSOR_TYPE.shape && tt.wire === Wire.Len) {
            dims = [];
            for await (const d of walker.fields(tt.start, tt.end)) {
              if (d.no !== SHAPE_DIM || d.wire !== Wire.Len) continue;
              let dim: number | string = '?';
              for await (const v of walker.fields(d.start, d.end)) {
                if (v.no === DIM.value && v.wire === Wire.Varint) dim = signed(v.varint);
                else if (v.no === DIM.param && v.wire === Wire.Len) dim = await walker.string(v);
              }
              dims.push(dim);
            }
          }
        }
      }
    }
  }
  return { name, ...(dims ? { dims } : {}), ...(elemType !== undefined ? { elemType } : {}) };
}
