import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import type { CheckpointPlan } from '../../../src/core/analysis/checkpointPlan';
import type { Lint } from '../../../src/core/analysis/lints';
import { lintsFor, verdictOf } from '../../../src/core/analysis/target';
import { fixture, reportOf, runCli } from '../../helpers/fixtures';

/** Per weight and pattern, counted with numpy by scripts/fixtures/make_nm_expected.py. */
const expected = JSON.parse(readFileSync(fixture('nm', 'expected.json'), 'utf8')) as Record<string, Record<string, number>>;
const WEIGHTS = ['fc1.weight', 'fc2.weight', 'fc3.weight'];

describe('the verdict for a target structure', function () {
  this.timeout(60_000);

  it('a 2:4 checkpoint complies with 2:4 and has constant fan-in at half the dense fan-in', async () => {
    const report = await reportOf(fixture('digits_mlp_24.safetensors'));
    const nm = verdictOf(report, 'nm');
    assert.equal(nm.state, 'meets');
    // 256·64/4 + 128·256/4 + 10·128/4 groups.
    assert.equal(nm.line, '2:4: 3 of 3 layers comply (12,608 groups).');
    assert.deepEqual(
      WEIGHTS.map((w) => nm.layers.get(w)),
      WEIGHTS.map(() => ({ state: 'meets', distance: 0, text: '2:4' })),
    );
    const fanIn = verdictOf(report, 'fan-in');
    assert.equal(fanIn.line, 'Constant fan-in: 3 of 3 layers, k = 32 / 128 / 64.');
  });

  it('an unstructured 80 % checkpoint: the groups that violate and what projecting to 2:4 removes, not the compliant share', async () => {
    const model = 'digits_mlp_unstructured80';
    const report = await reportOf(fixture(`${model}.safetensors`));
    const e = (w: string) => expected[`${model}/${w}/out,in/2:4`];
    const violating = WEIGHTS.reduce((s, w) => s + e(w).groups - e(w).compliant, 0);
    const removed = WEIGHTS.reduce((s, w) => s + e(w).excess, 0) / WEIGHTS.reduce((s, w) => s + expected[`${model}/${w}`].nnz, 0);
    const verdict = verdictOf(report, 'nm');
    assert.equal(verdict.state, 'misses');
    assert.ok(removed < 0.1, 'below 10 %: one decimal');
    assert.equal(
      verdict.line,
      `Not 2:4: 3 of 3 layers, ${violating.toLocaleString('en-US')} groups violate; projecting to 2:4 removes ${(removed * 100).toFixed(1)}% of the non-zeros.`,
    );
    for (const w of WEIGHTS) {
      const layer = verdict.layers.get(w)!;
      assert.equal(
        layer.text,
        `${(e(w).groups - e(w).compliant).toLocaleString('en-US')} of ${e(w).groups.toLocaleString('en-US')} groups violate`,
      );
      assert.ok(Math.abs(layer.distance - e(w).excess / expected[`${model}/${w}`].nnz) < 1e-12, w);
    }
    const fanIn = verdictOf(report, 'fan-in');
    const ranges = WEIGHTS.map((w) => `${expected[`${model}/${w}`].fanInMin}–${expected[`${model}/${w}`].fanInMax}`).join(', ');
    assert.equal(fanIn.line, `Not constant fan-in: 3 of 3 layers vary (fan-in ${ranges}).`);
  });

  it('a dense checkpoint is dense — not pruned, for every target, never a pass', async () => {
    const report = await reportOf(fixture('digits_mlp.safetensors'));
    for (const target of ['nm', 'fan-in', 'plan'] as const) {
      const v = verdictOf(report, target);
      assert.equal(v.state, 'dense', target);
      assert.equal(v.line, 'Dense — not pruned: none of the 3 weight layers has a zero.');
      assert.ok([...v.layers.values()].every((l) => l.state === 'dense' && l.text === 'dense — not pruned'));
    }
  });

  it('the plan: layers at their k meet it, others say how far they are', async () => {
    const file = fixture('digits_mlp_24.safetensors');
    const report = await reportOf(file);
    const planOf = (sparsity: string) => JSON.parse(runCli(['plan', file, '--sparsity', sparsity, '--json']).stdout) as CheckpointPlan;
    // Uniform at 50 %: k = 32 / 128 / 64, exactly what one-shot 2:4 left.
    const uniform = JSON.parse(runCli(['plan', file, '--sparsity', '0.5', '--distribution', 'uniform', '--json']).stdout) as CheckpointPlan;
    const at = verdictOf(report, 'plan', uniform);
    assert.equal(at.line, 'At the UNIFORM plan at sparsity 0.5: 3 of 3 layers, k = 32 / 128 / 64.');
    // ERK at 90 %: k = 7 / 17 / 82 (spec §1.2); the checkpoint holds 32 / 128 / 64.
    const erk = verdictOf(report, 'plan', planOf('0.9'));
    assert.equal(erk.state, 'misses');
    assert.equal(erk.line, 'Not at the ERK plan at sparsity 0.9: 3 of 3 layers (k = 32, plan 7; k = 128, plan 17; k = 64, plan 82).');
    assert.equal(verdictOf(report, 'plan').line, 'No plan yet: choose a sparsity and a distribution in the Plan section.');
  });

  it('findings that concern the target: no N:M findings for constant fan-in, no fan-in finding for N:M', () => {
    const lint = (code: Lint['code']): Lint => ({ layer: 'x', code, severity: 'warning', message: '' });
    const all = (['nm-incomplete', 'tensor-core-shape', 'fanin-almost-constant', 'zeros-stored-densely'] as const).map(lint);
    assert.deepEqual(
      lintsFor(all, 'nm').map((l) => l.code),
      ['nm-incomplete', 'tensor-core-shape', 'zeros-stored-densely'],
    );
    assert.deepEqual(
      lintsFor(all, 'fan-in').map((l) => l.code),
      ['fanin-almost-constant', 'zeros-stored-densely'],
    );
  });
});
