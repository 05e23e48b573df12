import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { createKernels } from '../../../src/kernels/createKernels';
import type { Kernels } from '../../../src/kernels/kernels';
import { fixture, REPO } from '../../helpers/fixtures';

/** Every violating 2:4 group of the weight, [row, first column], row-major (numpy: scripts/fixtures/make_nm_expected.py). */
const violations = (JSON.parse(readFileSync(fixture('nm', 'expected.json'), 'utf8')) as Record<string, unknown>)[
  'digits_mlp_unstructured80/fc2.weight/violations/2:4'
] as [number, number][];

describe('next and previous violating N:M group (the editor’s navigation)', function () {
  this.timeout(60_000);
  let kernels: Kernels;
  before(() => (kernels = createKernels({ backend: 'native', root: REPO })));
  after(() => kernels.dispose());

  const find = (file: string, tensor: string, row: number, col: number, direction: 1 | -1) =>
    kernels.findViolation({ file, roles: [], tensor, nm: { n: 2, m: 4 }, row, col, direction, zeroThreshold: 0 });

  it('walks every violating group of a weight forward and backward, wrapping at the ends', async () => {
    const file = fixture('digits_mlp_unstructured80.safetensors');
    let at = { row: 0, col: -1 };
    const forward: [number, number][] = [];
    for (let k = 0; k < violations.length; k++) {
      at = (await find(file, 'fc2.weight', at.row, at.col, 1))!;
      forward.push([at.row, at.col]);
    }
    assert.deepEqual(forward, violations);
    // Past the last: the first again. Before the first: the last.
    assert.deepEqual(await find(file, 'fc2.weight', at.row, at.col, 1), { row: violations[0][0], col: violations[0][1] });
    const [r0, c0] = violations[0];
    assert.deepEqual(await find(file, 'fc2.weight', r0, c0, -1), { row: violations.at(-1)![0], col: violations.at(-1)![1] });
    const [r1, c1] = violations[1];
    assert.deepEqual(await find(file, 'fc2.weight', r1, c1, -1), { row: r0, col: c0 });
    // A 2:4 checkpoint has none.
    assert.equal(await find(fixture('digits_mlp_24.safetensors'), 'fc2.weight', 0, -1, 1), null);
  });

  it('a conv weight is searched kernel position first: groups of adjacent channels', async () => {
    // layer1.0.conv1 of bn_folded.onnx: [8, 8, 3, 3], dense, so every group of 4 channels violates 2:4.
    const file = fixture('generated', 'bn_folded.onnx');
    const tensor = 'onnx::Conv_38';
    const steps: { row: number; col: number }[] = [];
    let at = { row: 0, col: -1 };
    for (let k = 0; k < 4; k++) steps.push((at = (await find(file, tensor, at.row, at.col, 1))!));
    // Channels 0–3 and 4–7 at position 0 (columns 0 and 4), then at position 1 (columns 8 and 12).
    assert.deepEqual(steps, [
      { row: 0, col: 0 },
      { row: 0, col: 4 },
      { row: 0, col: 8 },
      { row: 0, col: 12 },
    ]);
    // 9 positions × 2 groups per row: the last of row 0 is column 68; after it, row 1.
    assert.deepEqual(await find(file, tensor, 0, 68, 1), { row: 1, col: 0 });
  });
});
