import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { truncateSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { IN_OUT_LAYOUT, OUT_IN_LAYOUT, type Checkpoint, type TensorEntry } from '../../../src/core/checkpoint';
import { openCheckpoint } from '../../../src/core/formats/registry';
import {
  applyRoleOverrides,
  parseRoleOverrides,
  parseRoleOverridesJson,
  RoleOverrideError,
  unusedRoleOverrides,
} from '../../../src/core/roles/roleOverrides';
import { roleByName } from '../../../src/core/roles/rolesByName';
import { fixture, makeTempDir, runCli } from '../../helpers/fixtures';

function tensor(name: string, shape: number[], role: TensorEntry['role'] = 'other', layout?: TensorEntry['layout']): TensorEntry {
  const bytes = new Uint8Array(4 * shape.reduce((a, b) => a * b, 1));
  return {
    name,
    dtype: 'float32',
    shape,
    source: { kind: 'inline', bytes },
    stored: { kind: 'empty' },
    role,
    ...(layout ? { layout } : {}),
  };
}
function checkpointOf(...tensors: TensorEntry[]): Checkpoint {
  return { file: 'model.safetensors', format: 'safetensors', tensors, metadata: {}, skipped: [] };
}
function roles(c: Checkpoint) {
  return Object.fromEntries(c.tensors.map((t) => [t.name, t.layout ? `${t.role} ${t.layout.outAxis},${t.layout.inAxis}` : t.role]));
}
function throwsOverride(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof RoleOverrideError && pattern.test(e.message));
}

describe('layer roles: GPT-2 Conv1D names and user role overrides', () => {
  describe('roleByName', () => {
    it('GPT-2 Conv1D weights are [in, out] under any prefix', () => {
      for (const name of [
        'transformer.h.0.attn.c_attn.weight',
        'h.11.attn.c_proj.weight',
        'model.transformer.h.3.mlp.c_fc.weight',
        'transformer.h.0.mlp.c_proj.weight',
        'transformer.h.2.crossattention.q_attn.weight',
      ]) {
        assert.deepEqual(roleByName(name, [768, 2304]), { role: 'linear', layout: IN_OUT_LAYOUT }, name);
      }
    });
    it('other names keep PyTorch conventions; biases, embeddings and non-matrices are not Conv1D', () => {
      assert.deepEqual(roleByName('encoder.layer.0.attention.self.query.weight', [768, 768]), { role: 'linear', layout: OUT_IN_LAYOUT });
      assert.deepEqual(roleByName('model.c_attn.weight', [8, 8]), { role: 'linear', layout: OUT_IN_LAYOUT }, 'c_attn outside attn.');
      assert.deepEqual(roleByName('transformer.h.0.attn.c_attn.bias', [2304]), { role: 'other' });
      assert.deepEqual(roleByName('transformer.wte.weight', [50257, 768]), { role: 'other' });
      assert.deepEqual(roleByName('transformer.h.0.attn.c_attn.weight', [8, 8, 3]), { role: 'conv', layout: OUT_IN_LAYOUT });
    });
  });

  describe('parse and apply', () => {
    const model = checkpointOf(
      tensor('transformer.h.0.attn.c_attn.weight', [16, 48], 'linear', OUT_IN_LAYOUT),
      tensor('encoder.block.proj', [8, 8], 'linear', OUT_IN_LAYOUT),
      tensor('conv1.weight', [3, 3, 4, 8]),
      tensor('conv2.weight', [3, 3, 8, 8]),
      tensor('fc.weight', [10, 32], 'linear', OUT_IN_LAYOUT),
      tensor('fc.bias', [10]),
    );

    it('the documented example: globs, "in,out", "other", explicit axes', () => {
      const overrides = parseRoleOverridesJson(
        JSON.stringify({
          '*.c_attn.weight': { role: 'linear', layout: 'in,out' },
          'encoder.*.proj': { role: 'other' },
          'conv?.weight': { role: 'conv', outAxis: 3, inAxis: 2 },
        }),
      );
      const result = applyRoleOverrides(model, overrides);
      assert.deepEqual(roles(result), {
        'transformer.h.0.attn.c_attn.weight': 'linear 1,0',
        'encoder.block.proj': 'other',
        'conv1.weight': 'conv 3,2',
        'conv2.weight': 'conv 3,2',
        'fc.weight': 'linear 0,1',
        'fc.bias': 'other',
      });
      assert.equal(result.tensors.find((t) => t.name === 'encoder.block.proj')!.layout, undefined, 'role other drops the layout');
      assert.deepEqual(roles(model)['conv1.weight'], 'other', 'the input checkpoint is not changed');
    });

    it('"in,out" on a conv kernel means the Keras order [...kernel, in, out]; negative axes count from the end', () => {
      const result = applyRoleOverrides(
        model,
        parseRoleOverrides({
          'conv1.weight': { role: 'conv', layout: 'in,out' },
          'conv2.weight': { role: 'conv', outAxis: -1, inAxis: -2 },
        }),
      );
      assert.deepEqual(roles(result)['conv1.weight'], 'conv 3,2');
      assert.deepEqual(roles(result)['conv2.weight'], 'conv 3,2');
    });

    it('the first matching pattern decides; no layout keeps the current one or takes "out,in"', () => {
      const result = applyRoleOverrides(
        model,
        parseRoleOverrides({ 'fc.*': { role: 'other' }, 'fc.weight': { role: 'linear', layout: 'in,out' }, 'conv1.*': { role: 'conv' } }),
      );
      assert.equal(roles(result)['fc.weight'], 'other');
      assert.equal(roles(result)['conv1.weight'], 'conv 0,1');
      const kept = applyRoleOverrides(model, parseRoleOverrides({ 'fc.weight': { role: 'conv' } }));
      assert.equal(roles(kept)['fc.weight'], 'conv 0,1');
    });

    it('a /regex/ pattern is tested anywhere in the name', () => {
      const result = applyRoleOverrides(model, parseRoleOverrides({ '/^conv\\d\\./': { role: 'conv', layout: 'in,out' } }));
      assert.equal(roles(result)['conv2.weight'], 'conv 3,2');
      assert.equal(roles(result)['fc.weight'], 'linear 0,1');
    });

    it('glob characters are literal except * and ?', () => {
      const c = checkpointOf(tensor('a.b', [2, 2]), tensor('aXb', [2, 2]), tensor('w[0]+', [2, 2]));
      assert.deepEqual(roles(applyRoleOverrides(c, parseRoleOverrides({ 'a.b': { role: 'linear' }, 'w[0]+': { role: 'linear' } }))), {
        'a.b': 'linear 0,1',
        aXb: 'other',
        'w[0]+': 'linear 0,1',
      });
    });

    it('unused patterns are reported for a warning', () => {
      assert.deepEqual(
        unusedRoleOverrides(
          model,
          parseRoleOverrides({ 'fc.*': { role: 'other' }, 'fc.weight': { role: 'linear' }, 'nope*': { role: 'other' } }),
        ),
        ['fc.weight', 'nope*'],
      );
    });

    it('an axis out of range names the pattern and the tensor', () => {
      const overrides = parseRoleOverrides({ 'conv*.weight': { role: 'conv', outAxis: 4, inAxis: 1 } });
      throwsOverride(
        () => applyRoleOverrides(model, overrides),
        /^pattern "conv\*\.weight", tensor "conv1\.weight": outAxis 4 is out of range for shape \[3, 3, 4, 8\] \(rank 4\)$/,
      );
      throwsOverride(
        () => applyRoleOverrides(model, parseRoleOverrides({ 'fc.weight': { role: 'linear', outAxis: 0, inAxis: -3 } })),
        /tensor "fc.weight": inAxis -3 is out of range/,
      );
      throwsOverride(
        () => applyRoleOverrides(model, parseRoleOverrides({ 'fc.weight': { role: 'linear', outAxis: 1, inAxis: -1 } })),
        /same axis \(1\)/,
      );
      throwsOverride(
        () => applyRoleOverrides(model, parseRoleOverrides({ 'fc.bias': { role: 'linear' } })),
        /pattern "fc.bias", tensor "fc.bias": a linear weight needs at least 2 axes, but the tensor has shape \[10\]/,
      );
    });

    it('invalid overrides are refused when parsed, naming the pattern', () => {
      throwsOverride(() => parseRoleOverridesJson('{"a": {"role": "linear"'), /^not valid JSON/);
      throwsOverride(() => parseRoleOverrides([1]), /^rule 1 must be an object like \{"pattern"/);
      throwsOverride(() => parseRoleOverrides([{ role: 'other' }]), /^rule 1 must be an object/);
      throwsOverride(() => parseRoleOverrides([{ pattern: 'a', role: 'other', extra: 1 }]), /^pattern "a": unknown key "extra"/);
      throwsOverride(() => parseRoleOverrides('x'), /must be a JSON object/);
      throwsOverride(() => parseRoleOverrides({ a: 'linear' }), /^pattern "a": the override must be an object/);
      throwsOverride(() => parseRoleOverrides({ a: { role: 'dense' } }), /pattern "a": "role" must be "linear", "conv" or "other"/);
      throwsOverride(() => parseRoleOverrides({ a: {} }), /"role" must be/);
      throwsOverride(() => parseRoleOverrides({ a: { role: 'linear', layout: 'rows' } }), /"layout" must be "out,in" or "in,out"/);
      throwsOverride(() => parseRoleOverrides({ a: { role: 'linear', outAxis: 0 } }), /both be given, as integers/);
      throwsOverride(() => parseRoleOverrides({ a: { role: 'linear', outAxis: 0.5, inAxis: 1 } }), /as integers/);
      throwsOverride(() => parseRoleOverrides({ a: { role: 'linear', layout: 'in,out', outAxis: 0, inAxis: 1 } }), /not both/);
      throwsOverride(() => parseRoleOverrides({ a: { role: 'other', layout: 'in,out' } }), /role "other" takes no layout/);
      throwsOverride(() => parseRoleOverrides({ a: { role: 'linear', outaxis: 0 } }), /unknown key "outaxis"/);
      throwsOverride(() => parseRoleOverrides({ '/(/': { role: 'other' } }), /pattern "\/\(\/": not a valid regular expression/);
      throwsOverride(() => parseRoleOverrides({ '': { role: 'other' } }), /empty pattern/);
    });

    it('a list of rules keeps its order, also for patterns that are plain integers; an object puts those first', () => {
      const c = checkpointOf(tensor('0', [2, 2]), tensor('1', [2, 2]), tensor('x', [2, 2]));
      const list = parseRoleOverrides([
        { pattern: '*', role: 'linear', layout: 'in,out' },
        { pattern: '0', role: 'other' },
      ]);
      assert.deepEqual(
        list.map((r) => r.pattern),
        ['*', '0'],
      );
      assert.deepEqual(roles(applyRoleOverrides(c, list)), { '0': 'linear 1,0', '1': 'linear 1,0', x: 'linear 1,0' });
      assert.deepEqual(unusedRoleOverrides(c, list), ['0']);
      // As documented: JavaScript orders integer-like keys first, whatever the order written.
      const object = parseRoleOverridesJson('{"*": {"role": "linear", "layout": "in,out"}, "0": {"role": "other"}}');
      assert.deepEqual(
        object.map((r) => r.pattern),
        ['0', '*'],
      );
      assert.deepEqual(roles(applyRoleOverrides(c, object)), { '0': 'other', '1': 'linear 1,0', x: 'linear 1,0' });
    });

    it('overrides change the figures a report shows: a real file read with Keras layouts', async () => {
      const checkpoint = await openCheckpoint(fixture('shards', 'single', 'model.safetensors'));
      const name = 'transformer.h.0.mlp.c_fc.weight';
      const before = checkpoint.tensors.find((t) => t.name === name)!;
      assert.deepEqual(before.layout, IN_OUT_LAYOUT);
      const after = applyRoleOverrides(checkpoint, parseRoleOverrides({ '*.c_fc.weight': { role: 'linear', layout: 'out,in' } }));
      assert.deepEqual(after.tensors.find((t) => t.name === name)!.layout, OUT_IN_LAYOUT);
    });
  });

  describe('CLI --roles', () => {
    let tmp: ReturnType<typeof makeTempDir>;
    before(() => (tmp = makeTempDir()));
    after(() => tmp.remove());
    const file = fixture('shards', 'single', 'model.safetensors');
    const run = (...args: string[]) => runCli(args);
    const layer = (stdout: string, name: string) =>
      (JSON.parse(stdout) as { layers: { name: string; role: string; fanIn: { dense: number } | null }[] }).layers.find(
        (l) => l.name === name,
      )!;

    it('JSON text: GPT-2 c_fc read as [out, in] gives fan-in over 64 outputs per input row', () => {
      const r = run(
        'report',
        file,
        '--json',
        '--backend',
        'reference',
        '--roles',
        '{"*.mlp.c_fc.weight": {"role": "linear", "layout": "out,in"}, "*.wte.weight": {"role": "linear"}}',
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(layer(r.stdout, 'transformer.h.0.mlp.c_fc.weight').fanIn!.dense, 64);
      assert.equal(layer(r.stdout, 'transformer.wte.weight').role, 'linear');
      assert.equal(r.stderr, '');
    });

    it('a JSON file, and a warning for a pattern that matches nothing', () => {
      const roles = path.join(tmp.dir, 'roles.json');
      writeFileSync(roles, JSON.stringify({ 'transformer.ln_f.*': { role: 'other' }, 'nothing.*': { role: 'other' } }));
      const r = run('report', file, '--json', '--backend', 'reference', '--roles', roles);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /warning: --roles: pattern "nothing\.\*" matches no tensor/);
    });

    it('invalid JSON, a missing file and an invalid axis exit 2 with a clear message', () => {
      let r = run('report', file, '--roles', '{"a": ');
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^error: --roles: not valid JSON/);
      r = run('report', file, '--roles', path.join(tmp.dir, 'missing.json'));
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^error: --roles: cannot read ".*missing\.json" \(cannot open: ENOENT\)/);
      const bad = path.join(tmp.dir, 'bad.json');
      writeFileSync(bad, '{"a": {"role": "sideways"}}');
      r = run('report', file, '--roles', bad);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^error: --roles: .*bad\.json: pattern "a": "role" must be/);
      r = run('report', file, '--roles', '{"*.c_attn.weight": {"role": "linear", "outAxis": 2, "inAxis": 0}}');
      assert.equal(r.code, 2);
      assert.match(
        r.stderr,
        /^error: --roles: pattern "\*\.c_attn\.weight", tensor "transformer\.h\.0\.attn\.c_attn\.weight": outAxis 2 is out of range for shape \[16, 48\]/,
      );
    });

    it('a list given as JSON text or a file', () => {
      const list =
        '[{"pattern": "*.mlp.c_fc.weight", "role": "linear", "layout": "out,in"}, {"pattern": "*.wte.weight", "role": "linear"}]';
      let r = run('report', file, '--json', '--backend', 'reference', '--roles', `  ${list}`);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(layer(r.stdout, 'transformer.h.0.mlp.c_fc.weight').fanIn!.dense, 64);
      assert.equal(layer(r.stdout, 'transformer.wte.weight').role, 'linear');
      const roles = path.join(tmp.dir, 'list.json');
      writeFileSync(roles, list);
      r = run('report', file, '--json', '--backend', 'reference', '--roles', roles);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(layer(r.stdout, 'transformer.wte.weight').role, 'linear');
    });

    it('a roles file that is not JSON, too large, or not a regular file (a FIFO) exits 2 at once', function () {
      const notJson = path.join(tmp.dir, 'notes.json');
      writeFileSync(notJson, 'linear please');
      let r = run('report', file, '--roles', notJson);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^error: --roles: .*notes\.json: not valid JSON/);
      const large = path.join(tmp.dir, 'large.json');
      writeFileSync(large, '');
      truncateSync(large, (1 << 20) + 1);
      r = run('report', file, '--roles', large);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /^error: --roles: .*large\.json: a 1048577-byte JSON file is larger than/);
      if (process.platform === 'win32') this.skip();
      const fifo = path.join(tmp.dir, 'roles.fifo');
      execFileSync('mkfifo', [fifo]);
      r = run('report', file, '--roles', fifo);
      assert.equal(r.code, 2, 'no hang: the run has a 60 s timeout');
      assert.match(r.stderr, /^error: --roles: cannot read ".*roles\.fifo" \(not a regular file\)/);
      r = run('report', fifo);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /roles\.fifo: not a regular file/);
    });

    it('the help text documents --roles', () => {
      const r = run('--help');
      assert.equal(r.code, 0);
      assert.match(r.stdout, /--roles R/);
    });
  });
});
