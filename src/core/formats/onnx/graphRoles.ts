import { IN_OUT_LAYOUT, OUT_IN_LAYOUT, type Role, type WeightLayout } from '../../checkpoint';
import { MAX_LOOK_THROUGH_CHAIN } from './limits';

/** The parts of an ONNX NodeProto that decide what its constant inputs are. */
export interface OnnxNode {
  readonly opType: string;
  /** The node's name (`/layer4/layer4.0/conv2/Conv` as torch.onnx.export scopes it); may be empty. */
  readonly name?: string;
  readonly inputs: string[];
  readonly outputs: string[];
  readonly ints: Map<string, number>;
  readonly intLists: Map<string, number[]>;
  /** For ConstantOfShape: every element of its output is 0. */
  readonly zeroFill?: boolean;
}

/** A weight's role and layout, with the axes given on the stored tensor. */
export interface WeightRole {
  readonly role: Role;
  readonly layout: WeightLayout;
  /** Operators looked through between the stored tensor and its consumer, nearest first. */
  readonly via: readonly string[];
  /** The consuming node's name, when it has one. */
  readonly consumer?: string;
}

/**
 * Where a quantized tensor's zero point comes from: the value named `zeroPoint`, applying to the
 * whole tensor or, when it has more than one element, along `axis` of the stored tensor.
 */
export interface ZeroPointUse {
  readonly zeroPoint: string;
  /** Undefined when the operator's axis does not fit the tensor (matters only for a per-axis zero point). */
  readonly axis: number | undefined;
  /** The axis as the operator gives it, for messages. */
  readonly opAxis: number | null;
  /** The operator that defines it, for messages. */
  readonly op: string;
  /** Set when the graph uses the zero point in a way we cannot apply (blocked quantization). */
  readonly problem?: string;
}

export interface GraphFacts {
  readonly roles: Map<string, WeightRole>;
  readonly zeroPoints: Map<string, ZeroPointUse>;
  /** The index of the first node that takes each stored tensor as an input: graph order. */
  readonly firstUse: Map<string, number>;
  /** Stored tensors that are the bias input of a Conv or Gemm, with that node's name. */
  readonly biasOf: Map<string, string>;
  /**
   * For a linear or conv weight, the weight of the layer its outputs feed, when the graph shows one
   * such layer and nothing between them mixes or reorders channels (activations, bias adds,
   * frozen batch norms, pooling): that layer's input channel c is this layer's output neuron c.
   */
  readonly nextWeight: Map<string, string>;
}

/** Consumers whose weight operand has fan-in: operand index, role, layout as the op sees it, allowed ranks. */
const WEIGHT_CONSUMERS: Readonly<
  Record<string, (node: OnnxNode) => { input: number; role: Role; layout: WeightLayout; ranks: readonly number[] }>
> = {
  Gemm: (n) => ({ input: 1, role: 'linear', layout: n.ints.get('transB') ? OUT_IN_LAYOUT : IN_OUT_LAYOUT, ranks: [2] }),
  MatMul: () => ({ input: 1, role: 'linear', layout: IN_OUT_LAYOUT, ranks: [2] }),
  MatMulInteger: () => ({ input: 1, role: 'linear', layout: IN_OUT_LAYOUT, ranks: [2] }),
  QLinearMatMul: () => ({ input: 3, role: 'linear', layout: IN_OUT_LAYOUT, ranks: [2] }),
  Conv: () => ({ input: 1, role: 'conv', layout: OUT_IN_LAYOUT, ranks: [3, 4, 5] }),
  ConvInteger: () => ({ input: 1, role: 'conv', layout: OUT_IN_LAYOUT, ranks: [3, 4, 5] }),
  QLinearConv: () => ({ input: 3, role: 'conv', layout: OUT_IN_LAYOUT, ranks: [3, 4, 5] }),
  // W is [in, out/groups, *kernel]
  ConvTranspose: () => ({ input: 1, role: 'conv', layout: IN_OUT_LAYOUT, ranks: [3, 4, 5] }),
};

/**
 * Operators whose (quantized) operands carry a zero point: operand index, zero-point index, and
 * the axis a per-axis zero point runs along (negative counts from the end; null = per tensor only).
 */
const ZERO_POINT_SITES: Readonly<
  Record<string, (node: OnnxNode) => { operand: number; zeroPoint: number; axis: number | null; problem?: string }[]>
> = {
  DequantizeLinear: (n) => [
    {
      operand: 0,
      zeroPoint: 2,
      axis: n.ints.get('axis') ?? 1,
      problem: n.ints.get('block_size') ? `blocked quantization (block_size ${n.ints.get('block_size')}) is not analysed` : undefined,
    },
  ],
  // a is per tensor or per row, b per tensor or per column.
  QLinearMatMul: () => [
    { operand: 0, zeroPoint: 2, axis: -2 },
    { operand: 3, zeroPoint: 5, axis: -1 },
  ],
  MatMulInteger: () => [
    { operand: 0, zeroPoint: 2, axis: -2 },
    { operand: 1, zeroPoint: 3, axis: -1 },
  ],
  // x per tensor, w per tensor or per output channel.
  QLinearConv: () => [
    { operand: 0, zeroPoint: 2, axis: null },
    { operand: 3, zeroPoint: 5, axis: 0 },
  ],
  ConvInteger: () => [
    { operand: 0, zeroPoint: 2, axis: null },
    { operand: 1, zeroPoint: 3, axis: 0 },
  ],
};

/** Ops between a stored weight and its consumer that keep which element is which (up to a Transpose). */
const ROLE_LOOK_THROUGH = new Set(['Identity', 'Cast', 'CastLike', 'Transpose', 'DequantizeLinear', 'QuantizeLinear']);
/** Ops that keep the stored integers as they are, so a zero point downstream applies to them. */
const VALUE_LOOK_THROUGH = new Set(['Identity', 'Transpose']);

/**
 * What the graph says about each stored tensor (`ranks` holds the rank of every initializer and
 * Constant output): its role and layout from the first operator consuming it, directly or through
 * Cast, Identity, Transpose (axes remapped through `perm`) and (De)QuantizeLinear; and, for
 * quantized tensors, the zero point that stands for zero.
 */
export function analyseGraph(nodes: readonly OnnxNode[], ranks: ReadonlyMap<string, number>): GraphFacts {
  const producers = new Map<string, OnnxNode>();
  for (const node of nodes) for (const out of node.outputs) if (out && !producers.has(out)) producers.set(out, node);

  const roles = new Map<string, WeightRole>();
  const zeroPoints = new Map<string, ZeroPointUse>();
  const weightOf = new Map<OnnxNode, string>();
  for (const node of nodes) {
    const consumer = WEIGHT_CONSUMERS[node.opType]?.(node);
    if (consumer) {
      const path = traceToStored(node.inputs[consumer.input], producers, ranks, ROLE_LOOK_THROUGH);
      if (path && !roles.has(path.stored)) {
        const rank = ranks.get(path.stored)!;
        const layout = {
          outAxis: axisOnStored(consumer.layout.outAxis, path.steps, rank),
          inAxis: axisOnStored(consumer.layout.inAxis, path.steps, rank),
        };
        if (consumer.ranks.includes(rank) && layout.outAxis !== undefined && layout.inAxis !== undefined) {
          weightOf.set(node, path.stored);
          roles.set(path.stored, {
            role: consumer.role,
            layout: layout as WeightLayout,
            via: path.steps.map((s) => s.opType),
            ...(node.name ? { consumer: node.name } : {}),
          });
        }
      }
    }
    for (const site of ZERO_POINT_SITES[node.opType]?.(node) ?? []) {
      const zeroPoint = node.inputs[site.zeroPoint];
      // Absent means 0; exporters also compute a 0 zero point with Cast(ConstantOfShape(...)).
      if (!zeroPoint || isComputedZero(zeroPoint, producers)) continue;
      const path = traceToStored(node.inputs[site.operand], producers, ranks, VALUE_LOOK_THROUGH);
      if (!path || zeroPoints.has(path.stored)) continue;
      const rank = ranks.get(path.stored)!;
      const atSite = site.axis === null ? undefined : site.axis < 0 ? site.axis + rank : site.axis;
      const axis = atSite !== undefined && atSite >= 0 && atSite < rank ? axisOnStored(atSite, path.steps, rank) : undefined;
      zeroPoints.set(path.stored, {
        zeroPoint,
        axis,
        opAxis: site.axis,
        op: node.opType,
        ...(site.problem ? { problem: site.problem } : {}),
      });
    }
  }
  const firstUse = new Map<string, number>();
  const biasOf = new Map<string, string>();
  nodes.forEach((node, i) => {
    for (const input of node.inputs) if (ranks.has(input) && !firstUse.has(input)) firstUse.set(input, i);
    const bias = node.opType === 'Conv' || node.opType === 'Gemm' ? node.inputs[2] : undefined;
    if (bias && ranks.has(bias) && node.name && !biasOf.has(bias)) biasOf.set(bias, node.name);
  });
  return { roles, zeroPoints, firstUse, biasOf, nextWeight: nextWeights(nodes, weightOf, ranks) };
}

/** Ops that keep channel c in channel c (elementwise, or pooling within a channel); their data input is input 0. */
const CHANNEL_KEEPING = new Set([
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Gelu',
  'Elu',
  'Selu',
  'Softplus',
  'Clip',
  'Dropout',
  'Identity',
  'Cast',
  'BatchNormalization',
  'MaxPool',
  'AveragePool',
]);

/** Gemm, MatMul and Conv whose data input (input 0) is a computed value: the layers a weight's outputs can feed. */
const DATA_CONSUMERS = new Set(['Gemm', 'MatMul', 'Conv']);

/** See GraphFacts.nextWeight: followed forward from each weight's consumer through channel-keeping ops. */
function nextWeights(
  nodes: readonly OnnxNode[],
  weightOf: ReadonlyMap<OnnxNode, string>,
  stored: ReadonlyMap<string, number>,
): Map<string, string> {
  const users = new Map<string, OnnxNode[]>();
  for (const node of nodes) for (const input of new Set(node.inputs)) if (input) users.set(input, [...(users.get(input) ?? []), node]);
  const next = new Map<string, string>();
  for (const [node, weight] of weightOf) {
    let value = node.outputs[0];
    for (let step = 0; value && step < MAX_LOOK_THROUGH_CHAIN; step++) {
      const used = users.get(value) ?? [];
      // A value used twice (a residual branch, a graph output also used) has no single next layer.
      if (used.length !== 1) break;
      const user = used[0];
      if (DATA_CONSUMERS.has(user.opType) && user.inputs[0] === value) {
        const to = weightOf.get(user);
        if (to) next.set(weight, to);
        break;
      }
      // A bias add or a scale by a stored tensor keeps channels too.
      const keeps = CHANNEL_KEEPING.has(user.opType)
        ? user.inputs[0] === value
        : (user.opType === 'Add' || user.opType === 'Mul') &&
          user.inputs.length === 2 &&
          user.inputs.some((i) => i !== value && stored.has(i));
      if (!keeps) break;
      value = user.outputs[0];
    }
  }
  return next;
}

/** A value computed as all zeros: a zero-filled ConstantOfShape, possibly through Cast or Identity. */
function isComputedZero(value: string, producers: ReadonlyMap<string, OnnxNode>): boolean {
  for (let depth = 0; depth < MAX_LOOK_THROUGH_CHAIN; depth++) {
    const node = producers.get(value);
    if (!node) return false;
    if (node.opType === 'ConstantOfShape') return node.zeroFill === true;
    if (node.opType !== 'Cast' && node.opType !== 'Identity') return false;
    value = node.inputs[0];
  }
  return false;
}

/** The stored tensor a value comes from through `through` ops, with those ops nearest first. */
function traceToStored(
  value: string | undefined,
  producers: ReadonlyMap<string, OnnxNode>,
  stored: ReadonlyMap<string, number>,
  through: ReadonlySet<string>,
): { stored: string; steps: OnnxNode[] } | undefined {
  const steps: OnnxNode[] = [];
  while (value) {
    if (stored.has(value)) return { stored: value, steps };
    const node = producers.get(value);
    if (!node || !through.has(node.opType) || steps.length >= MAX_LOOK_THROUGH_CHAIN) return undefined;
    steps.push(node);
    value = node.inputs[0];
  }
  return undefined;
}

/**
 * Maps an axis of the value a consumer sees back to the stored tensor: output axis i of a
 * Transpose is its input's axis perm[i] (no perm: the axes reversed). Undefined for a bad perm.
 */
function axisOnStored(axis: number, steps: readonly OnnxNode[], rank: number): number | undefined {
  let a = axis;
  for (const step of steps) {
    if (step.opType !== 'Transpose') continue;
    const perm = step.intLists.get('perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
    if (perm.length !== rank || new Set(perm).size !== rank || perm.some((p) => p < 0 || p >= rank)) return undefined;
    a = perm[a];
  }
  return a;
}

/**
 * The module path a user knows from torch.onnx.export's node name: its scopes joined with dots,
 * a scope that repeats the path so far replacing it (`/layer4/layer4.0/conv2/Conv` →
 * `layer4.0.conv2`, `/encoder/layer.0/attention/self/query/MatMul` →
 * `encoder.layer.0.attention.self.query`); undefined for a name that is not such a path.
 */
export function modulePathOf(nodeName: string): string | undefined {
  if (!nodeName.startsWith('/')) return undefined;
  const scopes = nodeName.slice(1).split('/').slice(0, -1);
  let path = '';
  for (const scope of scopes) {
    if (!scope) return undefined;
    path = path && !scope.startsWith(`${path}.`) ? `${path}.${scope}` : scope;
  }
  return path || undefined;
}

/** Initializer names the exporter made up (`onnx::Conv_241`, `123`), for which the module path is shown instead. */
export function isGeneratedName(name: string): boolean {
  return name.startsWith('onnx::') || /^\d+$/.test(name);
}
