import type { ProgramNode, ProgramParam, TrainingProgram } from '../../kernels/trainingKernels';
import { numelOf, type Checkpoint, type TensorEntry } from '../checkpoint';
import type { DType } from '../dtype';
import type { GraphNode, OnnxGraph } from '../formats/onnx/graph';
import { printable } from '../errors';
import { readValues } from '../tensorBytes';
import { TrainingError } from './trainingError';

/** ONNX ops the engine trains (native/src/train/), and what each one's trainable inputs are. */
export const TRAINABLE_INPUTS: Readonly<Record<string, readonly number[]>> = {
  Gemm: [1, 2],
  MatMul: [1],
  Conv: [1, 2],
  BatchNormalization: [1, 2],
  Add: [],
  Sub: [],
  Mul: [],
  Div: [],
  Relu: [],
  LeakyRelu: [],
  Sigmoid: [],
  Tanh: [],
  Erf: [],
  Gelu: [],
  MaxPool: [],
  AveragePool: [],
  GlobalAveragePool: [],
  Flatten: [],
  Reshape: [],
  Concat: [],
  Identity: [],
  Dropout: [],
};

/** The weight input of the layers that can train sparse. */
const WEIGHT_INPUT: Readonly<Record<string, number>> = { Gemm: 1, MatMul: 1, Conv: 1 };
/** Ops whose output carries a bias-less product: a constant added to it is that layer's bias. */
const PRODUCTS = new Set(['MatMul', 'Gemm', 'Conv']);
/** Output activations the loss replaces: cross-entropy takes the logits before them. */
const OUTPUT_SOFTMAX = new Set(['Softmax', 'LogSoftmax']);

export interface ProgramOptions {
  /** Initializers to keep as they are, besides those no weight or bias input reads. */
  readonly freeze?: (name: string) => boolean;
  /** Fixed masks by weight name (1 = active): those weights train with their inactive positions at 0. */
  readonly masks?: ReadonlyMap<string, Uint8Array>;
}

export interface TrainableTensor {
  readonly name: string;
  readonly shape: readonly number[];
  /** Set for a linear or conv weight with a fixed mask. */
  readonly masked: boolean;
}

/** A graph made a training program, with what a user should know about how it trains. */
export interface BuiltProgram {
  readonly program: TrainingProgram;
  readonly inputName: string;
  /** The graph's input dimensions after the batch: numbers, or names of dynamic ones. */
  readonly sampleDims: readonly (number | string)[] | undefined;
  readonly outputName: string;
  /** What the graph's output is: the loss is cross-entropy on the logits before a final Softmax / LogSoftmax. */
  readonly outputKind: 'logits' | 'softmax' | 'logSoftmax';
  readonly trainable: readonly TrainableTensor[];
  /** Float initializers kept as they are, with the reason. */
  readonly frozen: readonly { readonly name: string; readonly reason: string }[];
  /** How ops behave while training, stated in the output (BatchNormalization statistics, Dropout). */
  readonly notes: readonly string[];
}

/** A constant's values as float32 (decoded from its stored type). */
const valuesOf = async (t: TensorEntry) => Float32Array.from(await readValues(t));

const FLOAT_DTYPES: readonly DType[] = ['float32', 'float16', 'bfloat16', 'float64'];

function nodeLabel(node: GraphNode): string {
  return node.name
    ? `${node.opType} node "${printable(node.name)}"`
    : `a ${node.opType} node (output "${printable(node.outputs[0] ?? '')}")`;
}

/**
 * Makes an ONNX graph (as torch.onnx.export writes it) a training program for the native engine:
 * values numbered, constants made parameters (trainable: every float32 initializer read as a
 * weight or bias input; frozen: the rest and what `freeze` names), constant shape inputs made
 * attributes, a final Softmax / LogSoftmax left out (the loss takes the logits). An op the engine
 * does not train is named, with its node, before anything runs.
 */
export async function buildTrainingProgram(graph: OnnxGraph, checkpoint: Checkpoint, options: ProgramOptions = {}): Promise<BuiltProgram> {
  const fail = (message: string) => new TrainingError(`${graph.file}: ${message}`);
  const tensors = new Map(checkpoint.tensors.map((t) => [t.name, t]));
  const unsupported = graph.nodes.filter(
    (n, i) =>
      !(n.opType in TRAINABLE_INPUTS) &&
      n.opType !== 'Constant' &&
      n.opType !== 'Pad' &&
      !(OUTPUT_SOFTMAX.has(n.opType) && i === lastProducer(graph)),
  );
  if (unsupported.length) {
    const first = unsupported[0];
    throw fail(
      `${nodeLabel(first)} is not supported by training${unsupported.length > 1 ? ` (nor ${unsupported.length - 1} more node${unsupported.length > 2 ? 's' : ''}: ${[...new Set(unsupported.slice(1).map((n) => n.opType))].join(', ')})` : ''}; supported: ${Object.keys(TRAINABLE_INPUTS).join(', ')}, and Softmax / LogSoftmax at the output`,
    );
  }
  const foreign = graph.nodes.find((n) => n.domain !== '' && n.domain !== 'ai.onnx');
  if (foreign) throw fail(`${nodeLabel(foreign)} is from the "${foreign.domain}" domain, which training does not support`);
  if (graph.inputs.length !== 1)
    throw fail(
      `training needs a graph with one data input; this one has ${graph.inputs.length} (${graph.inputs.map((i) => i.name).join(', ')})`,
    );
  if (graph.outputs.length < 1) throw fail('the graph has no output');
  const input = graph.inputs[0];
  const output = graph.outputs[0];

  const ids = new Map<string, number>();
  const idOf = (name: string) => {
    if (name === '') return -1;
    let id = ids.get(name);
    if (id === undefined) ids.set(name, (id = ids.size));
    return id;
  };
  idOf(input.name);

  // The graph output, or the logits before its final softmax.
  const last = lastProducer(graph);
  const lastNode = last >= 0 ? graph.nodes[last] : undefined;
  const outputKind =
    lastNode && OUTPUT_SOFTMAX.has(lastNode.opType) ? (lastNode.opType === 'Softmax' ? 'softmax' : 'logSoftmax') : 'logits';
  if (outputKind !== 'logits' && lastNode) checkSoftmaxAxis(lastNode, fail);
  const logits = outputKind === 'logits' ? output.name : lastNode!.inputs[0];

  const producedBy = new Map<string, GraphNode>();
  for (const n of graph.nodes) for (const o of n.outputs) producedBy.set(o, n);
  const isConstant = (name: string) => (tensors.has(name) && !producedBy.has(name) ? true : producedBy.get(name)?.opType === 'Constant');

  const nodes: ProgramNode[] = [];
  const params = new Map<string, ProgramParam>();
  const trainable: TrainableTensor[] = [];
  const frozen: { name: string; reason: string }[] = [];
  const notes = new Set<string>();

  const paramOf = async (name: string, role: 'weight' | 'bias' | 'constant', node: GraphNode) => {
    const t = tensors.get(name);
    if (!t) throw fail(`${nodeLabel(node)} reads "${printable(name)}", which the file does not hold as a readable tensor`);
    if (params.has(name)) return;
    const float = FLOAT_DTYPES.includes(t.dtype);
    let train = role !== 'constant' && float;
    if (train && t.dtype !== 'float32') {
      frozen.push({ name, reason: `${t.dtype}: only float32 tensors are trained` });
      train = false;
    } else if (train && options.freeze?.(name)) {
      frozen.push({ name, reason: 'frozen by --freeze' });
      train = false;
    } else if (!train && float && role === 'constant' && !producedBy.has(name)) {
      frozen.push({ name, reason: `not a weight or bias input (read by ${nodeLabel(node)})` });
    }
    const mask = role === 'weight' && train ? options.masks?.get(name) : undefined;
    if (mask && mask.length !== numelOf(t.shape)) throw new RangeError(`${name}: a mask of ${mask.length} for ${numelOf(t.shape)} weights`);
    params.set(name, { value: idOf(name), name, shape: t.shape, data: await valuesOf(t), trainable: train, ...(mask ? { mask } : {}) });
    if (train) trainable.push({ name, shape: t.shape, masked: mask !== undefined });
  };

  const padded = await foldedPads(graph, tensors, isConstant, fail);
  for (const [index, node] of graph.nodes.entries()) {
    if (node.opType === 'Constant' || node.opType === 'Pad' || (outputKind !== 'logits' && index === last)) continue;
    const trainableInputs = TRAINABLE_INPUTS[node.opType];
    let inputs = [...node.inputs];
    const ints: Record<string, number> = Object.fromEntries(node.ints);
    const intLists: Record<string, number[]> = Object.fromEntries([...node.intLists].map(([k, v]) => [k, [...v]]));
    const pad = padded.get(node);
    if (pad) {
      inputs[0] = pad.input;
      const own = intLists.pads ?? new Array<number>(pad.pads.length).fill(0);
      intLists.pads = own.map((p, i) => p + pad.pads[i]);
      if (node.opType === 'AveragePool') ints.count_include_pad = 1;
    }
    if (node.opType === 'Reshape') {
      const shape = inputs[1] !== undefined && isConstant(inputs[1]) ? tensors.get(inputs[1]) : undefined;
      if (!shape) throw fail(`${nodeLabel(node)} takes its shape from the graph; training supports Reshape to a constant shape only`);
      intLists.shape = Array.from(await valuesOf(shape));
      inputs = inputs.slice(0, 1);
    } else if (node.opType === 'Dropout') {
      inputs = inputs.slice(0, 1); // ratio and training_mode: inference behaviour regardless
      notes.add('Dropout runs as in inference (no units dropped), as the exported graph does');
    } else if (node.opType === 'BatchNormalization') {
      notes.add('BatchNormalization uses the frozen running statistics stored in the model; its scale and bias train');
    }
    for (const [i, name] of inputs.entries()) {
      if (name === '' || !isConstant(name)) continue;
      const bias =
        (node.opType === 'Add' || node.opType === 'Sub') &&
        inputs.some((other, j) => j !== i && PRODUCTS.has(producedBy.get(other)?.opType ?? ''));
      const role = trainableInputs.includes(i) ? (WEIGHT_INPUT[node.opType] === i ? 'weight' : 'bias') : bias ? 'bias' : 'constant';
      await paramOf(name, role, node);
    }
    const floats = Object.fromEntries(node.floats);
    const strings = Object.fromEntries(node.strings);
    const unreadable = [...node.others];
    if (unreadable.length) throw fail(`${nodeLabel(node)} has attribute ${unreadable.join(', ')} of a kind training does not read`);
    nodes.push({
      op: node.opType,
      name: node.name,
      inputs: inputs.map(idOf),
      outputs: node.outputs.map(idOf),
      ...(Object.keys(ints).length ? { ints } : {}),
      ...(Object.keys(floats).length ? { floats } : {}),
      ...(Object.keys(intLists).length ? { intLists } : {}),
      ...(Object.keys(strings).length ? { strings } : {}),
    });
  }
  if (!ids.has(logits)) throw fail(`the output "${printable(logits)}" is not computed by the graph`);
  for (const name of options.masks?.keys() ?? []) {
    if (!trainable.some((t) => t.name === name && t.masked))
      throw fail(`"${printable(name)}" has a mask but is not a trained linear or conv weight`);
  }
  return {
    program: {
      valueCount: ids.size,
      input: 0,
      output: ids.get(logits)!,
      sampleShape: sampleShapeOf(input.dims),
      nodes,
      params: [...params.values()],
    },
    inputName: input.name,
    sampleDims: input.dims?.slice(1),
    outputName: output.name,
    outputKind,
    trainable,
    frozen,
    notes: [...notes],
  };
}

/**
 * Zero padding that torch.onnx.export writes as its own Pad node (F.avg_pool2d with
 * count_include_pad, F.pad before a conv): folded into the pads of the AveragePool or Conv that
 * alone reads it, which computes the same. Any other Pad is refused, naming it.
 */
async function foldedPads(
  graph: OnnxGraph,
  tensors: ReadonlyMap<string, TensorEntry>,
  isConstant: (name: string) => boolean,
  fail: (message: string) => Error,
): Promise<Map<GraphNode, { input: string; pads: number[] }>> {
  const folded = new Map<GraphNode, { input: string; pads: number[] }>();
  for (const pad of graph.nodes.filter((n) => n.opType === 'Pad')) {
    const readers = graph.nodes.filter((n) => n.inputs.includes(pad.outputs[0]));
    const reader = readers.length === 1 && readers[0].inputs[0] === pad.outputs[0] ? readers[0] : undefined;
    const padsName = pad.inputs[1];
    const valueName = pad.inputs[2];
    const pads = padsName && isConstant(padsName) ? Array.from(await valuesOf(tensors.get(padsName)!)) : pad.intLists.get('pads');
    const value = valueName && isConstant(valueName) ? (await valuesOf(tensors.get(valueName)!))[0] : 0;
    const rank = pads ? pads.length / 2 : 0;
    const zeroOutsideSpace = pads !== undefined && [0, 1, rank, rank + 1].every((i) => pads[i] === 0);
    const readerPadsAsCounted =
      reader?.opType === 'Conv' ||
      (reader?.opType === 'AveragePool' && (reader.ints.get('count_include_pad') === 1 || !reader.intLists.get('pads')?.some((p) => p)));
    const foldable =
      reader &&
      readerPadsAsCounted &&
      (pad.strings.get('mode') ?? 'constant') === 'constant' &&
      value === 0 &&
      zeroOutsideSpace &&
      (reader.strings.get('auto_pad') ?? 'NOTSET') === 'NOTSET' &&
      !(valueName && !isConstant(valueName));
    if (!foldable) throw fail(`${nodeLabel(pad)} is not supported by training: only zero padding read by one AveragePool or Conv is`);
    const spatial = rank - 2;
    folded.set(reader, { input: pad.inputs[0], pads: [...pads!.slice(2, 2 + spatial), ...pads!.slice(rank + 2, rank + 2 + spatial)] });
  }
  return folded;
}

/** The index of the node that computes the graph's first output, or -1. */
function lastProducer(graph: OnnxGraph): number {
  const out = graph.outputs[0]?.name;
  for (let i = graph.nodes.length - 1; i >= 0; i--) if (graph.nodes[i].outputs.includes(out)) return i;
  return -1;
}

function checkSoftmaxAxis(node: GraphNode, fail: (m: string) => Error): void {
  const axis = node.ints.get('axis') ?? -1;
  if (axis !== -1 && axis !== 1) throw fail(`${nodeLabel(node)} normalizes over axis ${axis}; training needs the class axis (1 or -1)`);
}

/** Numeric dims after the batch; a dynamic one is taken from the data later (0 here). */
function sampleShapeOf(dims: readonly (number | string)[] | undefined): number[] {
  return (dims ?? []).slice(1).map((d) => (typeof d === 'number' ? d : 0));
}
