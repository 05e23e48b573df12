// The creators of new files (safetensors, .npz, torch.save zip): each file read back by the
// project's readers with identical bytes, and, where /usr/bin/python3 has numpy and torch, by
// numpy.load and torch.load themselves (CI has neither: those tests skip with a note).
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { numelOf } from '../../../src/core/checkpoint';
import { openCheckpoint } from '../../../src/core/formats/registry';
import { createNpz, npyHeader } from '../../../src/core/formats/numpy/create';
import type { NewTensor } from '../../../src/core/formats/shared/newTensors';
import { createStoredZip } from '../../../src/core/formats/shared/storedZip';
import { archiveNameOf, createTorchSave, statePickle } from '../../../src/core/formats/pytorch/create';
import { unpickle } from '../../../src/core/formats/pytorch/pickle/unpickler';
import { storageRefOf } from '../../../src/core/formats/pytorch/storageIds';
import { resolveTorchGlobal, TorchTensor } from '../../../src/core/formats/pytorch/torchGlobals';
import { readZipDirectory } from '../../../src/core/formats/shared/zip';
import { createSafetensors } from '../../../src/core/formats/safetensors/create';
import { withFile } from '../../../src/core/randomAccessFile';
import { readSpan } from '../../../src/core/tensorBytes';
import { makeTempDir } from '../../helpers/fixtures';

const PYTHON = '/usr/bin/python3';

/** Whether PYTHON imports every module named (checked once per set). */
const pythonHas = (() => {
  const known = new Map<string, boolean>();
  return (...modules: string[]): boolean => {
    const key = modules.join(',');
    if (!known.has(key)) {
      const ok = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', `import ${key}`], { encoding: 'utf8', timeout: 120_000 }).status === 0;
      known.set(key, ok);
    }
    return known.get(key)!;
  };
})();

/** Runs a Python script with `args` in sys.argv[1:], returning its stdout parsed as JSON. */
function python(script: string, ...args: string[]): unknown {
  const r = spawnSync(PYTHON, ['-c', script, ...args], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

function float32(values: readonly number[], shape: readonly number[], name: string): NewTensor {
  return { name, dtype: 'float32', shape, bytes: new Uint8Array(Float32Array.from(values).buffer) };
}

function uint8(values: readonly number[], shape: readonly number[], name: string): NewTensor {
  return { name, dtype: 'uint8', shape, bytes: Uint8Array.from(values) };
}

/** A float32 tensor of `shape` with distinct values (some negative, some zero). */
function ramp(name: string, shape: readonly number[]): NewTensor {
  const n = numelOf(shape);
  return float32(
    Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 0 : (i - n / 2) / 7)),
    shape,
    name,
  );
}

/** The tensors every creator is tried with: matrices, a conv kernel, a mask, a vector, a scalar, an empty one. */
const SAMPLE: readonly NewTensor[] = [
  ramp('fc1.weight', [4, 6]),
  uint8([1, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0], [4, 6], 'fc1.weight.mask'),
  ramp('conv.weight', [3, 2, 3, 3]),
  ramp('bias', [5]),
  float32([2.5], [], 'scalar'),
  float32([], [0, 4], 'empty'),
];

/** Each tensor of the file as the readers give it: dtype, shape and bytes. */
async function readBack(file: string): Promise<Map<string, { dtype: string; shape: readonly number[]; bytes: Uint8Array }>> {
  const checkpoint = await openCheckpoint(file);
  try {
    assert.deepEqual(checkpoint.skipped, [], 'nothing listed apart');
    const out = new Map<string, { dtype: string; shape: readonly number[]; bytes: Uint8Array }>();
    for (const t of checkpoint.tensors) {
      const length = numelOf(t.shape) * (t.dtype === 'float32' ? 4 : 1);
      out.set(t.name, { dtype: t.dtype, shape: t.shape, bytes: await readSpan(t.source, 0, length) });
    }
    return out;
  } finally {
    await checkpoint.release?.();
  }
}

async function assertRoundTrip(file: string, tensors: readonly NewTensor[]): Promise<void> {
  const back = await readBack(file);
  assert.deepEqual(
    [...back.keys()],
    tensors.map((t) => t.name),
    'the same names, in order',
  );
  for (const t of tensors) {
    const b = back.get(t.name)!;
    assert.equal(b.dtype, t.dtype, t.name);
    assert.deepEqual(b.shape, t.shape, t.name);
    assert.deepEqual(Buffer.from(b.bytes), Buffer.from(t.bytes), `${t.name}: identical bytes`);
  }
}

/** Python that prints {name: [dtype, shape, values as a flat list]} of what numpy.load / torch.load returns. */
const DUMP = `
import json, sys
def dump(items):
    print(json.dumps({k: [str(v.dtype), list(v.shape), [float(x) for x in v.reshape(-1).tolist()]] for k, v in items}))
`;

function expectedDump(tensors: readonly NewTensor[], torchNames = false): Record<string, [string, number[], number[]]> {
  return Object.fromEntries(
    tensors.map((t) => {
      const values = t.dtype === 'float32' ? Array.from(new Float32Array(t.bytes.slice().buffer)) : Array.from(t.bytes);
      const dtype = torchNames ? `torch.${t.dtype}` : t.dtype;
      return [t.name, [dtype, [...t.shape], values]];
    }),
  );
}

describe('create: new files from tensors in memory', function () {
  this.timeout(120_000);
  let tmp: ReturnType<typeof makeTempDir>;
  before(() => {
    tmp = makeTempDir();
  });
  after(() => tmp.remove());

  describe('createSafetensors', () => {
    it('reads back with the same names, dtypes, shapes and bytes, and the metadata given', async () => {
      const file = path.join(tmp.dir, 'sample.safetensors');
      await createSafetensors(file, SAMPLE, { note: 'hello' });
      await assertRoundTrip(file, SAMPLE);
      const checkpoint = await openCheckpoint(file);
      assert.equal(checkpoint.metadata.note, 'hello');
    });

    it('lays float32 data before uint8 data, so every tensor starts aligned to its element size', async () => {
      const file = path.join(tmp.dir, 'order.safetensors');
      const tensors = [uint8([1, 0, 1], [3], 'm'), float32([1, 2, 3], [3], 'w')];
      await createSafetensors(file, tensors);
      const bytes = readFileSync(file);
      const length = Number(bytes.readBigUInt64LE(0));
      const header = JSON.parse(bytes.subarray(8, 8 + length).toString()) as Record<string, { data_offsets: number[] }>;
      assert.equal(length % 8, 0, 'the header is padded to 8 bytes');
      assert.deepEqual(header.w.data_offsets, [0, 12]);
      assert.deepEqual(header.m.data_offsets, [12, 15]);
      assert.deepEqual(Object.keys(header), ['__metadata__', 'm', 'w'], 'the header lists the tensors in the order given');
    });

    it('refuses an existing file and a tensor whose bytes do not fit its shape', async () => {
      const file = path.join(tmp.dir, 'exists.safetensors');
      await createSafetensors(file, [float32([1], [1], 'a')]);
      await assert.rejects(createSafetensors(file, [float32([1], [1], 'a')]), /EEXIST/);
      await assert.rejects(createSafetensors(path.join(tmp.dir, 'bad.safetensors'), [float32([1, 2], [3], 'a')]), /brings 8 bytes/);
      await assert.rejects(
        createSafetensors(path.join(tmp.dir, 'twice.safetensors'), [float32([1], [1], 'a'), float32([1], [1], 'a')]),
        /two tensors to write are named "a"/,
      );
    });
  });

  describe('createNpz', () => {
    it('reads back with the same names, dtypes, shapes and bytes', async () => {
      const file = path.join(tmp.dir, 'sample.npz');
      await createNpz(file, SAMPLE);
      await assertRoundTrip(file, SAMPLE);
      const names = await withFile(file, async (f) => (await readZipDirectory(f)).map((e) => [e.name, e.method]));
      assert.deepEqual(
        names,
        SAMPLE.map((t) => [`${t.name}.npy`, 0]),
        'one stored <name>.npy member per tensor',
      );
    });

    it('npy headers: magic, version 1.0, the dict numpy writes, padded with spaces and a newline to 64 bytes', () => {
      const header = Buffer.from(npyHeader('float32', [4, 6]));
      assert.equal(header.length % 64, 0);
      assert.deepEqual([...header.subarray(0, 8)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
      assert.equal(header.readUInt16LE(8), header.length - 10);
      const text = header.subarray(10).toString('latin1');
      assert.match(text, /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(4, 6\), \} +\n$/);
      assert.match(Buffer.from(npyHeader('uint8', [7])).toString('latin1'), /'descr': '\|u1', 'fortran_order': False, 'shape': \(7,\), \}/);
      assert.match(Buffer.from(npyHeader('float32', [])).toString('latin1'), /'shape': \(\), \} *\n$/);
    });

    it('a zip64 archive (forced) reads back the same', async () => {
      const file = path.join(tmp.dir, 'zip64.npz');
      const tensors = SAMPLE.slice(0, 2);
      await createStoredZip(
        file,
        tensors.map((t) => ({ name: `${t.name}.npy`, parts: [npyHeader(t.dtype, t.shape), t.bytes] })),
        { zip64: 'always' },
      );
      await assertRoundTrip(file, tensors);
    });

    it('numpy.load gives back every array; the .npy members are byte for byte what numpy.save writes', async function () {
      if (!pythonHas('numpy')) return this.skip(); // no /usr/bin/python3 with numpy here (CI has none)
      const tensors = [...SAMPLE, ramp('µ/unicode.weight', [2, 3]), ramp('row', [1, 13]), uint8([1, 0], [2, 1], 'column')];
      const file = path.join(tmp.dir, 'numpy.npz');
      await createNpz(file, tensors);
      {
        const loaded = python(
          `${DUMP}
import numpy as np
with np.load(sys.argv[1]) as z:
    dump((k, z[k]) for k in z.files)`,
          file,
        );
        assert.deepEqual(loaded, expectedDump(tensors));
        const same = python(
          `
import io, json, sys, zipfile, numpy as np
out = {}
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in z.namelist():
        raw = z.read(name)
        a = np.load(io.BytesIO(raw))
        buf = io.BytesIO()
        np.save(buf, a)
        out[name] = buf.getvalue() == raw
print(json.dumps(out))`,
          file,
        );
        assert.deepEqual(same, Object.fromEntries(tensors.map((t) => [`${t.name}.npy`, true])));
      }
    });

    it('Python reads the forced zip64 archive too', async function () {
      if (!pythonHas('numpy')) return this.skip(); // no /usr/bin/python3 with numpy here (CI has none)
      const loaded = python(
        `${DUMP}
import numpy as np
with np.load(sys.argv[1]) as z:
    dump((k, z[k]) for k in z.files)`,
        path.join(tmp.dir, 'zip64.npz'),
      );
      assert.deepEqual(loaded, expectedDump(SAMPLE.slice(0, 2)));
    });
  });

  describe('createTorchSave', () => {
    it('reads back with the same names, dtypes, shapes and bytes; records under the file name, data 64-byte aligned', async () => {
      const file = path.join(tmp.dir, 'sample.pt');
      await createTorchSave(file, SAMPLE);
      await assertRoundTrip(file, SAMPLE);
      const entries = await withFile(file, (f) => readZipDirectory(f));
      assert.deepEqual(
        entries.map((e) => e.name),
        ['sample/data.pkl', 'sample/byteorder', ...SAMPLE.map((_, i) => `sample/data/${i}`), 'sample/version'],
      );
      for (const e of entries) assert.equal(e.dataOffset % 64, 0, `${e.name} starts at a multiple of 64`);
      assert.equal(archiveNameOf('/x/y/model.v2.pt'), 'model.v2');
    });

    it('more than 1000 tensors (SETITEMS batches) and sizes past 16 bits read back', async () => {
      const tensors = [...Array.from({ length: 1003 }, (_, i) => float32([i], [1], `t${i}`)), ramp('big', [300, 300])];
      const file = path.join(tmp.dir, 'many.pt');
      await createTorchSave(file, tensors);
      await assertRoundTrip(file, tensors);
    });

    it('sizes past 31 bits are pickled as LONG1 and unpickle as numbers', () => {
      const huge = { name: 'huge', dtype: 'uint8' as const, shape: [2 ** 33 + 5, 1], bytes: new Uint8Array(0) };
      const { value } = unpickle(statePickle([huge]), 0, {
        file: 'test',
        what: 'data.pkl',
        fileOffset: undefined,
        resolveGlobal: resolveTorchGlobal,
        persistentLoad: (pid) => storageRefOf(pid, 'test', 'data.pkl', false),
      });
      const tensor = (value as Map<string, TorchTensor>).get('huge')!;
      assert.deepEqual(tensor.size, [2 ** 33 + 5, 1]);
      assert.deepEqual(tensor.stride, [1, 1]);
      assert.equal((tensor.storage as { numel: number }).numel, 2 ** 33 + 5);
    });

    it('torch.load gives back the OrderedDict, with weights_only=True too', function () {
      if (!pythonHas('torch')) return this.skip(); // no /usr/bin/python3 with torch here (CI has none)
      const file = path.join(tmp.dir, 'sample.pt');
      for (const weightsOnly of ['False', 'True']) {
        const loaded = python(
          `${DUMP}
import collections, inspect, torch
kw = {'weights_only': ${weightsOnly}} if 'weights_only' in inspect.signature(torch.load).parameters else {}
if ${weightsOnly} and not kw:
    print(json.dumps(None)); sys.exit(0)
sd = torch.load(sys.argv[1], **kw)
assert type(sd) is collections.OrderedDict, type(sd)
for t in sd.values():
    assert t.is_contiguous() and t.storage_offset() == 0
dump(sd.items())`,
          file,
        );
        if (loaded === null) continue; // this torch has no weights_only
        assert.deepEqual(loaded, expectedDump(SAMPLE, true), `weights_only=${weightsOnly}`);
      }
    });
  });
});
