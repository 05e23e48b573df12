import { kerasLayout, OUT_IN_LAYOUT, type Checkpoint, type Role, type TensorEntry, type WeightLayout } from '../checkpoint';
import { isJsonObject } from '../jsonValue';

/**
 * User overrides of the role and layout the readers infer, for files whose conventions the
 * names do not reveal. Written as a JSON object from tensor-name pattern to override:
 *
 *   {
 *     "*.c_attn.weight": {"role": "linear", "layout": "in,out"},
 *     "encoder.*.proj":  {"role": "other"},
 *     "conv*.weight":    {"role": "conv", "outAxis": 0, "inAxis": 1}
 *   }
 *
 * or as a list of rules, each with its pattern, for when the order matters and a pattern is a
 * plain integer (JavaScript puts such object keys first, whatever the order written):
 *
 *   [{"pattern": "0", "role": "other"}, {"pattern": "*", "role": "linear"}]
 *
 * - Patterns match the whole tensor name. `*` matches any run of characters (dots and slashes
 *   included), `?` exactly one; everything else is literal. A pattern written `/…/` is a
 *   JavaScript regular expression instead, tested anywhere in the name (anchor it with ^…$).
 * - The first pattern that matches a tensor, in the order written, decides for that tensor
 *   (in the object form, patterns that are plain non-negative integers such as "0" come first).
 * - `role` is required: "linear", "conv" or "other".
 * - The layout of a linear or conv weight: `"layout": "out,in"` = PyTorch's [out, in, *kernel]
 *   (outAxis 0, inAxis 1); `"layout": "in,out"` = Keras/TF's [*kernel, in, out] (the last axis is
 *   the output, the one before it the input; [in, out] for a matrix); or explicit `outAxis` and
 *   `inAxis` (negative counts from the end). Fan-in is per index of outAxis; N:M runs along inAxis.
 *   Without any, a tensor keeps the layout it had, or gets "out,in".
 * - Axes must be in range for the tensor's rank and differ; otherwise applying fails with an error
 *   naming the pattern and the tensor.
 */
export interface RoleOverrideRule {
  /** The pattern as the user wrote it. */
  readonly pattern: string;
  readonly matcher: RegExp;
  readonly role: Role;
  readonly layout?: 'out,in' | 'in,out' | { readonly outAxis: number; readonly inAxis: number };
}

export type RoleOverrides = readonly RoleOverrideRule[];

/** A bad override, naming the pattern and, when applying, the tensor. */
export class RoleOverrideError extends Error {
  constructor(
    readonly pattern: string | undefined,
    readonly tensor: string | undefined,
    detail: string,
  ) {
    super(
      pattern === undefined
        ? detail
        : tensor === undefined
          ? `pattern "${pattern}": ${detail}`
          : `pattern "${pattern}", tensor "${tensor}": ${detail}`,
    );
    this.name = 'RoleOverrideError';
  }
}

const ROLES: readonly Role[] = ['linear', 'conv', 'other'];
const KEYS = new Set(['role', 'layout', 'outAxis', 'inAxis']);
const LIST_KEYS = new Set([...KEYS, 'pattern']);

/** Parses overrides from JSON text (a command-line flag or a file). */
export function parseRoleOverridesJson(text: string): RoleOverrides {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new RoleOverrideError(undefined, undefined, `not valid JSON: ${(e as Error).message}`);
  }
  return parseRoleOverrides(value);
}

/** Validates overrides given as a JSON value (for example a VS Code setting). */
export function parseRoleOverrides(value: unknown): RoleOverrides {
  if (Array.isArray(value)) {
    return value.map((rule, i) => {
      if (!isJsonObject(rule) || typeof rule.pattern !== 'string') {
        throw new RoleOverrideError(undefined, undefined, `rule ${i + 1} must be an object like {"pattern": "*.weight", "role": "linear"}`);
      }
      return parseRule(rule.pattern, rule, LIST_KEYS);
    });
  }
  if (!isJsonObject(value)) {
    throw new RoleOverrideError(
      undefined,
      undefined,
      'role overrides must be a JSON object mapping tensor-name patterns to {"role": …}, or a list of {"pattern": …, "role": …}',
    );
  }
  return Object.entries(value).map(([pattern, spec]) => parseRule(pattern, spec, KEYS));
}

function parseRule(pattern: string, s: unknown, keys: ReadonlySet<string>): RoleOverrideRule {
  const bad = (detail: string) => new RoleOverrideError(pattern, undefined, detail);
  if (!isJsonObject(s)) throw bad('the override must be an object like {"role": "linear"}');
  for (const key of Object.keys(s)) if (!keys.has(key)) throw bad(`unknown key "${key}" (allowed: ${[...keys].join(', ')})`);
  if (typeof s.role !== 'string' || !ROLES.includes(s.role as Role)) throw bad(`"role" must be "linear", "conv" or "other"`);
  const role = s.role as Role;
  const hasAxes = s.outAxis !== undefined || s.inAxis !== undefined;
  if (role === 'other') {
    if (s.layout !== undefined || hasAxes) throw bad('role "other" takes no layout or axes');
    return { pattern, matcher: matcherOf(pattern), role };
  }
  if (s.layout !== undefined && hasAxes) throw bad('give either "layout" or "outAxis"/"inAxis", not both');
  let layout: RoleOverrideRule['layout'];
  if (s.layout !== undefined) {
    const text = typeof s.layout === 'string' ? s.layout.replace(/\s+/g, '') : '';
    if (text !== 'out,in' && text !== 'in,out') throw bad(`"layout" must be "out,in" or "in,out"`);
    layout = text;
  } else if (hasAxes) {
    if (!Number.isInteger(s.outAxis) || !Number.isInteger(s.inAxis)) throw bad('"outAxis" and "inAxis" must both be given, as integers');
    layout = { outAxis: s.outAxis as number, inAxis: s.inAxis as number };
  }
  return { pattern, matcher: matcherOf(pattern), role, ...(layout ? { layout } : {}) };
}

/** The matcher of a tensor-name pattern: `*` and `?` wildcards over the whole name, or `/regex/`. */
export function matcherOf(pattern: string): RegExp {
  if (pattern.length >= 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
    try {
      return new RegExp(pattern.slice(1, -1));
    } catch (e) {
      throw new RoleOverrideError(pattern, undefined, `not a valid regular expression: ${(e as Error).message}`);
    }
  }
  if (pattern === '') throw new RoleOverrideError(pattern, undefined, 'an empty pattern matches nothing');
  const body = pattern.replace(/[.+^${}()|[\]\\*?]/g, (c) => (c === '*' ? '.*' : c === '?' ? '.' : `\\${c}`));
  return new RegExp(`^${body}$`, 's');
}

/** The rule that decides for `name`: the first whose pattern matches. */
function ruleFor(overrides: RoleOverrides, name: string): RoleOverrideRule | undefined {
  return overrides.find((r) => r.matcher.test(name));
}

/** Returns `checkpoint` with each matched tensor's role and layout replaced. */
export function applyRoleOverrides(checkpoint: Checkpoint, overrides: RoleOverrides): Checkpoint {
  if (overrides.length === 0) return checkpoint;
  const tensors = checkpoint.tensors.map((t) => {
    const rule = ruleFor(overrides, t.name);
    return rule ? overridden(t, rule) : t;
  });
  return { ...checkpoint, tensors };
}

/** Patterns that decide for no tensor of `checkpoint` (likely typos), for a warning. */
export function unusedRoleOverrides(checkpoint: Checkpoint, overrides: RoleOverrides): string[] {
  const used = new Set(checkpoint.tensors.map((t) => ruleFor(overrides, t.name)).filter((r) => r !== undefined));
  return overrides.filter((r) => !used.has(r)).map((r) => r.pattern);
}

function overridden(t: TensorEntry, rule: RoleOverrideRule): TensorEntry {
  const { layout: _previous, ...rest } = t;
  if (rule.role === 'other') return { ...rest, role: 'other' };
  const rank = t.shape.length;
  const fail = (detail: string) => new RoleOverrideError(rule.pattern, t.name, detail);
  if (rank < 2) throw fail(`a ${rule.role} weight needs at least 2 axes, but the tensor has shape [${t.shape.join(', ')}]`);
  let layout: WeightLayout;
  if (rule.layout === 'out,in') layout = OUT_IN_LAYOUT;
  else if (rule.layout === 'in,out') layout = kerasLayout(rank);
  else if (rule.layout) {
    const axis = (name: string, a: number) => {
      if (a < -rank || a >= rank) throw fail(`${name} ${a} is out of range for shape [${t.shape.join(', ')}] (rank ${rank})`);
      return a < 0 ? a + rank : a;
    };
    layout = { outAxis: axis('outAxis', rule.layout.outAxis), inAxis: axis('inAxis', rule.layout.inAxis) };
    if (layout.outAxis === layout.inAxis) throw fail(`outAxis and inAxis are the same axis (${layout.outAxis})`);
  } else layout = t.layout ?? OUT_IN_LAYOUT;
  return { ...rest, role: rule.role, layout };
}
