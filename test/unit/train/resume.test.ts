// Long runs survive their worker: a crash or a memory limit keeps the last checkpoint and says
// where it is, the caller and the scan worker live on, and `train --resume` goes on from it.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { createNativeKernels } from '../../../src/kernels/native/nativeKernels';
import { nativePaths } from '../../../src/kernels/createKernels';
import { WorkerMemoryError } from '../../../src/kernels/native/workerProcess';
import { CLI, fixture, makeTempDir, REPO } from '../../helpers/fixtures';
import { SHARED_DATA } from '../../helpers/onnxAccuracy';
import { sha256 } from '../../helpers/writingCommands';

const MLP = path.join(SHARED_DATA, 'digits_mlp.onnx');
const DIGITS = path.join(SHARED_DATA, 'digits.npz');

interface TrainJson {
  steps: number;
  testCorrect: number;
  checkpoints: string[];
  resumedFrom: { file: string; step: number } | null;
}

describe('train: a run that loses its worker keeps its last checkpoint and resumes from it', function () {
  this.timeout(120_000);
  const tmp = makeTempDir();
  after(() => tmp.remove());

  const folder = (name: string) => {
    const dir = path.join(tmp.dir, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  const args = (out: string, ...more: string[]) => [
    'train',
    MLP,
    '--data',
    DIGITS,
    '--sparsity',
    '0.9',
    '--epochs',
    '3',
    '--checkpoint-every',
    '10',
    '-o',
    out,
    ...more,
  ];
  const train = (argv: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [CLI, ...argv], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });

  it('a crashed worker: one error naming the kept checkpoint, byte for byte the uninterrupted run’s; --resume finishes the run', () => {
    const whole = path.join(folder('whole'), 'out.onnx');
    const a = train(args(whole, '--json'));
    assert.equal(a.status, 0, a.stderr);
    const uninterrupted = JSON.parse(a.stdout) as TrainJson;

    const crashed = path.join(folder('crashed'), 'out.onnx');
    const b = train(args(crashed), { SPARSITY_LENS_TEST_ABORT_AT_STEP: '25' });
    assert.equal(b.status, 1, b.stderr);
    const kept = path.join(path.dirname(crashed), 'out.step20.onnx');
    const errors = b.stderr.split('\n').filter((l) => l.startsWith('error:'));
    assert.equal(errors.length, 1, b.stderr);
    assert.match(errors[0], /crashed \(worker killed by SIGABRT\)/);
    assert.ok(
      errors[0].includes(`The last checkpoint is kept: ${kept}; go on from it with the same command and --resume ${kept}`),
      errors[0],
    );
    assert.deepEqual(readdirSync(path.dirname(crashed)).sort(), ['out.step10.onnx', 'out.step20.onnx'], 'no output, no staging folder');
    assert.equal(sha256(kept), sha256(path.join(path.dirname(whole), 'out.step20.onnx')), 'the kept checkpoint is the uninterrupted run’s');

    const keptDigest = sha256(kept);
    const c = train(args(crashed, '--resume', kept, '--json'));
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stderr, /going on from out\.step20\.onnx at step 20/);
    const resumed = JSON.parse(c.stdout) as TrainJson;
    assert.deepEqual(resumed.resumedFrom, { file: kept, step: 20 });
    assert.equal(resumed.steps, 36);
    assert.deepEqual(resumed.checkpoints, [path.join(path.dirname(crashed), 'out.step30.onnx')], 'checkpoints go on at multiples of 10');
    assert.equal(sha256(kept), keptDigest, 'the checkpoint resumed from is only read');
    // The optimizer's momentum restarts, so the weights differ a little from the uninterrupted run's.
    assert.ok(
      Math.abs(resumed.testCorrect - uninterrupted.testCorrect) <= 10,
      `resumed ${resumed.testCorrect} vs uninterrupted ${uninterrupted.testCorrect} of 360`,
    );
    const report = spawnSync(process.execPath, [CLI, 'report', crashed, '--json'], { encoding: 'utf8' });
    const layers = (JSON.parse(report.stdout) as { layers: { name: string; fanIn?: { constant: boolean } }[] }).layers;
    for (const name of ['fc1.weight', 'fc2.weight'])
      assert.ok(layers.find((l) => l.name === name)?.fanIn?.constant, `${name} keeps constant fan-in`);
  });

  it('--resume refuses a file that is no checkpoint of this run, naming why', () => {
    const dir = folder('refused');
    const out = path.join(dir, 'out.onnx');
    assert.equal(train(args(out)).status, 0);
    const step10 = path.join(dir, 'out.step10.onnx');
    const cases: [string[], RegExp][] = [
      [args(path.join(dir, 'a.onnx'), '--resume', MLP), /not a checkpoint written by sparsity-lens train/],
      [args(path.join(dir, 'b.onnx'), '--resume', step10, '--seed', '3'), /the run used --seed 0, not 3/],
      [args(path.join(dir, 'c.onnx'), '--resume', step10, '--batch', '64'), /the run used --batch 128, not 64/],
      [
        ['train', fixture('digits_mlp_24.onnx'), '--data', DIGITS, '--sparsity', '0.9', '-o', path.join(dir, 'd.onnx'), '--resume', step10],
        /trained from another model/,
      ],
      [args(step10, '--resume', step10, '--force'), /is a file of the input/],
    ];
    for (const [argv, message] of cases) {
      const r = train(argv);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, message);
    }
  });

  it('a training worker over its memory limit is stopped with one message; the caller and the scan worker live on', async () => {
    const output = path.join(folder('memory'), 'out.onnx');
    const r = train(args(output, '--memory-limit', '30'));
    assert.equal(r.status, 1, r.stderr);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    assert.equal(errors.length, 1, r.stderr);
    // The poll may catch it before or after a checkpoint: either way the message says which.
    assert.match(
      errors[0],
      /the training worker used \d+ MiB, over its memory limit of 30 MiB, and was stopped\. (It stopped before its first checkpoint \(step 10\)|The last checkpoint is kept: \S+out\.step\d+\.onnx; go on from it with the same command and --resume \S+)$/,
    );
    for (const name of readdirSync(path.dirname(output))) assert.match(name, /^out\.step\d+\.onnx$/, 'only checkpoints, no output');

    // In one process: the job worker goes, the scan worker and its caller stay.
    const paths = nativePaths(REPO);
    const kernels = createNativeKernels(paths.workerScript, paths.addon, undefined, undefined, 30 * 2 ** 20);
    try {
      await kernels.analyseFile({ file: MLP, roles: [], nm: { n: 2, m: 4 }, zeroThreshold: 0 });
      const scanWorker = kernels.worker.pid;
      const session = await kernels.openJob('synthetic', { steps: 100_000, stepMs: 1 });
      await assert.rejects(session.run({}), (e: Error) => e instanceof WorkerMemoryError && /memory limit of 30 MiB/.test(e.message));
      const again = await kernels.analyseFile({ file: MLP, roles: [], nm: { n: 2, m: 4 }, zeroThreshold: 0 });
      assert.ok(again.report.layers.length > 0, 'the scan worker still answers');
      assert.equal(kernels.worker.pid, scanWorker, 'the same scan worker, never restarted');
    } finally {
      await kernels.dispose();
    }
  });
});
