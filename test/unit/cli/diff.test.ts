import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import type { CheckpointDiff } from '../../../src/core/analysis/diff';
import type { ViewWindow } from '../../../src/core/neuronView';
import { matcherOf, type RoleOverrides } from '../../../src/core/roles/roleOverrides';
import { createKernels } from '../../../src/kernels/createKernels';
import type { Kernels } from '../../../src/kernels/kernels';
import { fixture, makeTempDir, REPO, runCli } from '../../helpers/fixtures';
import { safetensorsOf } from '../../helpers/writers';

/** Figures computed with numpy by scripts/fixtures/make_diff_expected.py from the safetensors files. */
const expected = JSON.parse(readFileSync(fixture('diff', 'expected.json'), 'utf8')) as Record<
  string,
  Record<string, Record<string, number>>
>;

function diff(...args: string[]): CheckpointDiff {
  const run = runCli(['diff', ...args, '--json']);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as CheckpointDiff;
}

describe('sparsity-lens diff', function () {
  this.timeout(60_000);

  for (const [a, b, formatB] of [
    ['digits_mlp', 'digits_mlp_24', 'safetensors'],
    ['digits_mlp_24', 'digits_mlp_unstructured80', 'onnx'],
  ] as const) {
    it(`${a} → ${b}.${formatB}: positions turned on, off and kept, churn and |Δw| as numpy counts them`, () => {
      const d = diff(fixture(`${a}.safetensors`), fixture(`${b}.${formatB}`));
      const want = expected[`${a}..${b}`];
      assert.deepEqual(
        d.layers.map((l) => l.name),
        Object.keys(want),
      );
      for (const l of d.layers) {
        const e = want[l.name];
        assert.deepEqual([l.turnedOn, l.turnedOff, l.keptBoth], [e.turnedOn, e.turnedOff, e.keptBoth], l.name);
        for (const key of ['densityA', 'densityB', 'churn', 'meanAbsDeltaKept', 'maxAbsDeltaKept'] as const) {
          assert.ok(Math.abs(l[key]! - e[key]) < 1e-12, `${l.name} ${key}: ${l[key]} vs ${e[key]}`);
        }
      }
      assert.deepEqual([d.onlyA, d.onlyB], [[], []]);
    });
  }

  it('fan-in and N:M of each side; tensors only one side has; renames; shapes that differ', () => {
    const tmp = makeTempDir();
    try {
      const a = tmp.write(
        'a.safetensors',
        safetensorsOf(
          new Map([
            ['x.weight', [1, 0, 2, 0, 3, 4, 0, 0]],
            ['gone.weight', [1, 1, 1, 1, 1, 1, 1, 1]],
          ]),
          [2, 4],
        ),
      );
      const b = tmp.write(
        'b.safetensors',
        safetensorsOf(
          new Map([
            ['y.weight', [1.5, 0, 0, 7, 3, 0, 0, 0]],
            ['new.weight', [0, 1, 0, 1, 0, 1, 0, 1]],
          ]),
          [2, 4],
        ),
      );
      const d = diff(a, b, '--map', '{"x.weight": "y.weight"}');
      // By hand: A = [1 0 2 0 | 3 4 0 0], B = [1.5 0 0 7 | 3 0 0 0]: on at 3; off at 2 and 5; kept 0 (|Δ| 0.5) and 4 (0).
      assert.deepEqual(d.layers[0], {
        name: 'x.weight',
        nameB: 'y.weight',
        shapeA: [2, 4],
        shapeB: [2, 4],
        densityA: 0.5,
        densityB: 0.375,
        turnedOn: 1,
        turnedOff: 2,
        keptBoth: 2,
        churn: 3 / 4,
        meanAbsDeltaKept: 0.25,
        maxAbsDeltaKept: 0.5,
        fanInA: { constant: true, k: 2 },
        fanInB: { constant: false, k: null },
        nmCompliantA: 1,
        nmCompliantB: 1,
      });
      assert.deepEqual([d.onlyA, d.onlyB], [['gone.weight'], ['new.weight']]);
      assert.deepEqual(diff(a, b, '--map', '{"x.weight": "y.weight"}', '--backend', 'reference'), d, 'the TypeScript kernels agree');
      const c = tmp.write('c.safetensors', safetensorsOf(new Map([['x.weight', [1, 2, 3, 4, 5, 6, 7, 8]]]), [4, 2]));
      const shapes = diff(a, c).layers[0];
      assert.deepEqual([shapes.shapeA, shapes.shapeB, shapes.turnedOn, shapes.churn], [[2, 4], [4, 2], null, null]);
    } finally {
      tmp.remove();
    }
  });

  it('--map with a /regex/ key renames every name it matches; a bad pattern is refused', () => {
    const tmp = makeTempDir();
    try {
      const values = [1, 0, 2, 0, 3, 4, 0, 0];
      const a = tmp.write(
        'a.safetensors',
        safetensorsOf(
          new Map([
            ['model.x.weight', values],
            ['model.y.weight', values],
          ]),
          [2, 4],
        ),
      );
      const b = tmp.write(
        'b.safetensors',
        safetensorsOf(
          new Map([
            ['x.weight', values],
            ['y.weight', values],
          ]),
          [2, 4],
        ),
      );
      const d = diff(a, b, '--map', '{"/^model\\\\.(.*)$/": "$1"}');
      assert.deepEqual(
        d.layers.map((l) => [l.name, l.nameB, l.keptBoth]),
        [
          ['model.x.weight', 'x.weight', 4],
          ['model.y.weight', 'y.weight', 4],
        ],
      );
      assert.deepEqual([d.onlyA, d.onlyB], [[], []]);
      const bad = runCli(['diff', a, b, '--map', '{"/(/": "x"}']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /^error: --map: not a valid regular expression: /);
    } finally {
      tmp.remove();
    }
  });

  it('the table shows each tensor; a bad --map is one line and exit 2', () => {
    const run = runCli(['diff', fixture('digits_mlp.safetensors'), fixture('digits_mlp_24.onnx')]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^fc1\.weight +\[256, 64\] +100\.00% → 50\.00% +0 +8192 +8192 +50\.00% /m);
    const bad = runCli(['diff', fixture('digits_mlp.safetensors'), fixture('digits_mlp_24.onnx'), '--map', '[1]']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'error: --map: give a JSON object {"name in A": "name in B", …}\n');
    const one = runCli(['diff', fixture('digits_mlp.safetensors')]);
    assert.equal(one.code, 2);
    assert.match(one.stderr, /^error: diff takes exactly two files, A and B/);
  });
});

/** Change cells computed with numpy by scripts/fixtures/make_diff_expected.py. */
interface ExpectedChangeTiles {
  readonly a: string;
  readonly b: string;
  readonly tensor: string;
  readonly layout: 'out,in' | 'in,out';
  readonly window: ViewWindow;
  readonly width: number;
  readonly height: number;
  readonly rows: number;
  readonly cols: number;
  readonly turnedOn: number[];
  readonly turnedOff: number[];
  readonly keptBoth: number[];
}

describe('change cells of a weight between two checkpoints (the editor’s comparison heatmap)', function () {
  this.timeout(60_000);
  let kernels: Kernels;
  before(() => (kernels = createKernels({ backend: 'native', root: REPO })));
  after(() => kernels.dispose());
  const windows = JSON.parse(readFileSync(fixture('diff', 'change_tiles.json'), 'utf8')) as ExpectedChangeTiles[];

  for (const e of windows) {
    it(`${e.a} → ${e.b} ${e.tensor} read as [${e.layout}], ${e.width} × ${e.height} cells: each cell's share turned on, off and kept`, async () => {
      const roles: RoleOverrides = [{ pattern: e.tensor, matcher: matcherOf(e.tensor), role: 'linear', layout: e.layout }];
      const tiles = await kernels.changeTiles({
        a: { file: fixture(`${e.a}.safetensors`), roles, tensor: e.tensor },
        b: { file: fixture(`${e.b}.onnx`), roles, tensor: e.tensor },
        ...e.window,
        width: e.width,
        height: e.height,
      });
      assert.deepEqual([tiles.rows, tiles.cols], [e.rows, e.cols]);
      for (const key of ['turnedOn', 'turnedOff', 'keptBoth'] as const) {
        const got = Array.from(tiles[key]);
        assert.equal(got.length, e[key].length, key);
        got.forEach((v, i) => assert.ok(Math.abs(v - e[key][i]) < 1e-6, `${key}[${i}]: ${v} vs ${e[key][i]}`));
      }
    });
  }

  it('tensors of different shapes have no position-by-position changes: a clear error', async () => {
    await assert.rejects(
      kernels.changeTiles({
        a: { file: fixture('digits_mlp.safetensors'), roles: [], tensor: 'fc1.weight' },
        b: { file: fixture('digits_mlp.safetensors'), roles: [], tensor: 'fc2.weight' },
        rowStart: 0,
        rowEnd: 10,
        colStart: 0,
        colEnd: 10,
        width: 4,
        height: 4,
      }),
      /fc1\.weight \[256, 64\] and fc2\.weight \[128, 256\] are not laid out alike/,
    );
  });
});
