import { strict as assert } from 'node:assert';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { IN_OUT_LAYOUT } from '../../../../src/core/checkpoint';
import { openCheckpoint } from '../../../../src/core/formats/registry';
import { assertExpectedFigures, NM_PATTERNS, type ExpectedTensor } from '../../../helpers/expectedFigures';
import { BACKENDS, fixture, makeTempDir, reportOf } from '../../../helpers/fixtures';
import { expectCheckpointError } from '../../../helpers/errors';

/**
 * A GPT-2-style state dict in three safetensors shards with Hugging Face's index, and the same
 * tensors in one file, written by scripts/fixtures/make_shard_fixtures.py with numpy figures.
 */
interface Expected extends ExpectedTensor {
  shard: string;
}

const SHARDS = ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors'];
const INDEX = 'model.safetensors.index.json';
const expected = JSON.parse(readFileSync(fixture('shards', 'expected.json'), 'utf8')) as {
  shards: number;
  totalSize: number;
  tensors: Expected[];
};

describe('sharded safetensors (index.json or any shard) reported as one model, against numpy', () => {
  const index = fixture('shards', 'sharded', INDEX);
  for (const [key, n, m] of NM_PATTERNS)
    for (const backend of BACKENDS) {
      it(`the index with ${n}:${m} (${backend} kernels)`, async () => {
        const report = await reportOf(index, { n, m }, backend);
        assert.equal(report.format, 'safetensors');
        assert.equal(report.file, index);
        assert.deepEqual(
          report.layers.map((l) => l.name).sort(),
          expected.tensors.map((t) => t.name),
        );
        const checkpoint = await openCheckpoint(index);
        await assertExpectedFigures(INDEX, report, checkpoint, expected.tensors, key, backend);
        for (const want of expected.tensors) {
          const tensor = checkpoint.tensors.find((t) => t.name === want.name)!;
          assert.ok(
            tensor.source.kind === 'file' && tensor.source.path === fixture('shards', 'sharded', want.shard),
            `${want.name} reads its own shard`,
          );
        }
      });
    }

  it('the index, each shard and the single file give identical figures', async () => {
    const byName = (r: Awaited<ReturnType<typeof reportOf>>) => [...r.layers].sort((a, b) => a.name.localeCompare(b.name));
    const single = await reportOf(fixture('shards', 'single', 'model.safetensors'));
    const viaIndex = await reportOf(index);
    assert.deepEqual(byName(viaIndex), byName(single));
    assert.deepEqual(viaIndex.total, single.total);
    assert.deepEqual(viaIndex.weights, single.weights);
    for (const shard of SHARDS) {
      const viaShard = await reportOf(fixture('shards', 'sharded', shard));
      assert.equal(viaShard.file, index, `${shard} opens the model through its index`);
      assert.deepEqual(byName(viaShard), byName(single), shard);
    }
  });

  it('metadata says how many shards, with the index metadata and the shards __metadata__', async () => {
    const checkpoint = await openCheckpoint(index);
    assert.equal(checkpoint.metadata.shards, '3');
    assert.equal(checkpoint.metadata['shard files'], SHARDS.join(', '));
    assert.equal(checkpoint.metadata.total_size, String(expected.totalSize));
    assert.equal(checkpoint.metadata.format, 'pt');
    assert.deepEqual(checkpoint.skipped, []);
  });

  it('GPT-2 Conv1D weights are [in, out]; embeddings are not layers', async () => {
    const checkpoint = await openCheckpoint(index);
    const layout = (name: string) => checkpoint.tensors.find((t) => t.name === name)!.layout;
    for (const name of ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj'])
      assert.deepEqual(layout(`transformer.h.1.${name}.weight`), IN_OUT_LAYOUT, name);
    assert.equal(checkpoint.tensors.find((t) => t.name === 'transformer.wte.weight')!.role, 'other');
  });

  describe('without the index, and bad shard sets', () => {
    let tmp: ReturnType<typeof makeTempDir>;
    let count = 0;
    before(() => (tmp = makeTempDir()));
    after(() => tmp.remove());

    function folder(files: readonly string[]): string {
      const dir = path.join(tmp.dir, `s${count++}`);
      mkdirSync(dir);
      for (const f of files) copyFileSync(fixture('shards', 'sharded', f), path.join(dir, f));
      return dir;
    }
    function withIndex(edit: (weightMap: Record<string, string>) => void, shards = SHARDS): string {
      const dir = folder(shards);
      const json = JSON.parse(readFileSync(index, 'utf8')) as { weight_map: Record<string, string> };
      edit(json.weight_map);
      writeFileSync(path.join(dir, INDEX), JSON.stringify(json));
      return path.join(dir, INDEX);
    }

    it('all sibling shards without an index: one model, named by the shard opened', async () => {
      const dir = folder(SHARDS);
      const opened = path.join(dir, SHARDS[1]);
      const report = await reportOf(opened);
      assert.equal(report.file, opened);
      assert.equal(report.metadata.shards, '3');
      assert.equal(report.layers.length, expected.tensors.length);
      assert.equal(report.weights.nnz, (await reportOf(fixture('shards', 'single', 'model.safetensors'))).weights.nnz);
    });

    it('a shard whose siblings are missing reads as the file it is', async () => {
      const dir = folder([SHARDS[0], SHARDS[2]]);
      const report = await reportOf(path.join(dir, SHARDS[2]));
      assert.deepEqual(
        report.layers.map((l) => l.name).sort(),
        expected.tensors.filter((t) => t.shard === SHARDS[2]).map((t) => t.name),
      );
      assert.equal(report.metadata.shards, undefined);
    });

    it('an index naming a missing shard', async () => {
      const file = withIndex(() => {}, [SHARDS[0], SHARDS[1]]);
      await expectCheckpointError(file, 'io', /shard "model-00003-of-00003.safetensors" not found/);
      // Opening a shard of that model goes through the index too.
      await expectCheckpointError(path.join(path.dirname(file), SHARDS[0]), 'io', /shard "model-00003-of-00003.safetensors" not found/, {
        named: file,
      });
    });

    it('an index putting a tensor in a shard that does not hold it', async () => {
      const file = withIndex((map) => (map['transformer.ln_f.weight'] = SHARDS[0]));
      await expectCheckpointError(
        file,
        'corrupt',
        /weight_map puts tensor "transformer.ln_f.weight" in "model-00001-of-00003.safetensors", which does not hold it/,
      );
    });

    it('an index naming a tensor no shard holds', async () => {
      await expectCheckpointError(
        withIndex((map) => (map['lm_head.weight'] = SHARDS[2])),
        'corrupt',
        /tensor "lm_head.weight"/,
      );
    });

    it('a tensor held by a shard but missing from the index is skipped with the reason', async () => {
      const checkpoint = await openCheckpoint(withIndex((map) => delete map['transformer.ln_f.bias']));
      const shard = expected.tensors.find((t) => t.name === 'transformer.ln_f.bias')!.shard;
      assert.deepEqual(checkpoint.skipped, [
        { name: 'transformer.ln_f.bias', reason: `held by ${shard} but not listed there in the index's weight_map` },
      ]);
      assert.equal(checkpoint.tensors.length, expected.tensors.length - 1);
    });

    it('shard paths leaving the folder are refused', async () => {
      await expectCheckpointError(
        withIndex((map) => (map['transformer.ln_f.bias'] = '../model.safetensors')),
        'unsafe',
        /shard "..\/model.safetensors" leaves the model's folder/,
      );
      await expectCheckpointError(
        withIndex((map) => (map['transformer.ln_f.bias'] = '/etc/passwd')),
        'unsafe',
        /leaves the model's folder/,
      );
      const linked = withIndex((map) => (map['transformer.ln_f.bias'] = 'link.safetensors'));
      symlinkSync(fixture('shards', 'single', 'model.safetensors'), path.join(path.dirname(linked), 'link.safetensors'));
      await expectCheckpointError(linked, 'unsafe', /shard "link.safetensors" links outside the model's folder/);
    });

    it('a truncated shard is rejected as a safetensors file, naming the shard', async () => {
      const file = withIndex(() => {});
      const shard = path.join(path.dirname(file), SHARDS[1]);
      const bytes = readFileSync(shard);
      writeFileSync(shard, bytes.subarray(0, bytes.length - 100));
      await expectCheckpointError(file, 'truncated', /run past the .*-byte data buffer/, { named: shard });
    });

    it('a bad index: not JSON, no weight_map object, an empty map', async () => {
      const dir = folder([]);
      const bad = path.join(dir, INDEX);
      writeFileSync(bad, '{"weight_map": {');
      await expectCheckpointError(bad, 'corrupt', /not valid JSON/);
      writeFileSync(bad, '{"weight_map": []}');
      await expectCheckpointError(bad, 'corrupt', /weight_map is not an object/);
      writeFileSync(bad, '{"weight_map": {}}');
      await expectCheckpointError(bad, 'corrupt', /weight_map lists no tensors/);
      writeFileSync(bad, '{"weight_map": {"a": 3}}');
      await expectCheckpointError(bad, 'corrupt', /tensor "a" does not name a shard file/);
    });
  });
});
