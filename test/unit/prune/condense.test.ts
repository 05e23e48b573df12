import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { numelOf, type Checkpoint, type TensorEntry } from '../../../src/core/checkpoint';
import { CheckpointError } from '../../../src/core/errors';
import { openCheckpoint } from '../../../src/core/formats/registry';
import { CONDENSED_KEY } from '../../../src/core/formats/safetensors/condensed';
import type { CondenseResult } from '../../../src/core/prune/condense';
import { PruneError } from '../../../src/core/prune/pruneSelection';
import { storageNote } from '../../../src/core/storedTensor';
import { tensorChunks } from '../../../src/core/tensorBytes';
import type { CondensedLayer } from '../../../src/kernels/condensedKernels';
import { createKernels } from '../../../src/kernels/createKernels';
import type { Kernels } from '../../../src/kernels/kernels';
import { fixture, makeTempDir, REPO, runCli } from '../../helpers/fixtures';
import { readDigitsTestSet, SHARED_DATA } from '../../helpers/onnxAccuracy';
import { seededRandom } from '../../helpers/random';
import { safetensorsOf } from '../../helpers/writers';

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

interface RawTensor {
  readonly dtype: string;
  readonly shape: number[];
  /** A copy, so typed arrays can view it aligned. */
  readonly bytes: Buffer;
}

/** A safetensors file read by hand (not with the project's reader): its metadata and its tensors as stored. */
function parseSafetensors(file: string): { metadata: Record<string, string>; keys: string[]; tensors: Map<string, RawTensor> } {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const tensors = new Map<string, RawTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const {
      dtype,
      shape,
      data_offsets: [a, b],
    } = info as { dtype: string; shape: number[]; data_offsets: [number, number] };
    tensors.set(name, { dtype, shape, bytes: Buffer.from(new Uint8Array(bytes.subarray(8 + n + a, 8 + n + b)).buffer) });
  }
  return { metadata: (header.__metadata__ ?? {}) as Record<string, string>, keys: Object.keys(header), tensors };
}

const u32 = (b: Buffer) => new Uint32Array(b.buffer, b.byteOffset, b.length / 4);
const f32 = (b: Buffer) => new Float32Array(b.buffer, b.byteOffset, b.length / 4);
const i32 = (b: Buffer) => new Int32Array(b.buffer, b.byteOffset, b.length / 4);
const i16 = (b: Buffer) => new Int16Array(b.buffer, b.byteOffset, b.length / 2);

/** A tensor's analysed bytes, read with the project's streaming reader. */
async function analysedBytes(t: TensorEntry): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of tensorChunks(t.source, t.dtype, numelOf(t.shape))) parts.push(Buffer.from(c.bytes));
  return Buffer.from(new Uint8Array(Buffer.concat(parts)).buffer); // its own ArrayBuffer, for typed-array views
}

/** A safetensors file of tensors given as raw bytes, in order (for layouts safetensorsOf cannot write). */
function rawSafetensors(
  entries: readonly { name: string; dtype: string; shape: number[]; bytes: Uint8Array }[],
  metadata: Record<string, string>,
) {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const e of entries) {
    header[e.name] = { dtype: e.dtype, shape: e.shape, data_offsets: [offset, offset + e.bytes.length] };
    offset += e.bytes.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const padded = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(padded.length));
  return Buffer.concat([length, padded, ...entries.map((e) => Buffer.from(e.bytes))]);
}

const bytesOf = (a: Float32Array | Int16Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** The condensed layout computed here from a dense float32 [out, D] weight: non-zeros by bit pattern (±0 is zero), ascending columns. */
function condensedByHand(weight: Buffer, out: number, fanIn: number): { active: number[]; values: number[]; indices: number[] } {
  const bits = u32(weight);
  const active: number[] = [];
  const values: number[] = [];
  const indices: number[] = [];
  for (let r = 0; r < out; r++) {
    const cols = [...Array(fanIn).keys()].filter((c) => (bits[r * fanIn + c] & 0x7fffffff) !== 0);
    if (cols.length === 0) continue;
    active.push(r);
    for (const c of cols) {
      values.push(bits[r * fanIn + c]);
      indices.push(c);
    }
  }
  return { active, values, indices };
}

/** Reads a condensed layer's parts from the written file (by hand) into the kernels' form, float32. */
function condensedLayerOf(file: ReturnType<typeof parseSafetensors>, name: string): CondensedLayer {
  const manifest = JSON.parse(file.metadata[CONDENSED_KEY]);
  const layer = manifest.layers[name];
  const [values, indices, active] = ['values', 'indices', 'active_rows'].map((p) => file.tensors.get(`${name}.${p}`)!);
  assert.equal(values.dtype, 'F32');
  return {
    outFeatures: layer.shape[0],
    inFeatures: layer.denseFanIn,
    k: layer.k,
    activeRows: Int32Array.from(i32(active.bytes)),
    values: Float32Array.from(f32(values.bytes)),
    indices: Int32Array.from(indices.dtype === 'I16' ? i16(indices.bytes) : i32(indices.bytes)),
  };
}

const LAYERS = [
  ['fc1', 256, 64],
  ['fc2', 128, 256],
  ['fc3', 10, 128],
] as const;

describe('condense', function () {
  this.timeout(120_000);
  let temp: ReturnType<typeof makeTempDir>;
  let kernels: Kernels;
  const files: Record<string, string> = {};
  const cli = (args: string[]) => {
    const r = runCli(args);
    assert.equal(r.code, 0, `sparsity-lens ${args.join(' ')}: ${r.stderr}`);
    return r;
  };

  before(() => {
    temp = makeTempDir();
    kernels = createKernels({ backend: 'native', root: REPO });
    const at = (name: string) => path.join(temp.dir, name);
    Object.assign(files, {
      fanIn: at('fanin90.safetensors'),
      nm: at('2of4.safetensors'),
      onnx: at('fanin90.onnx'),
      fanInCondensed: at('fanin90.condensed.safetensors'),
      nmCondensed: at('2of4.condensed.safetensors'),
      onnxCondensed: at('onnx.condensed.safetensors'),
    });
    cli(['prune', fixture('digits_mlp.safetensors'), '--fan-in', '--sparsity', '0.9', '-o', files.fanIn]);
    cli(['prune', fixture('digits_mlp.safetensors'), '--nm', '2:4', '-o', files.nm]);
    cli(['prune', fixture('digits_mlp.onnx'), '--fan-in', '--sparsity', '0.9', '-o', files.onnx]);
    cli(['condense', files.fanIn, '-o', files.fanInCondensed]);
    cli(['condense', files.nm, '-o', files.nmCondensed]);
    cli(['condense', files.onnx, '-o', files.onnxCondensed]);
  });
  after(async () => {
    await kernels?.dispose();
    temp?.remove();
  });

  it('fc1 at ERK 0.9: values, int16 indices and active rows as computed here from the pruned weight; the manifest; other tensors as they were', () => {
    const input = parseSafetensors(files.fanIn);
    const out = parseSafetensors(files.fanInCondensed);
    const dense = input.tensors.get('fc1.weight')!;
    const expected = condensedByHand(dense.bytes, 256, 64);
    assert.equal(expected.values.length, 256 * 7, 'every row of the pruned fc1 keeps 7 weights');
    const [values, indices, active] = ['values', 'indices', 'active_rows'].map((p) => out.tensors.get(`fc1.weight.${p}`)!);
    assert.deepEqual([values.dtype, values.shape], ['F32', [256, 7]]);
    assert.deepEqual([indices.dtype, indices.shape], ['I16', [256, 7]]);
    assert.deepEqual([active.dtype, active.shape], ['I32', [256]]);
    assert.deepEqual([...u32(values.bytes)], expected.values, 'values bit for bit, ascending column order');
    assert.deepEqual([...i16(indices.bytes)], expected.indices);
    assert.deepEqual([...i32(active.bytes)], expected.active);
    assert.equal(out.tensors.has('fc1.weight'), false, 'the dense weight is not stored');

    const manifest = JSON.parse(out.metadata[CONDENSED_KEY]);
    assert.deepEqual(manifest, {
      version: 1,
      layers: {
        'fc1.weight': { shape: [256, 64], dtype: 'F32', k: 7, denseFanIn: 64, removedRows: [] },
        'fc2.weight': { shape: [128, 256], dtype: 'F32', k: 17, denseFanIn: 256, removedRows: [] },
        'fc3.weight': { shape: [10, 128], dtype: 'F32', k: 82, denseFanIn: 128, removedRows: [] },
      },
    });
    assert.equal(out.metadata['sparsity_lens.input_sha256'], sha256(files.fanIn));
    assert.equal(out.metadata['sparsity_lens.version'], JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')).version);
    for (const [k, v] of Object.entries(input.metadata).filter(([k]) => !k.startsWith('sparsity_lens.'))) assert.equal(out.metadata[k], v);
    assert.deepEqual(
      out.keys,
      [
        '__metadata__',
        ...['fc1', 'fc2', 'fc3'].flatMap((l) => [`${l}.weight.values`, `${l}.weight.indices`, `${l}.weight.active_rows`, `${l}.bias`]),
      ],
      'the input order, each layer as its three parts',
    );
    for (const bias of ['fc1.bias', 'fc2.bias', 'fc3.bias']) {
      assert.deepEqual(out.tensors.get(bias)!.shape, input.tensors.get(bias)!.shape);
      assert.ok(out.tensors.get(bias)!.bytes.equals(input.tensors.get(bias)!.bytes), `${bias} byte-identical`);
    }
    assert.equal((8 + Number(readFileSync(files.fanInCondensed).readBigUInt64LE(0))) % 8, 0, 'the header is padded to 8 bytes');
  });

  it('2:4 is constant fan-in k = in / 2; an ONNX input is condensed from its Gemm weights the same way', () => {
    const nm = JSON.parse(parseSafetensors(files.nmCondensed).metadata[CONDENSED_KEY]);
    assert.deepEqual(
      Object.entries(nm.layers).map(([name, l]) => [name, (l as { k: number }).k]),
      LAYERS.map(([n, , inF]) => [`${n}.weight`, inF / 2]),
    );
    const onnx = parseSafetensors(files.onnxCondensed);
    const manifest = JSON.parse(onnx.metadata[CONDENSED_KEY]);
    assert.deepEqual(
      Object.entries(manifest.layers).map(([name, l]) => [name, (l as { k: number }).k]),
      [
        ['fc1.weight', 7],
        ['fc2.weight', 17],
        ['fc3.weight', 82],
      ],
    );
    assert.equal(onnx.metadata['sparsity_lens.input_sha256'], sha256(files.onnx));
  });

  for (const which of ['fanIn', 'nm', 'onnx'] as const) {
    it(`a forward pass through each condensed layer equals the dense one within 1e-5 (${which})`, async () => {
      const out = parseSafetensors(files[`${which}Condensed`]);
      const input = await openCheckpoint(files[which]);
      const denseOf = async (name: string) => Float32Array.from(f32(await analysedBytes(input.tensors.find((t) => t.name === name)!)));
      const batch = 5;
      let x: Float32Array;
      if (existsSync(path.join(SHARED_DATA, 'digits.npz'))) x = (await readDigitsTestSet()).x.slice(0, batch * 64);
      else {
        const random = seededRandom(7);
        x = Float32Array.from({ length: batch * 64 }, () => random());
      }
      for (const [name, outF, inF] of LAYERS) {
        const layer = condensedLayerOf(out, `${name}.weight`);
        const bias = Float32Array.from(f32(out.tensors.get(`${name}.bias`)!.bytes));
        const condensed = await kernels.condensedForward(layer, bias, x, batch);
        const dense = await kernels.denseForward(await denseOf(`${name}.weight`), bias, outF, inF, x, batch);
        assert.equal(condensed.length, batch * outF);
        const scale = Math.max(...dense.map(Math.abs));
        for (let i = 0; i < dense.length; i++)
          assert.ok(Math.abs(condensed[i] - dense[i]) <= 1e-5 * scale, `${name} output ${i}: ${condensed[i]} vs ${dense[i]}`);
        x = dense.map((v) => Math.max(0, v)); // ReLU: the next layer's input
      }
    });
  }

  it('report reads the condensed file back: fc1.weight [256, 64], constant fan-in 7, the pruned input nnz', () => {
    const before = JSON.parse(cli(['report', files.fanIn, '--json']).stdout);
    const after = JSON.parse(cli(['report', files.fanInCondensed, '--json']).stdout);
    const fc1 = after.layers.find((l: { name: string }) => l.name === 'fc1.weight');
    assert.deepEqual(fc1.shape, [256, 64]);
    assert.equal(fc1.role, 'linear');
    assert.equal(fc1.fanIn.constant, true);
    assert.equal(fc1.fanIn.k, 7);
    assert.equal(fc1.nnz, 256 * 7);
    assert.equal(fc1.note, 'condensed: k = 7 per active row, expanded');
    assert.equal(fc1.condensed, true);
    // The pruned input stores fc1's zeros densely; the condensed file does not.
    const storedDensely = (report: { problems: { layer: string; code: string }[] }) =>
      report.problems.filter((p) => p.layer === 'fc1.weight' && p.code === 'zeros-stored-densely').length;
    assert.equal(storedDensely(before), 1);
    assert.equal(storedDensely(after), 0);
    assert.deepEqual(
      after.layers.map((l: { name: string; nnz: number; shape: number[] }) => [l.name, l.shape, l.nnz]),
      before.layers.map((l: { name: string; nnz: number; shape: number[] }) => [l.name, l.shape, l.nnz]),
      'the same tensors, shapes and non-zeros as the pruned input',
    );
  });

  it('read back, each condensed layer is the input weight with +0.0 for its zeros (signs of zeros dropped); others identical', async () => {
    for (const which of ['fanIn', 'nm', 'onnx'] as const) {
      const [a, b] = [await openCheckpoint(files[which]), await openCheckpoint(files[`${which}Condensed`])];
      assert.deepEqual(
        b.tensors.map((t) => [t.name, t.dtype, t.shape, t.role, t.layout]),
        a.tensors.map((t) => [t.name, t.dtype, t.shape, t.role, t.layout]),
      );
      assert.deepEqual(b.skipped, [], 'the parts are read as their layers, not listed apart');
      let negativeZeros = 0;
      for (const t of a.tensors) {
        const [x, y] = [await analysedBytes(t), await analysedBytes(b.tensors.find((u) => u.name === t.name)!)];
        if (!t.name.endsWith('.weight')) {
          assert.ok(x.equals(y), `${t.name} is unchanged`);
          continue;
        }
        const [xb, yb] = [u32(x), u32(y)];
        for (let i = 0; i < xb.length; i++) {
          if ((xb[i] & 0x7fffffff) === 0) {
            negativeZeros += xb[i] === 0x80000000 ? 1 : 0;
            assert.equal(yb[i], 0, `${t.name}[${i}] is +0.0`);
          } else assert.equal(yb[i], xb[i], `${t.name}[${i}] kept bit for bit`);
        }
      }
      if (which === 'nm') assert.ok(negativeZeros > 0, 'the 2:4 input had -0.0 to drop the sign of');
    }
  });

  it('rows that are all zero are removed, conv weights are condensed over in·kh·kw, [in, out] and non-constant weights stay dense with the reason', async () => {
    // conv [4, 2, 3, 3]: D = 18, row 1 all zero (one -0.0), the others 5 non-zeros (one -0.0 beside them).
    const conv = new Float32Array(4 * 18);
    const random = seededRandom(3);
    for (const r of [0, 2, 3]) for (const c of [0, 4, 9, 13, 17].map((c) => (c + r) % 18)) conv[r * 18 + c] = random() - 0.5 || 0.25;
    conv[1 * 18 + 5] = -0;
    conv[0 * 18 + 2] = -0;
    const ragged = Float32Array.from([1, 0, 2, 3, 0, 0, 0, 4]); // [2, 4]: fan-in 3 and 1
    const gpt2 = Float32Array.from([1, 0, 0, 1, 2, 0]); // [3, 2] stored [in, out]
    const input = temp.write(
      'hand.safetensors',
      rawSafetensors(
        [
          { name: 'features.0.weight', dtype: 'F32', shape: [4, 2, 3, 3], bytes: bytesOf(conv) },
          { name: 'features.0.bias', dtype: 'F32', shape: [4], bytes: bytesOf(Float32Array.from([1, 2, 3, 4])) },
          { name: 'ragged.weight', dtype: 'F32', shape: [2, 4], bytes: bytesOf(ragged) },
          { name: 'h.0.mlp.c_fc.weight', dtype: 'F32', shape: [3, 2], bytes: bytesOf(gpt2) },
        ],
        { note: 'kept' },
      ),
    );
    const output = path.join(temp.dir, 'hand.condensed.safetensors');
    const result: CondenseResult = await kernels.condenseFile({ file: input, roles: [], output, force: false, toolVersion: 'test' });
    assert.deepEqual(result.written, [output]);
    assert.equal(result.zeros, 'unsigned');
    assert.deepEqual(
      result.layers.map((l) => [l.name, l.k, l.denseFanIn, l.activeRows, l.removedRows, l.indexDtype]),
      [['features.0.weight', 5, 18, 3, 1, 'int16']],
    );
    assert.deepEqual(result.skipped, [
      { name: 'ragged.weight', reason: 'not constant fan-in: its non-zero rows hold from 1 to 3 weights' },
      {
        name: 'h.0.mlp.c_fc.weight',
        reason: 'its outputs are on axis 1 ([in, out] storage): only weights stored [out, …] are condensed',
      },
    ]);
    const file = parseSafetensors(output);
    assert.equal(file.metadata.note, 'kept');
    assert.deepEqual(JSON.parse(file.metadata[CONDENSED_KEY]).layers['features.0.weight'], {
      shape: [4, 2, 3, 3],
      dtype: 'F32',
      k: 5,
      denseFanIn: 18,
      removedRows: [1],
    });
    assert.deepEqual([...i32(file.tensors.get('features.0.weight.active_rows')!.bytes)], [0, 2, 3]);
    assert.deepEqual([...i16(file.tensors.get('features.0.weight.indices')!.bytes)].slice(0, 5), [0, 4, 9, 13, 17]);
    for (const name of ['ragged.weight', 'h.0.mlp.c_fc.weight', 'features.0.bias'])
      assert.ok(file.tensors.has(name), `${name} is stored as it was`);
    const back = await openCheckpoint(output);
    const t = back.tensors.find((x) => x.name === 'features.0.weight')!;
    assert.deepEqual([t.role, t.layout, t.shape], ['conv', { outAxis: 0, inAxis: 1 }, [4, 2, 3, 3]]);
    assert.equal(storageNote(t.stored), 'condensed: k = 5 per active row, expanded');
    const expected = Float32Array.from(conv, (v) => (v === 0 ? 0 : v)); // -0.0 → +0.0
    assert.deepEqual([...u32(await analysedBytes(t))], [...new Uint32Array(expected.buffer)]);
    const report = await kernels.analyseFile({ file: output, roles: [], nm: { n: 2, m: 4 }, zeroThreshold: 0 });
    const fanIn = report.report.layers.find((l) => l.name === 'features.0.weight')!.fanIn!;
    assert.deepEqual([fanIn.constant, fanIn.k, fanIn.zeroNeurons], [true, 5, 1]);

    // Condensing the condensed file again gives the same parts.
    const again = path.join(temp.dir, 'again.safetensors');
    await kernels.condenseFile({ file: output, roles: [], output: again, force: false, toolVersion: 'test' });
    const twice = parseSafetensors(again);
    for (const [name, t] of file.tensors) assert.ok(twice.tensors.get(name)!.bytes.equals(t.bytes), `${name} the same`);
  });

  it('a layer past 16 MiB dense expands into the scratch file; a dense fan-in over 32,767 takes int32 indices', async () => {
    const [out, fanIn, k] = [160, 40_000, 9];
    const weight = new Float32Array(out * fanIn);
    const random = seededRandom(11);
    for (let r = 0; r < out; r++) {
      if (r % 7 === 3) continue; // removed rows
      for (let j = 0; j < k; j++) weight[r * fanIn + j * 4000 + Math.floor(random() * 4000)] = random() + 0.5;
    }
    const input = temp.write(
      'big.safetensors',
      rawSafetensors([{ name: 'big.weight', dtype: 'F32', shape: [out, fanIn], bytes: bytesOf(weight) }], {}),
    );
    const output = path.join(temp.dir, 'big.condensed.safetensors');
    const result = await kernels.condenseFile({ file: input, roles: [], output, force: false, toolVersion: 'test' });
    assert.deepEqual(
      result.layers.map((l) => [l.k, l.activeRows, l.removedRows, l.indexDtype]),
      [[k, out - 23, 23, 'int32']],
    );
    const file = parseSafetensors(output);
    assert.equal(file.tensors.get('big.weight.indices')!.dtype, 'I32');
    const back = await openCheckpoint(output);
    try {
      const t = back.tensors[0];
      assert.equal(t.source.kind, 'file', 'expanded into the scratch file, not memory');
      assert.ok((await analysedBytes(t)).equals(Buffer.from(bytesOf(weight))));
    } finally {
      await back.release?.();
    }
  });

  for (const phase of ['scanning', 'writing', 'verifying'] as const) {
    it(`a cancel while ${phase} leaves no output and nothing staged`, async () => {
      const reference = createKernels({ backend: 'reference', root: REPO });
      const folder = makeTempDir();
      try {
        const output = path.join(folder.dir, 'out.safetensors');
        const controller = new AbortController();
        await assert.rejects(
          reference.condenseFile(
            { file: files.fanIn, roles: [], output, force: false, toolVersion: 'test' },
            { signal: controller.signal, onProgress: (p) => p.phase === phase && controller.abort() },
          ),
          (e: Error) => e.name === 'AbortError',
        );
        assert.deepEqual(readdirSync(folder.dir), []);
      } finally {
        folder.remove();
        await reference.dispose();
      }
    });
  }

  it('refuses an existing output without --force, an output not .safetensors, and a file with nothing to condense', () => {
    const existing = path.join(temp.dir, 'exists.safetensors');
    writeFileSync(existing, 'keep me');
    let r = runCli(['condense', files.fanIn, '-o', existing]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /exists; pass --force/);
    assert.equal(readFileSync(existing, 'utf8'), 'keep me');
    r = runCli(['condense', files.fanIn, '-o', existing, '--force', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).written, [existing]);

    r = runCli(['condense', files.fanIn, '-o', path.join(temp.dir, 'out.onnx')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /must end in \.safetensors/);
    r = runCli(['condense', files.fanIn]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /needs an output file/);
    r = runCli(['condense', fixture('digits_mlp.safetensors'), '-o', path.join(temp.dir, 'dense.safetensors')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /nothing to condense/);
    assert.equal(existsSync(path.join(temp.dir, 'out.onnx')) || existsSync(path.join(temp.dir, 'dense.safetensors')), false);
    assert.deepEqual(
      readdirSync(temp.dir).filter((f) => f.startsWith('.sparsity-lens-')),
      [],
      'nothing staged is left',
    );
  });

  it('refuses in the core with a PruneError too (the kernels call)', async () => {
    await assert.rejects(
      kernels.condenseFile({ file: files.fanIn, roles: [], output: path.join(temp.dir, 'x.pt'), force: false, toolVersion: 'test' }),
      (e: Error) => e instanceof PruneError && /\.safetensors/.test(e.message),
    );
  });

  describe('a manifest that does not match its parts is a corrupt file naming the layer', () => {
    // w [3, 4] condensed at k = 2, row 1 removed.
    const good = () => ({
      values: Float32Array.from([1, 2, 3, 4]),
      indices: Int16Array.from([0, 3, 1, 2]),
      active: Int32Array.from([0, 2]),
      layer: { shape: [3, 4], dtype: 'F32', k: 2, denseFanIn: 4, removedRows: [1] } as Record<string, unknown>,
    });
    const write = (name: string, parts: ReturnType<typeof good>, manifest?: string) =>
      temp.write(
        name,
        rawSafetensors(
          [
            { name: 'w.values', dtype: 'F32', shape: [2, 2], bytes: bytesOf(parts.values) },
            { name: 'w.indices', dtype: 'I16', shape: [2, 2], bytes: bytesOf(parts.indices) },
            { name: 'w.active_rows', dtype: 'I32', shape: [2], bytes: bytesOf(parts.active) },
          ],
          { [CONDENSED_KEY]: manifest ?? JSON.stringify({ version: 1, layers: { w: parts.layer } }) },
        ),
      );
    const corrupt = async (file: string, detail: RegExp) =>
      assert.rejects(openCheckpoint(file), (e: Error) => {
        assert.ok(e instanceof CheckpointError, String(e));
        assert.equal(e.problem, 'corrupt');
        assert.match(e.message, detail);
        return true;
      });

    it('a well-formed one reads back as the dense weight', async () => {
      const checkpoint: Checkpoint = await openCheckpoint(write('good.safetensors', good()));
      assert.deepEqual(
        checkpoint.tensors.map((t) => [t.name, t.shape, t.role]),
        [['w', [3, 4], 'other']],
      );
      assert.deepEqual([...f32(await analysedBytes(checkpoint.tensors[0]))], [1, 0, 0, 2, 0, 0, 0, 0, 0, 3, 4, 0]);
    });

    const cases: [string, (p: ReturnType<typeof good>) => void, RegExp][] = [
      ['an index out of range', (p) => (p.indices[1] = 4), /condensed layer "w": row 0 has column index 4, out of range/],
      ['indices not ascending', (p) => p.indices.set([2, 1], 2), /condensed layer "w": the column indices of row 2 are not ascending/],
      ['active rows not ascending', (p) => p.active.set([2, 0]), /condensed layer "w": "active_rows" is not ascending/],
      ['an active row out of range', (p) => (p.active[1] = 3), /condensed layer "w": active row 3 is out of range/],
      [
        'removed rows that are active',
        (p) => (p.layer.removedRows = [2]),
        /condensed layer "w": row 1 is neither active nor in "removedRows"/,
      ],
      ['k past the dense fan-in', (p) => (p.layer.k = 5), /condensed layer "w": "k" is 5/],
      [
        'a shape that disagrees with the parts',
        (p) => (p.layer.k = 3),
        /condensed layer "w": "w.values" is float32 \[2, 2\], not float32 \[2, 3\]/,
      ],
      ['a wrong dense fan-in', (p) => (p.layer.denseFanIn = 5), /condensed layer "w": "denseFanIn" is 5/],
      ['an unknown dtype', (p) => (p.layer.dtype = 'float32'), /condensed layer "w": "dtype" "float32" is not a safetensors dtype/],
    ];
    for (const [what, spoil, detail] of cases) {
      it(what, async () => {
        const parts = good();
        spoil(parts);
        await corrupt(write(`${what.replace(/\W+/g, '-')}.safetensors`, parts), detail);
      });
    }

    it('bad JSON, a missing part or float32 indices (safetensorsOf); the CLI says so with exit 2', async () => {
      const layer = JSON.stringify({ version: 1, layers: { w: { shape: [2, 4], dtype: 'F32', k: 2, denseFanIn: 4, removedRows: [] } } });
      const parts = (names: string[]) => new Map(names.map((n) => [n, [1, 2, 3, 4]]));
      const floatIndices = temp.write(
        'f32.safetensors',
        safetensorsOf(parts(['w.values', 'w.indices', 'w.active_rows']), [2, 2], { [CONDENSED_KEY]: layer }),
      );
      await corrupt(floatIndices, /condensed layer "w": "w.indices" is float32 \[2, 2\], not int16 or int32 \[2, 2\]/);
      const missing = temp.write(
        'missing.safetensors',
        safetensorsOf(parts(['w.values', 'w.indices']), [2, 2], { [CONDENSED_KEY]: layer }),
      );
      await corrupt(missing, /condensed layer "w": its part "w.active_rows" is missing/);
      const badJson = temp.write('json.safetensors', safetensorsOf(parts(['w.values']), [2, 2], { [CONDENSED_KEY]: '{"version": 1,' }));
      await corrupt(badJson, /sparsity_lens.condensed"\] is not valid JSON/);
      const r = runCli(['report', missing]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /condensed layer "w": its part "w.active_rows" is missing/);
    });
  });

  it('a weight of the condensed file cannot be pruned in place: it is stored condensed', () => {
    const r = runCli(['prune', files.fanInCondensed, '-o', path.join(temp.dir, 'pruned-again.safetensors')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /is stored condensed/);
  });
});
