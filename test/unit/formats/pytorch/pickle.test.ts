import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { CheckpointError } from '../../../../src/core/errors';
import { PickleEndOfData, unpickle, type UnpickleOptions } from '../../../../src/core/formats/pytorch/pickle/unpickler';
import { describeValue, PyClass, PyComplex, PyObject } from '../../../../src/core/formats/pytorch/pickle/values';
import { fixture } from '../../../helpers/fixtures';

/** Python values pickled by pickle.dumps under protocols 0-5 (scripts/fixtures/make_pytorch_fixtures.py). */
const cases = (
  JSON.parse(readFileSync(fixture('pytorch', 'pickles.json'), 'utf8')) as {
    cases: { name: string; hex: string; opcodes: string[]; value: unknown }[];
  }
).cases;

const OPTIONS: UnpickleOptions = { file: 'test.pkl', what: 'the pickle', fileOffset: 0 };

/** The VM's output in the canonical JSON form the fixture script writes. */
function canonical(v: unknown): unknown {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : { float: v > 0 ? 'inf' : v < 0 ? '-inf' : 'nan' };
  if (typeof v === 'bigint') return { int: v.toString() };
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v).toString('hex') };
  if (v instanceof PyComplex) return { complex: [v.re, v.im] };
  if (Array.isArray(v)) return v.map(canonical);
  if (v instanceof Map) return { dict: [...v].map(([k, x]) => [canonical(k), canonical(x)]) };
  if (v instanceof Set) return { set: [...v].map(canonical).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)) };
  if (v instanceof PyObject) {
    return {
      object: v.className,
      ...(v.state !== undefined ? { state: canonical(v.state) } : {}),
      ...(v.args.length ? { args: canonical(v.args) } : {}),
    };
  }
  throw new Error(`unexpected value ${String(v)}`);
}

function bytes(...parts: (string | number[] | Uint8Array)[]): Uint8Array {
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
}

function expectPickleError(run: () => unknown, problem: CheckpointError['problem'], pattern: RegExp): CheckpointError {
  try {
    run();
  } catch (e) {
    assert.ok(e instanceof CheckpointError, `a CheckpointError, not ${String(e)}`);
    assert.equal(e.problem, problem, e.message);
    assert.match(e.message, pattern);
    assert.ok(e.message.startsWith('test.pkl: '), 'the message names the file');
    return e;
  }
  return assert.fail('the pickle should be rejected');
}

describe('pickle VM: builds data from pickles of every protocol and runs nothing', () => {
  for (const c of cases) {
    it(`${c.name} (${c.opcodes.length} opcode kinds) gives the value Python's pickle.loads gives`, () => {
      const data = Buffer.from(c.hex, 'hex');
      const { value, end } = unpickle(data, 0, OPTIONS);
      assert.deepStrictEqual(canonical(value), c.value);
      assert.equal(end, data.length, 'the position after STOP is the end of the pickle');
    });
  }

  it('covers the opcodes torch.save emits and those of protocols 4 and 5', () => {
    const seen = new Set(cases.flatMap((c) => c.opcodes));
    for (const op of [
      'FRAME',
      'MEMOIZE',
      'STACK_GLOBAL',
      'SHORT_BINUNICODE',
      'LONG1',
      'EMPTY_DICT',
      'SETITEMS',
      'TUPLE1',
      'TUPLE2',
      'TUPLE3',
      'REDUCE',
      'BUILD',
      'NEWOBJ',
      'BYTEARRAY8',
      'INST',
      'UNICODE',
      'LONG',
    ]) {
      assert.ok(seen.has(op), op);
    }
  });

  it('reports the position after STOP, so pickles back to back are read one after the other', () => {
    const first = bytes([0x80, 0x02, 0x4b, 0x07], '.');
    const second = bytes([0x80, 0x02], 'X', [3, 0, 0, 0], 'abc', '.');
    const stream = bytes(first, second, 'trailing storage bytes');
    const a = unpickle(stream, 0, OPTIONS);
    assert.deepEqual(a, { value: 7, end: first.length });
    const b = unpickle(stream, a.end, OPTIONS);
    assert.deepEqual(b, { value: 'abc', end: first.length + second.length });
  });

  it('any global outside the allowlist becomes an inert placeholder that records its arguments', () => {
    // numpy.core.multiarray._reconstruct(...) then BUILD: as numpy arrays in checkpoints pickle.
    const data = bytes(
      [0x80, 0x02],
      'cnumpy.core.multiarray\n_reconstruct\n',
      'K',
      [5],
      [0x85],
      'R',
      '}',
      'X',
      [1, 0, 0, 0],
      'k',
      'K',
      [9],
      's',
      'b',
      '.',
    );
    const { value } = unpickle(data, 0, OPTIONS);
    assert.ok(value instanceof PyObject);
    assert.ok(value.callee instanceof PyClass);
    assert.equal(value.className, 'numpy.core.multiarray._reconstruct');
    assert.deepEqual(value.args, [5]);
    assert.deepEqual([...(value.state as Map<unknown, unknown>)], [['k', 9]]);
  });

  for (const [module, name] of [
    ['os', 'system'],
    ['posix', 'system'],
    ['nt', 'system'],
    ['builtins', 'eval'],
    ['__builtin__', 'exec'],
    ['subprocess', 'Popen'],
    ['builtins', 'getattr'],
    ['importlib', 'import_module'],
    ['torch.hub', 'load'],
  ]) {
    it(`GLOBAL ${module}.${name} is refused as unsafe, by GLOBAL and by STACK_GLOBAL, before anything is called`, () => {
      const viaGlobal = bytes([0x80, 0x02], `c${module}\n${name}\n`, 'X', [4, 0, 0, 0], 'true', [0x85], 'R', '.');
      const e = expectPickleError(
        () => unpickle(viaGlobal, 0, OPTIONS),
        'unsafe',
        new RegExp(`imports ${module.replace(/\./g, '\\.')}\\.${name}.*ran nothing`),
      );
      assert.equal(e.offset, 2, 'the offset is that of the GLOBAL opcode');
      const short = (s: string) => bytes([0x8c, s.length], s);
      const viaStack = bytes([0x80, 0x04], short(module), short(name), [0x93], ')', 'R', '.');
      expectPickleError(() => unpickle(viaStack, 0, OPTIONS), 'unsafe', /ran nothing/);
    });
  }

  it('an unknown opcode is corrupt, with its offset', () => {
    const e = expectPickleError(() => unpickle(bytes([0x80, 0x02, 0x4b, 0x01, 0xff]), 0, OPTIONS), 'corrupt', /unknown pickle opcode 0xff/);
    assert.equal(e.offset, 4);
  });

  it('a pickle that is not a file range (a deflated data.pkl) says where in the pickle, with no file offset', () => {
    const e = expectPickleError(
      () => unpickle(bytes([0x80, 0x02, 0x4b, 0x01, 0xff]), 0, { ...OPTIONS, fileOffset: undefined }),
      'corrupt',
      /unknown pickle opcode 0xff \(at byte 4 of the pickle\)/,
    );
    assert.equal(e.offset, undefined);
  });

  it('a pickle cut before STOP ends in a truncation error that says how many bytes are missing', () => {
    const e = expectPickleError(
      () => unpickle(bytes([0x80, 0x02], 'X', [10, 0, 0, 0], 'abc'), 0, { ...OPTIONS, fileOffset: 100 }),
      'truncated',
      /ends in the middle/,
    );
    assert.ok(e instanceof PickleEndOfData);
    assert.equal(e.needed, 17);
    assert.equal(e.offset, 102, 'offsets are file offsets');
    expectPickleError(() => unpickle(bytes([0x80, 0x02, 0x4e]), 0, OPTIONS), 'truncated', /ends in the middle/);
  });

  it('a memo index never stored, stack underflow and a lone SETITEM are corrupt', () => {
    expectPickleError(
      () => unpickle(bytes([0x80, 0x02], 'j', [0xff, 0xff, 0xff, 0xff], '.'), 0, OPTIONS),
      'corrupt',
      /memo index 4294967295 was never stored/,
    );
    expectPickleError(() => unpickle(bytes([0x80, 0x02], 'R.'), 0, OPTIONS), 'corrupt', /stack underflow/);
    expectPickleError(() => unpickle(bytes([0x80, 0x02], 'K', [1], 'K', [2], 'K', [3], 's.'), 0, OPTIONS), 'corrupt', /not a dict/);
  });

  it('absurd declared lengths (4 GB strings, frames and bytes) are refused before any allocation', () => {
    expectPickleError(
      () => unpickle(bytes([0x80, 0x02], 'X', [0xff, 0xff, 0xff, 0xff], 'abc.'), 0, OPTIONS),
      'corrupt',
      /BINUNICODE declares 4294967295 bytes/,
    );
    expectPickleError(
      () => unpickle(bytes([0x80, 0x04, 0x95], [0, 0, 0, 0, 1, 0, 0, 0], '}.'), 0, OPTIONS),
      'corrupt',
      /FRAME declares 4294967296 bytes/,
    );
    expectPickleError(
      () => unpickle(bytes([0x80, 0x04, 0x8e], [0, 0, 0, 0, 0, 0, 0, 0x80], '.'), 0, OPTIONS),
      'corrupt',
      /BINBYTES8 declares/,
    );
    expectPickleError(
      () => unpickle(bytes([0x80, 0x02, 0x8b], [0xff, 0xff, 0xff, 0x7f], '.'), 0, OPTIONS),
      'corrupt',
      /LONG4 of 2147483647 bytes/,
    );
  });

  it('a recursion bomb of 100,000 nested MARK / EMPTY_LIST is refused at the nesting limit', () => {
    const bomb = Buffer.alloc(2 + 200_000);
    bomb.set([0x80, 0x02]);
    for (let i = 0; i < 100_000; i++) bomb.set([0x28, 0x5d], 2 + 2 * i);
    const e = expectPickleError(() => unpickle(bomb, 0, OPTIONS), 'unsafe', /more than 10000 nested MARKs/);
    assert.equal(e.offset, 2 + 2 * 10_000);
  });

  it('a list nested 100,000 deep without MARKs is built iteratively, without exhausting the JS stack', () => {
    const n = 100_000;
    const deep = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.alloc(n, 0x5d), Buffer.alloc(n - 1, 0x61), Buffer.from('.')]);
    const { value } = unpickle(deep, 0, OPTIONS);
    let depth = 0;
    for (let v = value; Array.isArray(v) && v.length > 0; v = v[0]) depth++;
    assert.equal(depth, n - 1);
  });

  it('memo, stack and total work are bounded by limits', () => {
    const memoBomb = bytes([0x80, 0x04, 0x4e], Buffer.alloc(100, 0x94), '.');
    expectPickleError(() => unpickle(memoBomb, 0, { ...OPTIONS, limits: { maxMemo: 50 } }), 'unsafe', /memo grows beyond 50 entries/);
    const stackBomb = bytes([0x80, 0x02], Buffer.alloc(100, 0x4e), '.');
    expectPickleError(() => unpickle(stackBomb, 0, { ...OPTIONS, limits: { maxStack: 50 } }), 'unsafe', /stack grows beyond 50 values/);
    // N0 (NONE, POP) forever: the stack stays empty, only the step count grows.
    const busy = bytes([0x80, 0x02], Buffer.from('N0'.repeat(5000)), '.');
    expectPickleError(() => unpickle(busy, 0, { ...OPTIONS, limits: { maxSteps: 1000 } }), 'unsafe', /more than 1000 steps/);
  });

  it('repeated calls of OrderedDict on one large list through the memo count as work', () => {
    // items = [(0, 0)] * 1000 memoized, then OrderedDict(items) called 1000 times: quadratic work.
    const head = bytes(
      [0x80, 0x02],
      'ccollections\nOrderedDict\nq',
      [0],
      ']q',
      [1],
      '(',
      Buffer.from('K\x00K\x00\x86'.repeat(1000), 'latin1'),
      'e0',
    );
    const calls = Buffer.from('h\x00h\x01\x85R0'.repeat(1000), 'latin1');
    const data = bytes(head, calls, 'N.');
    expectPickleError(() => unpickle(data, 0, { ...OPTIONS, limits: { maxSteps: 100_000 } }), 'unsafe', /steps of work/);
    assert.equal(unpickle(data, 0, OPTIONS).value, null, 'with the default limits the same pickle completes');
  });

  it('a persistent id whose loader fails with anything but a CheckpointError is corrupt, at its offset', () => {
    const pickle = bytes([0x80, 0x02], 'N', 'Q.');
    const options: UnpickleOptions = {
      ...OPTIONS,
      persistentLoad: () => {
        throw new TypeError('not a storage');
      },
    };
    const error = (() => {
      try {
        unpickle(pickle, 0, options);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(error instanceof CheckpointError, String(error));
    assert.equal(error.problem, 'corrupt');
    assert.match(error.message, /^test\.pkl: the pickle: a persistent id that cannot be read \(not a storage\)/);
    assert.equal(error.offset, 3);
  });

  it('describeValue keeps names of hostile nested keys short', () => {
    let deep: unknown = 'k';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.equal(describeValue(deep), '((((…))))');
    assert.equal(describeValue(['a', 1, null, new PyClass('m', 'C')]), '(a, 1, None, m.C)');
    assert.equal(describeValue('x'.repeat(500)).length, 80);
  });
});
