/**
 * The .npy header's Python literal, parsed by hand: only dicts, tuples, lists, strings, integers,
 * True, False and None. Nothing is ever evaluated.
 */

/** Nesting deeper than this is no numpy header. */
const MAX_LITERAL_DEPTH = 16;

export type PyValue = string | number | boolean | null | PyValue[] | Map<string, PyValue>;

export class LiteralError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(message);
  }
}

export function parsePythonLiteral(text: string): PyValue {
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text[i])) i++;
  };
  const fail = (what: string): never => {
    throw new LiteralError(what, i);
  };
  const expect = (c: string) => {
    skipSpace();
    if (text[i] !== c) fail(`expected "${c}" at character ${i}`);
    i++;
  };

  const value = (depth: number): PyValue => {
    if (depth > MAX_LITERAL_DEPTH) fail('nested too deeply');
    skipSpace();
    const c = text[i];
    if (c === undefined) return fail('the text ends early');
    if (c === '{') return dict(depth);
    if (c === '(') return sequence(')', depth, true);
    if (c === '[') return sequence(']', depth, false);
    if (c === "'" || c === '"') return string();
    if (/[0-9]/.test(c)) return integer();
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i, i + 64))!;
      const word = m[0];
      const constants: Record<string, PyValue> = { True: true, False: false, None: null };
      if (!Object.prototype.hasOwnProperty.call(constants, word)) fail(`unexpected name "${word}" (only True, False and None are allowed)`);
      i += word.length;
      return constants[word];
    }
    return fail(`unexpected character "${c}" at character ${i}`);
  };

  const dict = (depth: number): Map<string, PyValue> => {
    i++; // '{'
    const out = new Map<string, PyValue>();
    for (;;) {
      skipSpace();
      if (text[i] === '}') {
        i++;
        return out;
      }
      const key = value(depth + 1);
      if (typeof key !== 'string') fail('a dict key is not a string');
      if (out.has(key as string)) fail(`duplicate key "${String(key)}"`);
      expect(':');
      out.set(key as string, value(depth + 1));
      skipSpace();
      if (text[i] === ',') i++;
      else if (text[i] !== '}') fail(`expected "," or "}" at character ${i}`);
    }
  };

  const sequence = (close: string, depth: number, tuple: boolean): PyValue[] => {
    i++; // '(' or '['
    const out: PyValue[] = [];
    let sawComma = false;
    for (;;) {
      skipSpace();
      if (text[i] === close) {
        i++;
        // '(x)' is x in parentheses, not a tuple; numpy writes '(x,)'.
        if (tuple && out.length === 1 && !sawComma) return fail('a parenthesised value is not a tuple');
        return out;
      }
      out.push(value(depth + 1));
      skipSpace();
      if (text[i] === ',') {
        i++;
        sawComma = true;
      } else if (text[i] !== close) fail(`expected "," or "${close}" at character ${i}`);
    }
  };

  const string = (): string => {
    const quote = text[i++];
    let out = '';
    for (;;) {
      const c = text[i++];
      if (c === undefined || c === '\n') return fail('a string is not closed');
      if (c === quote) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = text[i++];
      const simple: Record<string, string> = { '\\': '\\', "'": "'", '"': '"', n: '\n', t: '\t', r: '\r', '0': '\0' };
      if (e !== undefined && simple[e] !== undefined) out += simple[e];
      else if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i, i + 2))) {
        out += String.fromCharCode(parseInt(text.slice(i, i + 2), 16));
        i += 2;
      } else fail(`unsupported escape "\\${e ?? ''}" in a string`);
    }
  };

  const integer = (): number => {
    const m = /^[0-9]+/.exec(text.slice(i, i + 32))!;
    i += m[0].length;
    if (text[i] === 'L' || text[i] === 'l') i++; // Python 2 longs: (3L, 4L)
    if (/[0-9.eExX_]/.test(text[i] ?? '')) fail(`unexpected number syntax at character ${i}`);
    const n = Number(m[0]);
    if (!Number.isSafeInteger(n)) fail(`the integer ${m[0]} is too large`);
    return n;
  };

  const result = value(0);
  skipSpace();
  if (i < text.length) fail(`unexpected text after the literal at character ${i}`);
  return result;
}
