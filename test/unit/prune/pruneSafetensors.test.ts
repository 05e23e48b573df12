import { WriteError } from '../../../src/core/outputFiles';
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { planCheckpoint, planRequestOf } from '../../../src/core/analysis/checkpointPlan';
import { openCheckpoint } from '../../../src/core/formats/registry';
import { DEFAULT_NM, type NmPattern } from '../../../src/core/nmPattern';
import type { PruneOptions, PruneResult } from '../../../src/core/prune/pruneCheckpoint';
import { PruneError, selectFanIn, selectNm, type PruneSelection } from '../../../src/core/prune/pruneSelection';
import { readSpan } from '../../../src/core/tensorBytes';
import { numelOf } from '../../../src/core/checkpoint';
import { DTYPE_BITS } from '../../../src/core/dtype';
import { createKernels } from '../../../src/kernels/createKernels';
import type { Kernels } from '../../../src/kernels/kernels';
import { BACKENDS, fixture, makeTempDir, REPO } from '../../helpers/fixtures';

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** A safetensors file's header JSON and its data section. */
function safetensorsParts(file: string): {
  header: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }> & { __metadata__?: Record<string, string> };
  keys: string[];
  data: Buffer;
} {
  const bytes = readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const text = bytes.subarray(8, 8 + n).toString('utf8');
  const header = JSON.parse(text);
  const keys = [...text.matchAll(/"((?:[^"\\]|\\.)*)":\s*\{/g)].map((m) => JSON.parse(`"${m[1]}"`) as string).filter((k) => k in header);
  return { header, keys, data: bytes.subarray(8 + n) };
}

/** Analyses `file`, selects its layers with `select` and prunes them to `output`. */
export async function pruneWith(
  kernels: Kernels,
  file: string,
  output: string,
  select: (analysis: Awaited<ReturnType<Kernels['analyseFile']>>) => PruneSelection,
  options: PruneOptions & { force?: boolean; nm?: NmPattern } = {},
): Promise<PruneResult> {
  const analysis = await kernels.analyseFile({ file, roles: [], nm: options.nm ?? DEFAULT_NM, zeroThreshold: 0 });
  const selection = select(analysis);
  return kernels.pruneFile(
    { file, roles: [], output, force: options.force ?? false, ...selection, method: 'test', toolVersion: '0.0.0-test' },
    options,
  );
}

const all = { include: [], exclude: [] };

describe('prune: safetensors', () => {
  let temp: ReturnType<typeof makeTempDir>;
  beforeEach(() => (temp = makeTempDir()));
  afterEach(() => temp.remove());

  for (const backend of BACKENDS) {
    it(`2:4 of the digits MLP is NVIDIA ASP's digits_mlp_24, byte for byte in the data (${backend})`, async () => {
      const kernels = createKernels({ backend, root: REPO });
      try {
        const input = fixture('digits_mlp.safetensors');
        const before = sha256(input);
        const output = path.join(temp.dir, 'digits.pruned-2of4.safetensors');
        const result = await pruneWith(kernels, input, output, (a) => selectNm(a, DEFAULT_NM, false, all));
        assert.deepEqual(result.written, [output]);
        assert.equal(sha256(input), before, 'the input is untouched');
        const [out, asp, dense] = [output, fixture('digits_mlp_24.safetensors'), input].map(safetensorsParts);
        assert.ok(out.data.equals(asp.data), 'same non-zero pattern, kept values bit-identical, -0.0 where ASP left it');
        assert.deepEqual(out.keys, dense.keys, 'same tensor order');
        for (const k of dense.keys) if (k !== '__metadata__') assert.deepEqual(out.header[k], dense.header[k]);
        const meta = out.header.__metadata__!;
        for (const [k, v] of Object.entries(dense.header.__metadata__!)) assert.equal(meta[k], v, `metadata ${k} kept`);
        assert.equal(meta['sparsity_lens.input_sha256'], before);
        assert.equal(meta['sparsity_lens.version'], '0.0.0-test');
        assert.deepEqual(JSON.parse(meta['sparsity_lens.pruned']), { 'fc1.weight': '2:4', 'fc2.weight': '2:4', 'fc3.weight': '2:4' });
        assert.equal((8 + Number(readFileSync(output).readBigUInt64LE(0))) % 8, 0, 'the header is padded to 8 bytes');
        assert.deepEqual(
          result.layers.map((l) => [l.name, l.nnzBefore, l.nnzAfter]),
          [
            ['fc1.weight', 16384, 8192],
            ['fc2.weight', 32768, 16384],
            ['fc3.weight', 1280, 640],
          ],
        );
        assert.equal(result.removed, 25216);
        assert.deepEqual(readdirSync(temp.dir), ['digits.pruned-2of4.safetensors'], 'nothing staged is left');
      } finally {
        await kernels.dispose();
      }
    });
  }

  it('constant fan-in at the ERK 0.9 plan: every neuron keeps its k largest |w|, the last layer included', async () => {
    const kernels = createKernels({ backend: 'native', root: REPO });
    try {
      const input = fixture('digits_mlp.safetensors');
      const output = path.join(temp.dir, 'digits.fanin90.safetensors');
      const plan = planRequestOf({ sparsity: '0.9', distribution: 'erk' });
      const result = await pruneWith(kernels, input, output, (a) => selectFanIn(a, planCheckpoint(a, plan), all));
      // ERK by hand (spec §1.2): raw = (in + out) / (in · out); ε = int-free budget 0.1 · 50,432 / Σ raw · numel
      // = 5,043.2 / 842 = 5.98955; densities 0.11698, 0.07020, 0.64575; k = int(numel · d) // out = 1916 // 256,
      // 2300 // 128, 826 // 10.
      assert.deepEqual(
        result.layers.map((l) => [l.name, l.rule, l.nnzAfter]),
        [
          ['fc1.weight', 'constant fan-in k=7', 256 * 7],
          ['fc2.weight', 'constant fan-in k=17', 128 * 17],
          ['fc3.weight', 'constant fan-in k=82', 10 * 82],
        ],
      );
      const report = await kernels.analyseFile({ file: output, roles: [], nm: DEFAULT_NM, zeroThreshold: 0 });
      for (const l of report.report.layers.filter((x) => x.role === 'linear'))
        assert.equal(l.fanIn!.constant, true, `${l.name} has constant fan-in`);
    } finally {
      await kernels.dispose();
    }
  });

  it('a shard set is written shard by shard with its index; untouched tensors and the index metadata stay', async () => {
    const kernels = createKernels({ backend: 'native', root: REPO });
    try {
      const input = fixture('shards', 'sharded', 'model.safetensors.index.json');
      const output = path.join(temp.dir, 'pruned.safetensors.index.json');
      const result = await pruneWith(kernels, input, output, (a) => selectNm(a, DEFAULT_NM, false, all));
      assert.deepEqual(
        result.written.map((w) => path.basename(w)),
        [
          'pruned-00001-of-00003.safetensors',
          'pruned-00002-of-00003.safetensors',
          'pruned-00003-of-00003.safetensors',
          'pruned.safetensors.index.json',
        ],
      );
      const index = JSON.parse(readFileSync(output, 'utf8'));
      const original = JSON.parse(readFileSync(input, 'utf8'));
      assert.equal(index.metadata.total_size, original.metadata.total_size);
      assert.deepEqual(Object.keys(index.weight_map), Object.keys(original.weight_map));
      const [a, b] = [await openCheckpoint(input), await openCheckpoint(output)];
      const pruned = new Set(result.layers.map((l) => l.name));
      assert.ok(pruned.size > 0);
      for (const t of a.tensors) {
        const u = b.tensors.find((x) => x.name === t.name)!;
        const length = (numelOf(t.shape) * DTYPE_BITS[t.dtype]) / 8;
        const [x, y] = [await readSpan(t.source, 0, length), await readSpan(u.source, 0, length)];
        if (!pruned.has(t.name)) assert.ok(Buffer.from(x).equals(Buffer.from(y)), `${t.name} is unchanged`);
      }
      const report = await kernels.analyseFile({ file: output, roles: [], nm: DEFAULT_NM, zeroThreshold: 0 });
      for (const l of report.report.layers.filter((x) => pruned.has(x.name)))
        assert.equal(l.nm!.compliant, l.nm!.groups, `${l.name} is 2:4`);
    } finally {
      await kernels.dispose();
    }
  });

  it('never replaces the input, nor an existing output without force; the output takes the input format', async () => {
    const kernels = createKernels({ backend: 'reference', root: REPO });
    try {
      const input = path.join(temp.dir, 'model.safetensors');
      copyFileSync(fixture('digits_mlp.safetensors'), input);
      const select = (a: Awaited<ReturnType<Kernels['analyseFile']>>) => selectNm(a, DEFAULT_NM, false, all);
      await assert.rejects(
        pruneWith(kernels, input, input, select, { force: true }),
        (e: Error) => e instanceof PruneError && /is a file of the input/.test(e.message),
      );
      const existing = path.join(temp.dir, 'out.safetensors');
      writeFileSync(existing, 'keep me');
      await assert.rejects(
        pruneWith(kernels, input, existing, select),
        (e: Error) => e instanceof PruneError && /exists; pass --force/.test(e.message),
      );
      assert.equal(readFileSync(existing, 'utf8'), 'keep me');
      await assert.rejects(pruneWith(kernels, input, path.join(temp.dir, 'out.onnx'), select), /must end in \.safetensors/);
      await pruneWith(kernels, input, existing, select, { force: true });
      assert.notEqual(readFileSync(existing, 'utf8'), 'keep me');
      assert.deepEqual(readdirSync(temp.dir).sort(), ['model.safetensors', 'out.safetensors']);
    } finally {
      await kernels.dispose();
    }
  });

  for (const phase of ['masks', 'writing', 'verifying'] as const) {
    it(`a cancel while ${phase} leaves no output and nothing staged`, async () => {
      const kernels = createKernels({ backend: 'reference', root: REPO });
      try {
        const output = path.join(temp.dir, 'out.safetensors');
        const controller = new AbortController();
        const onProgress: PruneOptions['onProgress'] = (p) => p.phase === phase && controller.abort();
        await assert.rejects(
          pruneWith(kernels, fixture('digits_mlp.safetensors'), output, (a) => selectNm(a, DEFAULT_NM, false, all), {
            signal: controller.signal,
            onProgress,
          }),
          (e: Error) => e.name === 'AbortError',
        );
        assert.equal(existsSync(output), false);
        assert.deepEqual(readdirSync(temp.dir), []);
      } finally {
        await kernels.dispose();
      }
    });
  }

  it("a staging folder left by a killed process is removed by the next prune there, never a live process's", async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid!; // has exited: its pid is free
    const stale = path.join(temp.dir, `.sparsity-lens-${dead}-1-abc123`);
    const live = path.join(temp.dir, `.sparsity-lens-${process.pid}-1-def456`);
    for (const folder of [stale, live]) {
      mkdirSync(folder);
      writeFileSync(path.join(folder, 'out.safetensors'), 'partial');
    }
    const kernels = createKernels({ backend: 'reference', root: REPO });
    try {
      await pruneWith(kernels, fixture('digits_mlp.safetensors'), path.join(temp.dir, 'out.safetensors'), (a) =>
        selectNm(a, DEFAULT_NM, false, all),
      );
    } finally {
      await kernels.dispose();
    }
    assert.deepEqual(readdirSync(temp.dir).sort(), [path.basename(live), 'out.safetensors']);
  });

  it('an output folder that does not exist is one clear error', async () => {
    const kernels = createKernels({ backend: 'reference', root: REPO });
    try {
      const output = path.join(temp.dir, 'missing', 'out.safetensors');
      await assert.rejects(
        pruneWith(kernels, fixture('digits_mlp.safetensors'), output, (a) => selectNm(a, DEFAULT_NM, false, all)),
        (e: Error) => e instanceof WriteError && e.message.includes(path.join(temp.dir, 'missing')),
      );
    } finally {
      await kernels.dispose();
    }
  });
});
