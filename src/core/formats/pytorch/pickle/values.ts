/**
 * The values the unpickler builds. Python values map to: None → null, bool → boolean, int →
 * number (bigint beyond 2^53), float → number, str → string, bytes/bytearray → Uint8Array, list
 * and tuple → Array, dict → Map, set/frozenset → Set, complex → PyComplex. Globals that are not
 * allowlisted become inert `PyClass` placeholders, and calling one makes a `PyObject` record.
 */

/** An unresolved global: a class or function we refuse to import. */
export class PyClass {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** What calling or instantiating a placeholder would have made: arguments and state, recorded. */
export class PyObject {
  /** BUILD's argument (`__setstate__`), usually the instance `__dict__`. */
  state: unknown = undefined;
  /** Items added by APPEND(S) / ADDITEMS, for list- and set-like classes. */
  readonly listItems: unknown[] = [];
  /** Items added by SETITEM(S), for dict-like classes. */
  readonly dictItems = new Map<unknown, unknown>();
  constructor(
    readonly callee: PyClass | PyObject,
    readonly args: readonly unknown[],
    readonly kwargs?: ReadonlyMap<unknown, unknown>,
  ) {}
  get className(): string {
    return this.callee instanceof PyClass ? this.callee.qualifiedName : `${this.callee.className}(...)`;
  }
}

export class PyComplex {
  constructor(
    readonly re: number,
    readonly im: number,
  ) {}
}

/** An allowlisted global that builds data from its arguments. */
export class PyFunction {
  constructor(
    readonly qualifiedName: string,
    readonly call: (args: readonly unknown[], kwargs?: ReadonlyMap<unknown, unknown>) => unknown,
  ) {}
}

/**
 * A pickled value as short text for names and messages, like Python's repr of a key: nested
 * tuples are shown only a few levels and items deep, so a hostile key cannot make it huge
 * (String() of an array nested 100,000 deep overflows the stack).
 */
export function describeValue(value: unknown, maxChars = 80): string {
  const text = describeBounded(value, 3);
  return text.length > maxChars ? `${text.slice(0, maxChars - 1)}…` : text;
}

function describeBounded(value: unknown, depth: number): string {
  if (typeof value === 'string') return value.length > 200 ? `${value.slice(0, 200)}…` : value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value === null || value === undefined) return 'None';
  if (Array.isArray(value)) {
    if (depth === 0) return '(…)';
    const items = value.slice(0, 8).map((v) => describeBounded(v, depth - 1));
    return `(${items.join(', ')}${value.length > 8 ? ', …' : ''})`;
  }
  if (value instanceof Uint8Array) return `bytes[${value.length}]`;
  if (value instanceof PyClass) return value.qualifiedName;
  if (value instanceof PyObject) return `${value.className}(…)`;
  if (value instanceof Map) return 'dict';
  if (value instanceof Set) return 'set';
  return typeof value;
}

/** A placeholder's instance; allowlisted callables are called. */
export function instantiate(callee: unknown, args: readonly unknown[], kwargs: ReadonlyMap<unknown, unknown> | undefined): unknown {
  if (callee instanceof PyFunction) return callee.call(args, kwargs);
  if (callee instanceof PyClass || callee instanceof PyObject) return new PyObject(callee, args, kwargs);
  return undefined;
}
