import { CheckpointError } from '../../../errors';
import { resolveGlobal, runsCode } from './globals';
import { DEFAULT_PICKLE_LIMITS, type PickleLimits } from './limits';
import { Op } from './opcodes';
import { describeValue, instantiate, PyFunction, PyObject } from './values';

/**
 * A pickle virtual machine that builds data and never runs code.
 *
 * Python's unpickler imports whatever a GLOBAL names and calls it on REDUCE, which is how a
 * checkpoint can run arbitrary code. Here a GLOBAL resolves only through an allowlist of
 * data-building callables (globals.ts: OrderedDict, set, the tensor rebuild functions the caller
 * supplies); any other name becomes an inert `PyClass` placeholder, and calling or instantiating
 * it only records its arguments in a `PyObject` (values.ts). Work is bounded by limits on input
 * size, memo size, stack size, nesting and total steps (limits.ts), so hostile input ends in a
 * CheckpointError, not a hang.
 */

export interface UnpickleOptions {
  /** The checkpoint file, for errors. */
  readonly file: string;
  /** The pickle's name within the file ("data.pkl"), for errors. */
  readonly what: string;
  /**
   * File offset of `bytes[0]`, so errors give absolute byte offsets; undefined when the pickle
   * was decompressed, and errors then give the position within the pickle in words.
   */
  readonly fileOffset: number | undefined;
  /**
   * Resolves an allowlisted global beyond the Python builtins this module knows, or returns
   * undefined to get an inert placeholder.
   */
  readonly resolveGlobal?: (module: string, name: string) => unknown;
  /** Turns a persistent id (torch's storage references) into a value. */
  readonly persistentLoad?: (pid: unknown) => unknown;
  readonly limits?: Partial<PickleLimits>;
}

/** Thrown when the bytes end before STOP; callers reading a stream may retry with more bytes. */
export class PickleEndOfData extends CheckpointError {
  constructor(
    file: string,
    detail: string,
    offset: number | undefined,
    /** Bytes of input (from the start of the pickle) needed to go on. */
    readonly needed: number,
  ) {
    super(file, 'truncated', detail, offset);
  }
}

const utf8 = new TextDecoder('utf-8');
const latin1 = new TextDecoder('latin1');

/**
 * Runs the pickle that starts at `start` in `bytes` up to its STOP. Returns the value and the
 * index just past STOP (the legacy torch format holds several pickles back to back).
 */
export function unpickle(bytes: Uint8Array, start: number, options: UnpickleOptions): { value: unknown; end: number } {
  return new Unpickler(bytes, start, options).run();
}

class Unpickler {
  private pos: number;
  private opStart: number;
  private stack: unknown[] = [];
  private readonly metastack: unknown[][] = [];
  private stackSize = 0;
  private readonly memo = new Map<number, unknown>();
  private steps = 0;
  /** Items made by data-building calls so far, and how many they may make. */
  private created = 0;
  private readonly maxCreated: number;
  private readonly limits: PickleLimits;
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly start: number,
    private readonly options: UnpickleOptions,
  ) {
    this.pos = start;
    this.opStart = start;
    this.limits = { ...DEFAULT_PICKLE_LIMITS, ...options.limits };
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.maxCreated = Math.min(this.limits.maxCreatedPerByte * (bytes.length - start), this.limits.maxCreated);
  }

  private fail(problem: 'corrupt' | 'unsafe' | 'unsupported', detail: string): CheckpointError {
    return new CheckpointError(this.options.file, problem, `${this.options.what}: ${detail}${this.where()}`, this.fileOffset());
  }

  /** The current opcode's file offset, when the pickle is a file range. */
  private fileOffset(): number | undefined {
    return this.options.fileOffset === undefined ? undefined : this.options.fileOffset + this.opStart;
  }

  /** Where in a decompressed pickle, since no file offset can say it. */
  private where(): string {
    return this.options.fileOffset === undefined ? ` (at byte ${this.opStart - this.start} of ${this.options.what})` : '';
  }

  private need(n: number): void {
    if (this.pos + n > this.bytes.length) {
      throw new PickleEndOfData(
        this.options.file,
        `${this.options.what} ends in the middle of a pickle (the opcode at byte ${this.opStart - this.start} of the pickle needs ${n} more bytes)`,
        this.fileOffset(),
        this.pos + n - this.start,
      );
    }
  }

  private take(n: number): Uint8Array {
    this.need(n);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  private u8(): number {
    this.need(1);
    return this.bytes[this.pos++];
  }
  private u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  private u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  private i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** An 8-byte length, checked against the limit before it becomes a number. */
  private u64Length(what: string): number {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return this.checkLength(v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v), what);
  }
  private checkLength(n: number, what: string): number {
    if (n > this.limits.maxLength) {
      throw this.fail('corrupt', `${what} declares ${n} bytes, beyond the ${this.limits.maxLength}-byte limit for one pickle value`);
    }
    return n;
  }

  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) {
      throw new PickleEndOfData(
        this.options.file,
        `${this.options.what} ends in the middle of a text opcode`,
        this.fileOffset(),
        this.bytes.length - this.start + 1,
      );
    }
    const text = latin1.decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return text;
  }

  private spend(n: number): void {
    this.steps += n;
    if (this.steps > this.limits.maxSteps) {
      throw this.fail('unsafe', `the pickle asks for more than ${this.limits.maxSteps} steps of work`);
    }
  }

  private push(v: unknown): void {
    if (++this.stackSize > this.limits.maxStack) {
      throw this.fail('unsafe', `the pickle stack grows beyond ${this.limits.maxStack} values`);
    }
    this.stack.push(v);
  }

  private pop(): unknown {
    if (this.stack.length === 0) throw this.fail('corrupt', 'stack underflow');
    this.stackSize--;
    return this.stack.pop();
  }

  private top(): unknown {
    if (this.stack.length === 0) throw this.fail('corrupt', 'stack underflow');
    return this.stack[this.stack.length - 1];
  }

  private mark(): void {
    if (this.metastack.length >= this.limits.maxMarks) {
      throw this.fail('unsafe', `more than ${this.limits.maxMarks} nested MARKs (a recursion bomb?)`);
    }
    this.metastack.push(this.stack);
    this.stack = [];
  }

  /** The values pushed since the last MARK, removing the mark. */
  private popMark(): unknown[] {
    const items = this.stack;
    const outer = this.metastack.pop();
    if (outer === undefined) throw this.fail('corrupt', 'no MARK to pop to');
    this.stack = outer;
    this.stackSize -= items.length;
    this.spend(items.length);
    return items;
  }

  private memoPut(index: number, value: unknown): void {
    if (!this.memo.has(index) && this.memo.size >= this.limits.maxMemo) {
      throw this.fail('unsafe', `the memo grows beyond ${this.limits.maxMemo} entries`);
    }
    this.memo.set(index, value);
  }

  private memoGet(index: number): unknown {
    if (!this.memo.has(index)) throw this.fail('corrupt', `memo index ${index} was never stored`);
    return this.memo.get(index);
  }

  private resolve(module: string, name: string): unknown {
    if (runsCode(module, name)) {
      throw this.fail(
        'unsafe',
        `the pickle imports ${module}.${name}, which runs code or touches the system when torch.load unpickles it; Sparsity Lens ran nothing and will not read this file`,
      );
    }
    return resolveGlobal(module, name, this.options.resolveGlobal);
  }

  private call(callee: unknown, args: unknown, kwargs?: unknown): unknown {
    if (!Array.isArray(args)) throw this.fail('corrupt', 'the arguments of a call are not a tuple');
    // Data-building calls walk their arguments once: charge for that, so that calling
    // OrderedDict on one memoized large list again and again cannot hide quadratic work.
    let work = args.length;
    for (const a of args)
      work +=
        Array.isArray(a) || typeof a === 'string' || a instanceof Uint8Array ? a.length : a instanceof Map || a instanceof Set ? a.size : 0;
    this.spend(work);
    const kw = kwargs instanceof Map ? kwargs : undefined;
    if (callee instanceof PyFunction) {
      let made: unknown;
      try {
        made = callee.call(args, kw);
      } catch (e) {
        if (e instanceof CheckpointError) throw e;
        throw this.fail('corrupt', `${callee.qualifiedName} was given arguments it cannot take`);
      }
      this.created += itemCount(made);
      if (this.created > this.maxCreated) {
        throw this.fail(
          'unsafe',
          `calls such as ${callee.qualifiedName}() create more than ${this.maxCreated} items, far more than a ${this.bytes.length - this.start}-byte pickle holds (a memory bomb?)`,
        );
      }
      return made;
    }
    const made = instantiate(callee, args, kw);
    if (made === undefined) throw this.fail('corrupt', 'a call of something that is not callable');
    return made;
  }

  private integerFromBytes(raw: Uint8Array): number | bigint {
    if (raw.length === 0) return 0;
    if (raw.length <= 6) {
      let v = 0;
      for (let i = raw.length - 1; i >= 0; i--) v = v * 256 + raw[i];
      return raw[raw.length - 1] & 0x80 ? v - 2 ** (8 * raw.length) : v;
    }
    let v = 0n;
    for (let i = raw.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(raw[i]);
    if (raw[raw.length - 1] & 0x80) v -= 1n << BigInt(8 * raw.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private integerFromText(text: string): number | bigint {
    const digits = text.endsWith('L') ? text.slice(0, -1) : text;
    if (digits.length > this.limits.maxIntegerBytes) throw this.fail('corrupt', `an integer of ${digits.length} digits`);
    if (!/^[-+]?\d+$/.test(digits)) throw this.fail('corrupt', `"${digits.slice(0, 40)}" is not an integer`);
    const v = BigInt(digits);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private index(text: string): number {
    if (!/^\d+$/.test(text)) throw this.fail('corrupt', `"${text.slice(0, 40)}" is not a memo index`);
    return Number(text);
  }

  private build(): void {
    const state = this.pop();
    const target = this.top();
    // Only placeholders keep their state; for data (OrderedDict's _metadata, tensors) it is ignored.
    if (target instanceof PyObject) target.state = state;
  }

  private append(target: unknown, items: readonly unknown[]): void {
    this.spend(items.length);
    if (Array.isArray(target)) for (const item of items) target.push(item);
    else if (target instanceof PyObject) for (const item of items) target.listItems.push(item);
    else if (target instanceof Set) for (const item of items) target.add(item);
    else throw this.fail('corrupt', 'APPEND to something that is not a list');
  }

  private setItems(target: unknown, items: readonly unknown[]): void {
    if (items.length % 2 !== 0) throw this.fail('corrupt', 'SETITEMS with an odd number of values');
    this.spend(items.length);
    const map = target instanceof Map ? target : target instanceof PyObject ? target.dictItems : undefined;
    if (!map) throw this.fail('corrupt', 'SETITEM on something that is not a dict');
    for (let i = 0; i < items.length; i += 2) map.set(items[i], items[i + 1]);
  }

  private pythonString(text: string): string {
    // Protocol 0 STRING: a quoted repr with backslash escapes.
    const quote = text[0];
    if (text.length < 2 || (quote !== "'" && quote !== '"') || text[text.length - 1] !== quote) {
      throw this.fail('corrupt', 'a STRING opcode without quotes');
    }
    return unescapePython(text.slice(1, -1), false);
  }

  run(): { value: unknown; end: number } {
    for (;;) {
      this.opStart = this.pos;
      this.spend(1);
      const op = this.u8();
      switch (op) {
        case Op.PROTO: {
          const version = this.u8();
          if (version > 5) throw this.fail('unsupported', `pickle protocol ${version} (at most 5 is known)`);
          break;
        }
        case Op.FRAME: {
          // Frames only group opcodes for buffered reading; check the length and read on.
          const n = this.u64Length('FRAME');
          if (this.pos + n > this.bytes.length) this.need(n);
          break;
        }
        case Op.STOP: {
          const value = this.pop();
          return { value, end: this.pos };
        }
        case Op.MARK:
          this.mark();
          break;
        case Op.POP:
          if (this.stack.length > 0) this.pop();
          else this.popMark();
          break;
        case Op.POP_MARK:
          this.popMark();
          break;
        case Op.DUP:
          this.push(this.top());
          break;
        case Op.NONE:
          this.push(null);
          break;
        case Op.NEWTRUE:
          this.push(true);
          break;
        case Op.NEWFALSE:
          this.push(false);
          break;
        case Op.INT: {
          const text = this.line();
          this.push(text === '01' ? true : text === '00' ? false : this.integerFromText(text));
          break;
        }
        case Op.LONG:
          this.push(this.integerFromText(this.line()));
          break;
        case Op.BININT:
          this.push(this.i32());
          break;
        case Op.BININT1:
          this.push(this.u8());
          break;
        case Op.BININT2:
          this.push(this.u16());
          break;
        case Op.LONG1:
          this.push(this.integerFromBytes(this.take(this.u8())));
          break;
        case Op.LONG4: {
          const n = this.i32();
          if (n < 0 || n > this.limits.maxIntegerBytes) throw this.fail('corrupt', `LONG4 of ${n} bytes`);
          this.push(this.integerFromBytes(this.take(n)));
          break;
        }
        case Op.FLOAT: {
          const text = this.line();
          const v = /^[-+]?inf$/i.test(text) ? (text.startsWith('-') ? -Infinity : Infinity) : Number(text);
          if (Number.isNaN(v) && !/^[-+]?nan$/i.test(text)) throw this.fail('corrupt', `"${text.slice(0, 40)}" is not a float`);
          this.push(v);
          break;
        }
        case Op.BINFLOAT: {
          this.need(8);
          this.push(this.view.getFloat64(this.pos, false));
          this.pos += 8;
          break;
        }
        case Op.STRING:
          this.push(this.pythonString(this.line()));
          break;
        case Op.BINSTRING: {
          const n = this.i32();
          if (n < 0) throw this.fail('corrupt', 'BINSTRING with a negative length');
          this.push(utf8.decode(this.take(this.checkLength(n, 'BINSTRING'))));
          break;
        }
        case Op.SHORT_BINSTRING:
          this.push(utf8.decode(this.take(this.u8())));
          break;
        case Op.UNICODE:
          this.push(unescapePython(this.line(), true));
          break;
        case Op.BINUNICODE:
          this.push(utf8.decode(this.take(this.checkLength(this.u32(), 'BINUNICODE'))));
          break;
        case Op.SHORT_BINUNICODE:
          this.push(utf8.decode(this.take(this.u8())));
          break;
        case Op.BINUNICODE8:
          this.push(utf8.decode(this.take(this.u64Length('BINUNICODE8'))));
          break;
        case Op.BINBYTES:
          this.push(this.take(this.checkLength(this.u32(), 'BINBYTES')).slice());
          break;
        case Op.SHORT_BINBYTES:
          this.push(this.take(this.u8()).slice());
          break;
        case Op.BINBYTES8:
          this.push(this.take(this.u64Length('BINBYTES8')).slice());
          break;
        case Op.BYTEARRAY8:
          this.push(this.take(this.u64Length('BYTEARRAY8')).slice());
          break;
        case Op.NEXT_BUFFER:
          throw this.fail('unsupported', 'out-of-band buffers (pickle protocol 5 NEXT_BUFFER)');
        case Op.READONLY_BUFFER:
          this.top();
          break;
        case Op.EMPTY_TUPLE:
          this.push([]);
          break;
        case Op.TUPLE1:
          this.push([this.pop()]);
          break;
        case Op.TUPLE2: {
          const b = this.pop();
          const a = this.pop();
          this.push([a, b]);
          break;
        }
        case Op.TUPLE3: {
          const c = this.pop();
          const b = this.pop();
          const a = this.pop();
          this.push([a, b, c]);
          break;
        }
        case Op.TUPLE:
        case Op.LIST:
          this.push(this.popMark());
          break;
        case Op.EMPTY_LIST:
          this.push([]);
          break;
        case Op.EMPTY_DICT:
          this.push(new Map());
          break;
        case Op.DICT: {
          const map = new Map<unknown, unknown>();
          this.setItems(map, this.popMark());
          this.push(map);
          break;
        }
        case Op.EMPTY_SET:
          this.push(new Set());
          break;
        case Op.FROZENSET:
          this.push(new Set(this.popMark()));
          break;
        case Op.APPEND: {
          const item = this.pop();
          this.append(this.top(), [item]);
          break;
        }
        case Op.APPENDS:
        case Op.ADDITEMS: {
          const items = this.popMark();
          this.append(this.top(), items);
          break;
        }
        case Op.SETITEM: {
          const value = this.pop();
          const key = this.pop();
          this.setItems(this.top(), [key, value]);
          break;
        }
        case Op.SETITEMS: {
          const items = this.popMark();
          this.setItems(this.top(), items);
          break;
        }
        case Op.GET:
          this.push(this.memoGet(this.index(this.line())));
          break;
        case Op.BINGET:
          this.push(this.memoGet(this.u8()));
          break;
        case Op.LONG_BINGET:
          this.push(this.memoGet(this.u32()));
          break;
        case Op.PUT:
          this.memoPut(this.index(this.line()), this.top());
          break;
        case Op.BINPUT:
          this.memoPut(this.u8(), this.top());
          break;
        case Op.LONG_BINPUT:
          this.memoPut(this.u32(), this.top());
          break;
        case Op.MEMOIZE:
          this.memoPut(this.memo.size, this.top());
          break;
        case Op.GLOBAL: {
          const module = this.line();
          const name = this.line();
          this.push(this.resolve(module, name));
          break;
        }
        case Op.STACK_GLOBAL: {
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') throw this.fail('corrupt', 'STACK_GLOBAL of non-strings');
          this.push(this.resolve(module, name));
          break;
        }
        case Op.REDUCE: {
          const args = this.pop();
          const callee = this.pop();
          this.push(this.call(callee, args));
          break;
        }
        case Op.NEWOBJ: {
          const args = this.pop();
          const cls = this.pop();
          this.push(this.call(cls, args));
          break;
        }
        case Op.NEWOBJ_EX: {
          const kwargs = this.pop();
          const args = this.pop();
          const cls = this.pop();
          this.push(this.call(cls, args, kwargs));
          break;
        }
        case Op.INST: {
          const module = this.line();
          const name = this.line();
          const args = this.popMark();
          this.push(this.call(this.resolve(module, name), args));
          break;
        }
        case Op.OBJ: {
          const items = this.popMark();
          if (items.length === 0) throw this.fail('corrupt', 'OBJ without a class');
          this.push(this.call(items[0], items.slice(1)));
          break;
        }
        case Op.BUILD:
          this.build();
          break;
        case Op.PERSID:
          this.push(this.persistent(this.line()));
          break;
        case Op.BINPERSID:
          this.push(this.persistent(this.pop()));
          break;
        case Op.EXT1:
        case Op.EXT2:
        case Op.EXT4:
          throw this.fail('unsupported', 'copyreg extension codes (EXT1/EXT2/EXT4)');
        default:
          throw this.fail('corrupt', `unknown pickle opcode 0x${op.toString(16).padStart(2, '0')}`);
      }
    }
  }

  private persistent(pid: unknown): unknown {
    if (!this.options.persistentLoad) throw this.fail('corrupt', 'a persistent id where none is expected');
    try {
      return this.options.persistentLoad(pid);
    } catch (e) {
      if (e instanceof CheckpointError) {
        if (e.offset !== undefined) throw e;
        throw new CheckpointError(e.file, e.problem, `${e.detail}${this.where()}`, this.fileOffset());
      }
      throw this.fail('corrupt', `a persistent id that cannot be read (${e instanceof Error ? e.message : describeValue(e)})`);
    }
  }
}

/** Items a call's result holds, charged against the pickle's creation budget. */
function itemCount(value: unknown): number {
  if (Array.isArray(value) || typeof value === 'string' || value instanceof Uint8Array) return value.length;
  if (value instanceof Map || value instanceof Set) return value.size;
  return 1;
}

/** Python's backslash escapes: STRING holds a repr, UNICODE raw-unicode-escape text. */
function unescapePython(text: string, rawUnicode: boolean): string {
  if (!text.includes('\\')) return text;
  const simple: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', '0': '\0', '\\': '\\', "'": "'", '"': '"' };
  return text.replace(/\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|.)/g, (whole, esc: string) => {
    const kind = esc[0];
    if (kind === 'u' || kind === 'U')
      return esc.length > 1 ? String.fromCodePoint(Math.min(Number.parseInt(esc.slice(1), 16), 0x10ffff)) : whole;
    if (rawUnicode) return whole;
    if (kind === 'x' && esc.length === 3) return String.fromCharCode(Number.parseInt(esc.slice(1), 16));
    return simple[esc] ?? whole;
  });
}
