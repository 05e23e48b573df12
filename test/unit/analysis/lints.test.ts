import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import type { Lint } from '../../../src/core/analysis/lints';
import type { SparsityReport } from '../../../src/core/analysis/report';
import { fixture, reportOf } from '../../helpers/fixtures';

/** Figures of test/fixtures/lints/lints.pt computed by scripts/fixtures/make_lint_fixtures.py with numpy. */
interface Expected {
  shape: number[];
  nnz: number;
  fanIn: { min: number; max: number };
  nmGroups?: number;
  nmViolating?: number;
  fanInMode: number;
  fanInModeRows: number;
}
const expected = JSON.parse(readFileSync(fixture('lints', 'expected.json'), 'utf8')) as Record<string, Expected>;

function codes(report: SparsityReport, layer: string): string[] {
  return report.problems.filter((p) => p.layer === layer).map((p) => p.code);
}

function lint(report: SparsityReport, layer: string, code: string): Lint {
  const found = report.problems.find((p) => p.layer === layer && p.code === code);
  assert.ok(found, `${layer} has ${code}: ${codes(report, layer).join(', ')}`);
  return found;
}

describe('"why no speed-up?" lints and storage estimates', function () {
  this.timeout(60_000);
  let report: SparsityReport;
  before(async () => (report = await reportOf(fixture('lints', 'lints.pt'))));

  it('a 2:4 layer of 256 × 256 in float32 gets only the storage note; a dense layer gets nothing', () => {
    assert.deepEqual(codes(report, 'nm_ok.weight'), ['zeros-stored-densely']);
    assert.deepEqual(codes(report, 'dense.weight'), []);
    assert.deepEqual(codes(report, 'const.weight'), ['small-layer', 'zeros-stored-densely']);
  });

  it('grouped-conv: 3 input channels (an RGB first layer) and a depthwise conv, fewer than M = 4', () => {
    assert.equal(expected['rgb.weight'].shape[1], 3);
    assert.match(
      lint(report, 'rgb.weight', 'grouped-conv').message,
      /^only 3 input channels per group .*fewer than 4: 2:4 kernels cannot take it/,
    );
    assert.equal(expected['dw.weight'].shape[1], 1);
    assert.match(lint(report, 'dw.weight', 'grouped-conv').message, /^a depthwise convolution \(1 input channel per group\)/);
    assert.ok(!codes(report, 'nm_ok.weight').includes('grouped-conv'));
  });

  it('nm-axis-not-multiple and tensor-core-shape: 130 inputs, 20 outputs', () => {
    const [rows, inputs] = expected['odd_in.weight'].shape;
    assert.equal(lint(report, 'odd_in.weight', 'nm-axis-not-multiple').severity, 'error');
    assert.match(
      lint(report, 'odd_in.weight', 'nm-axis-not-multiple').message,
      new RegExp(`^${inputs} inputs is not a multiple of 4, so 2:4 cannot cover the last ${inputs % 4} of each row`),
    );
    assert.match(
      lint(report, 'odd_in.weight', 'tensor-core-shape').message,
      new RegExp(`this layer has ${inputs} inputs \\(not a multiple of 16\\)`),
    );
    assert.equal(rows % 8, 0);
    assert.match(
      lint(report, 'odd_out.weight', 'tensor-core-shape').message,
      new RegExp(`this layer has ${expected['odd_out.weight'].shape[0]} outputs \\(not a multiple of 8\\),`),
    );
    for (const name of ['nm_ok.weight', 'odd_out.weight']) assert.ok(!codes(report, name).includes('nm-axis-not-multiple'));
  });

  it('nm-incomplete counts the violating groups; a layer much sparser than 2:4 is not taken for one', () => {
    const e = expected['nm_broken.weight'];
    assert.deepEqual(codes(report, 'nm_broken.weight'), ['nm-incomplete', 'small-layer']);
    assert.match(
      lint(report, 'nm_broken.weight', 'nm-incomplete').message,
      new RegExp(`^${e.nmViolating} of ${e.nmGroups!.toLocaleString('en-US')} 2:4 groups hold more than 2 non-zeros`),
    );
    assert.ok(expected['const.weight'].nmViolating! > 0, 'const has violating groups, but 80 % sparse it is no 2:4 attempt');
    assert.ok(!codes(report, 'const.weight').includes('nm-incomplete'));
  });

  it('fanin-almost-constant: the rows off the common fan-in and by how much', () => {
    const e = expected['almost.weight'];
    const live = e.shape[0];
    assert.match(
      lint(report, 'almost.weight', 'fanin-almost-constant').message,
      new RegExp(
        `^${live - e.fanInModeRows} of ${live} neurons have a fan-in other than ${e.fanInMode} \\(off by up to ${e.fanIn.max - e.fanInMode}\\)`,
      ),
    );
    assert.ok(!codes(report, 'const.weight').includes('fanin-almost-constant'));
  });

  it('dtype-not-accelerated: float64; float32 is not', () => {
    assert.match(lint(report, 'f64.weight', 'dtype-not-accelerated').message, /^float64 weights/);
    assert.ok(!codes(report, 'nm_ok.weight').includes('dtype-not-accelerated'));
  });

  it('mask-beside-weight: a mask buffer beside a dense weight, and torch.nn.utils.prune pairs', async () => {
    assert.match(
      lint(report, 'masked.weight', 'mask-beside-weight').message,
      /^a mask, masked\.mask, is stored beside this dense weight \(50\.0 % of it zero\)/,
    );
    const pruned = await reportOf(fixture('pytorch', 'pruned.pt'));
    assert.match(
      lint(pruned, 'fc1.weight', 'mask-beside-weight').message,
      /^stored as fc1\.weight_orig and fc1\.weight_mask \(torch\.nn\.utils\.prune\)/,
    );
    assert.ok(!codes(report, 'dense.weight').includes('mask-beside-weight'));
  });

  it('small-layer below 256 × 256; unstructured on a real magnitude-pruned checkpoint, not on its 2:4 twin', async () => {
    assert.match(lint(report, 'odd_out.weight', 'small-layer').message, /^20 neurons × fan-in 128: below 256 × 256/);
    assert.ok(!codes(report, 'nm_ok.weight').includes('small-layer'));
    const unstructured = await reportOf(fixture('digits_mlp_unstructured80.safetensors'));
    assert.deepEqual(
      unstructured.problems.filter((p) => p.code === 'unstructured').map((p) => p.layer),
      ['fc1.weight', 'fc2.weight', 'fc3.weight'],
    );
    const twin = await reportOf(fixture('digits_mlp_24.safetensors'));
    assert.deepEqual(
      twin.problems.filter((p) => p.code === 'unstructured'),
      [],
    );
    assert.deepEqual((await reportOf(fixture('digits_mlp.safetensors'))).problems, [], 'a dense model gets no lint');
  });

  it('storage of the 2:4 layer by the README formulas: dense 262,144 B, CSR 263,172, bitmask and 2:4 139,264, condensed 197,632', () => {
    const s = report.storage.layers.find((l) => l.name === 'nm_ok.weight')!;
    // 256 × 256 float32, 32,768 non-zeros, fan-in 128 everywhere (< 32,768: int16 indices).
    assert.deepEqual(s, {
      name: 'nm_ok.weight',
      dense: 256 * 256 * 4,
      nm: 32768 * 4 + (32768 * 2) / 8,
      condensed: 256 * 128 * (4 + 2) + 256 * 4,
      bitmask: (256 * 256) / 8 + 32768 * 4,
      csr: 32768 * (4 + 4) + 257 * 4,
      smallest: 'nm',
    });
    const unstructured = report.storage.layers.find((l) => l.name === 'rgb.weight')!;
    assert.equal(unstructured.nm, null, 'not 2:4');
    assert.equal(unstructured.condensed, null, 'fan-in not constant');
    assert.equal(
      report.storage.total.dense,
      report.storage.layers.reduce((a, l) => a + l.dense, 0),
    );
  });
});
