import { CheckpointError } from '../../errors';
import { describeValue, PyClass, PyObject } from './pickle/values';
import { TorchTensor } from './torchGlobals';

/**
 * Where the model's tensors are in what torch.save pickled: a bare state_dict, a training
 * checkpoint that keeps it under a key (Lightning's `state_dict`, `model_state_dict`, `model`)
 * beside optimizer state, or a whole pickled nn.Module. Names are joined with dots as
 * `state_dict()` joins them.
 */

/** A tensor-like leaf: a rebuilt tensor, or a placeholder for a kind of tensor we do not read. */
export interface Leaf {
  readonly name: string;
  readonly value: TorchTensor | PyObject;
}

export interface CheckpointLayout {
  readonly model: Leaf[];
  /** Tensors that are not model weights, with the reason they are listed apart. */
  readonly apart: { leaf: Leaf; reason: string }[];
  readonly metadata: Record<string, string>;
}

/** Keys under which training checkpoints keep the model's state, in order of preference. */
const MODEL_KEYS = ['state_dict', 'model_state_dict', 'model', 'module', 'net', 'network'];
/** Deeper nesting than this is not a model; it is a recursion bomb or garbage. */
const MAX_DEPTH = 256;
/**
 * Containers, tensors and container items visited while flattening; a shared container counts
 * with all its items at every visit, so sharing one large list many times cannot hide the work.
 */
const MAX_VISITS = 1 << 24;
const MAX_METADATA_VALUE = 200;

export function layoutOf(root: unknown, file: string): CheckpointLayout {
  const budget = { visits: 0, file };
  const metadata: Record<string, string> = {};
  if (root instanceof Map) {
    const modelKey = MODEL_KEYS.find((k) => isContainer(root.get(k)));
    if (modelKey !== undefined) {
      metadata['model weights under'] = modelKey;
      const model = flatten(root.get(modelKey), '', budget);
      const apart: CheckpointLayout['apart'] = [];
      for (const [key, value] of root) {
        if (key === modelKey) continue;
        const name = describeValue(key);
        if (isScalar(value)) {
          metadata[name] = String(value).slice(0, MAX_METADATA_VALUE);
          continue;
        }
        const reason = reasonApart(name);
        for (const leaf of flatten(value, name, budget)) apart.push({ leaf, reason });
      }
      return { model, apart, metadata };
    }
  } else if (root instanceof PyObject) {
    metadata['pickled object'] = root.className;
  }
  return { model: flatten(root, '', budget), apart: [], metadata };
}

function reasonApart(key: string): string {
  if (/optim/i.test(key)) return 'optimizer state';
  if (/sched/i.test(key)) return 'learning-rate scheduler state';
  if (/ema|averag/i.test(key)) return `moving-average copy of the weights ("${key}")`;
  return `not part of the model state ("${key}")`;
}

function isScalar(value: unknown): value is string | number | bigint | boolean {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean';
}

function isContainer(value: unknown): boolean {
  return value instanceof Map || value instanceof PyObject;
}

function join(prefix: string, key: unknown): string {
  const k = describeValue(key);
  return prefix === '' ? k : `${prefix}.${k}`;
}

/** Only these can hold tensors; names are built for them alone. */
function mayHoldTensors(value: unknown): boolean {
  return value instanceof TorchTensor || value instanceof Map || value instanceof PyObject || Array.isArray(value);
}

/** Dict entries of a placeholder's state: `__dict__`, or the first of a (dict, slots) pair. */
function stateDict(obj: PyObject): Map<unknown, unknown> | undefined {
  const s = obj.state;
  if (s instanceof Map) return s;
  if (Array.isArray(s) && s[0] instanceof Map) return s[0];
  return undefined;
}

/** Placeholders for tensor kinds we do not rebuild (sparse, nested, meta …) are leaves, listed apart. */
function isUnreadTensorKind(obj: PyObject): boolean {
  return obj.callee instanceof PyClass && obj.callee.module.startsWith('torch') && obj.callee.name.startsWith('_rebuild');
}

/**
 * The tensors under `value`, depth-first in pickle order. An nn.Module contributes its
 * `_parameters`, persistent `_buffers` and `_modules`, as state_dict() does; other objects
 * contribute their attributes. Iterative, with limits on depth and total visits, so that a
 * deeply nested or exponentially shared structure cannot exhaust the stack or the CPU.
 */
function flatten(value: unknown, prefix: string, budget: { visits: number; file: string }): Leaf[] {
  const leaves: Leaf[] = [];
  // Containers on the current path, to skip cycles; an `exit` item removes one when its subtree is done.
  const onPath = new Set<unknown>();
  type Item = { name: string; value: unknown; depth: number } | { exit: unknown };
  const work: Item[] = [{ name: prefix, value, depth: 0 }];
  while (work.length > 0) {
    const item = work.pop()!;
    if ('exit' in item) {
      onPath.delete(item.exit);
      continue;
    }
    charge(budget, 1);
    const v = item.value;
    if (v instanceof TorchTensor) {
      leaves.push({ name: item.name, value: v });
      continue;
    }
    if (item.depth >= MAX_DEPTH || onPath.has(v)) continue; // too deep, or a cycle
    const children: [string, unknown][] = [];
    // Every item is charged, but plain values cannot hold tensors: they get no name.
    const add = (entries: Iterable<[unknown, unknown]> | readonly unknown[], skip?: Set<unknown>) => {
      let i = 0;
      let count = 0;
      for (const entry of entries) {
        count++;
        const [key, child] = Array.isArray(entries) ? [i++, entry] : (entry as [unknown, unknown]);
        if (mayHoldTensors(child) && !skip?.has(key)) children.push([join(item.name, key), child]);
      }
      charge(budget, count);
    };
    if (v instanceof Map) {
      add(v);
    } else if (Array.isArray(v)) {
      add(v);
    } else if (v instanceof PyObject) {
      if (isUnreadTensorKind(v)) {
        leaves.push({ name: item.name, value: v });
        continue;
      }
      const state = stateDict(v);
      if (state && (state.has('_parameters') || state.has('_modules'))) {
        for (const [section, skip] of [
          ['_parameters', undefined],
          ['_buffers', state.get('_non_persistent_buffers_set')],
          ['_modules', undefined],
        ] as const) {
          const entries = state.get(section);
          if (entries instanceof Map) add(entries, skip instanceof Set ? skip : undefined);
        }
      } else {
        if (state) add(state);
        add(v.dictItems);
        add(v.listItems);
      }
    } else {
      continue;
    }
    onPath.add(v);
    work.push({ exit: v });
    // Children are pushed in reverse so that they pop in order.
    for (let i = children.length - 1; i >= 0; i--) work.push({ name: children[i][0], value: children[i][1], depth: item.depth + 1 });
  }
  return leaves;
}

function charge(budget: { visits: number; file: string }, n: number): void {
  budget.visits += n;
  if (budget.visits > MAX_VISITS) {
    throw new CheckpointError(
      budget.file,
      'unsafe',
      `the pickled object graph expands to more than ${MAX_VISITS} containers, items and tensors`,
    );
  }
}

/** DistributedDataParallel (and torch.compile) wrap the model, prefixing every name. */
const WRAPPER_PREFIXES = ['module.', '_orig_mod.'];

export function stripWrapperPrefix(leaves: Leaf[], metadata: Record<string, string>): Leaf[] {
  for (const prefix of WRAPPER_PREFIXES) {
    if (leaves.length > 0 && leaves.every((l) => l.name.startsWith(prefix))) {
      metadata['prefix stripped'] = prefix;
      return leaves.map((l) => ({ name: l.name.slice(prefix.length), value: l.value }));
    }
  }
  return leaves;
}
