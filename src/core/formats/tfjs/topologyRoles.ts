import { IN_OUT_LAYOUT, kerasLayout, OUT_IN_LAYOUT, type Role, type WeightLayout } from '../../checkpoint';
import { isJsonObject } from '../../jsonValue';

/**
 * The roles of TF.js weights, from the model.json topology. Layouts follow Keras: Dense kernels
 * are [in, out], convolution kernels [...kernel, in, out], transposed convolutions
 * [...kernel, out, in]. Depthwise kernels [...kernel, in, multiplier] are read with one neuron
 * per input channel (outAxis = in) and N:M along the multiplier axis: with the usual multiplier 1
 * that is each output channel's exact fan-in, and every N:M group is partial (a depthwise filter
 * has one input channel, so there is nothing to prune along), as for ONNX depthwise convolutions.
 * With a multiplier > 1 a "neuron" sums its multiplier outputs.
 */

/** Nested layers (models in models, wrappers) deeper than this are not visited. */
const MAX_TOPOLOGY_DEPTH = 100;
/** Chains of graph-model Identity nodes longer than this are not followed to their Const. */
const MAX_IDENTITY_HOPS = 100;

/**
 * How a kernel is laid out: `in-out` [in, out] (Dense, MatMul), `out-in` [out, in] (MatMul with
 * transpose_b), `conv` [...kernel, in, out], `conv-transpose` [...kernel, out, in], `depthwise`
 * [...kernel, in, multiplier] (see above).
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
export function roleFinder(topology: unknown): (name: string, shape: readonly number[]) => { role: Role; layout?: WeightLayout } {
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
      return roleOfKind(
        known ? (Object.hasOwn(known, variable) ? known[variable] : undefined) : kindByVariableName(variable, shape.length, cls),
        shape,
      );
    }
    return roleOfKind(kindByVariableName(variable, shape.length), shape);
  };
}

/** Layer name → class name over a Keras / tfjs-layers topology, nested models and wrappers included. */
function layerClasses(topology: unknown): Map<string, string> {
  const classes = new Map<string, string>();
  const visit = (layer: unknown, depth: number): void => {
    if (!isJsonObject(layer) || depth > MAX_TOPOLOGY_DEPTH || typeof layer.class_name !== 'string') return;
    const config = layer.config;
    const name =
      isJsonObject(config) && typeof config.name === 'string' ? config.name : typeof layer.name === 'string' ? layer.name : undefined;
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
    Array.isArray(node.input)
      ? node.input.filter((s): s is string => typeof s === 'string').map((s) => s.replace(/^\^/, '').replace(/:\d+$/, ''))
      : [];
  for (const node of nodes) {
    if (isJsonObject(node) && node.op === 'Identity' && typeof node.name === 'string') identityOf.set(node.name, inputsOf(node)[0] ?? '');
  }
  const source = (name: string | undefined) => {
    for (let hops = 0; name !== undefined && identityOf.has(name) && hops < MAX_IDENTITY_HOPS; hops++) name = identityOf.get(name);
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
