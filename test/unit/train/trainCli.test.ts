// `sparsity-lens train` end to end, as a user runs it: the written model is checked with
// onnxruntime (test accuracy) and with the report (its sparsity), never with the engine itself.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { CLI, makeTempDir, reportOf, runCli } from '../../helpers/fixtures';
import { digitsAccuracy, SHARED_DATA } from '../../helpers/onnxAccuracy';
import { DEFAULT_KEYS, loadTrainingData } from '../../../src/core/train/trainingData';

const MLP = path.join(SHARED_DATA, 'digits_mlp.onnx');
const DIGITS = path.join(SHARED_DATA, 'digits.npz');

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

interface TrainJson {
  readonly steps: number;
  readonly seconds: number;
  readonly stepsPerSecond: number;
  readonly trainLoss: number;
  readonly testAccuracy: number;
  readonly testCorrect: number;
  readonly initialTestAccuracy: number;
  readonly history: readonly { epoch: number; step: number; trainLoss: number; testAccuracy: number }[];
  readonly written: readonly string[];
  readonly distilled: boolean;
  readonly pruned: readonly { name: string; before: number; after: number }[];
  readonly trained: readonly { name: string; engine: string }[];
}

/** A .npy file of float32 rows (the format's version 1.0 header). */
function npy(values: Float32Array, shape: readonly number[]): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((header.length + 10) % 64)) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(values.buffer, values.byteOffset, values.byteLength)]);
}

describe('sparsity-lens train', function () {
  this.timeout(180_000);
  const tmp = makeTempDir();
  after(() => tmp.remove());

  it('--nm 2:4 (the ASP recipe, defaults): the digits MLP recovers from 340/360 one-shot to at least 348/360 in onnxruntime, and stays 100 % 2:4', async () => {
    const out = path.join(tmp.dir, 'mlp24.onnx');
    const before = sha256(MLP);
    const r = runCli(['train', MLP, '--data', DIGITS, '--nm', '2:4', '-o', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as TrainJson;
    assert.equal(result.steps, 20 * 12, '20 epochs of ceil(1437 / 128) batches');
    assert.equal(result.history.length, 20);
    assert.equal(result.initialTestAccuracy, 340 / 360, 'one-shot 2:4 before training (ASP: 340/360)');
    assert.deepEqual(
      result.pruned.map((p) => [p.name, p.after]),
      [
        ['fc1.weight', 8192],
        ['fc2.weight', 16384],
        ['fc3.weight', 640],
      ],
    );
    const accuracy = await digitsAccuracy(out);
    assert.ok(accuracy.correct >= 348, `onnxruntime: ${accuracy.correct}/360 after fine-tuning`);
    assert.equal(result.testCorrect, accuracy.correct, 'the engine and onnxruntime agree on the test accuracy');
    const report = await reportOf(out);
    for (const name of ['fc1.weight', 'fc2.weight', 'fc3.weight']) {
      const layer = report.layers.find((l) => l.name === name)!;
      assert.equal(layer.nm!.compliant, layer.nm!.groups, `${name} is 2:4`);
    }
    assert.equal(sha256(MLP), before, 'the input is untouched');
    assert.match(
      r.stderr,
      /epoch 20\/20 {2}step 240\/240 {2}loss [\d.]+ {2}lr [\d.e-]+ {2}\d+ steps\/s {2}train loss [\d.]+ {2}test \d+\/360/,
    );
  });

  it('a seed reproduces a run bit for bit; the output is refused without --force when it exists', () => {
    const a = path.join(tmp.dir, 'seeded-a.onnx');
    const b = path.join(tmp.dir, 'seeded-b.onnx');
    for (const out of [a, b]) {
      const r = runCli(['train', MLP, '--data', DIGITS, '--epochs', '2', '--seed', '7', '--lr', '0.05', '-o', out]);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.equal(sha256(a), sha256(b));
    const again = runCli(['train', MLP, '--data', DIGITS, '--epochs', '1', '-o', a]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /seeded-a\.onnx exists; pass --force to replace it/);
    const other = path.join(tmp.dir, 'seeded-c.onnx');
    assert.equal(runCli(['train', MLP, '--data', DIGITS, '--epochs', '2', '--seed', '8', '--lr', '0.05', '-o', other]).code, 0);
    assert.notEqual(sha256(other), sha256(a), 'another seed, other batches');
  });

  it('without labels it distils the input model: a 2:4 model trained on unlabelled inputs recovers accuracy', async () => {
    const out = path.join(tmp.dir, 'distilled.onnx');
    const r = runCli(['train', MLP, '--data', DIGITS, '--y', 'no_such_labels', '--nm', '2:4', '-o', out, '--json']);
    assert.equal(r.code, 2, 'a label key the user names must exist');
    assert.match(r.stderr, /no array "no_such_labels" of digits\.npz/);
    // The training inputs alone, as a user without labels has them.
    const { train } = await loadTrainingData(DIGITS, DEFAULT_KEYS, new Set(), [64], 'input');
    const xTrain = path.join(tmp.dir, 'x_train.npy');
    writeFileSync(xTrain, npy(train.x, [train.count, 64]));
    const d = runCli(['train', MLP, '--data', xTrain, '--nm', '2:4', '--epochs', '30', '-o', out, '--json']);
    assert.equal(d.code, 0, d.stderr);
    const result = JSON.parse(d.stdout) as TrainJson;
    assert.equal(result.distilled, true);
    assert.match(d.stderr, /distilling the input model's outputs \(T = 2\)/);
    const accuracy = await digitsAccuracy(out);
    assert.ok(accuracy.correct > 340, `distilled 2:4: ${accuracy.correct}/360 (one-shot: 340/360)`);
  });

  it('Ctrl-C stops at a step boundary and writes the weights of that step (exit 130)', async () => {
    const out = path.join(tmp.dir, 'interrupted.onnx');
    // Detached: its own process group, which receives the SIGINT as a terminal's Ctrl-C sends it,
    // the kernel workers included.
    const child = spawn(process.execPath, [CLI, 'train', MLP, '--data', DIGITS, '--epochs', '100000', '-o', out, '--json'], {
      detached: true,
    });
    let stderr = '';
    let stdout = '';
    let interrupted = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/epoch 3\//.test(stderr) && !interrupted) {
          interrupted = true;
          process.kill(-child.pid!, 'SIGINT');
        }
      });
      child.on('exit', resolve);
    });
    assert.equal(code, 130, stderr);
    const result = JSON.parse(stdout) as TrainJson & { status: string };
    assert.equal(result.status, 'cancelled');
    assert.ok(result.steps >= 36 && result.steps < 1_200_000, `${result.steps} steps`);
    assert.match(stderr, /stopped at step \d+ of 1200000: writing the weights of that step/);
    const accuracy = await digitsAccuracy(out);
    assert.ok(accuracy.correct >= 340, `the written weights run: ${accuracy.correct}/360`);
  });

  it('bad requests get one clear line and exit 2, and leave nothing behind', () => {
    const out = path.join(tmp.dir, 'never.onnx');
    const cases: [string[], RegExp][] = [
      [
        ['--data', DIGITS, '--x', 'x_train_img', '-o', out],
        /"x_train_img" of digits\.npz holds samples of shape \[1, 8, 8\], but the model's input "input" takes \[64\]/,
      ],
      [['--data', DIGITS], /train needs an output file: -o OUT\.onnx/],
      [['-o', out], /train needs data: --data FILE\.npz/],
      [['--data', DIGITS, '-o', path.join(tmp.dir, 'x.safetensors')], /must end in \.onnx/],
      [['--data', DIGITS, '--method', 'fixed', '-o', out], /--method fixed keeps the zeros of the weights fixed, but no weight has any/],
      [['--data', DIGITS, '--optimizer', 'adam', '-o', out], /--optimizer must be sgd, adamw, not "adam"/],
      [['--data', DIGITS, '--epochs', '2', '--steps', '5', '-o', out], /give --epochs or --steps, not both/],
      [['--data', DIGITS, '--lr=-1', '-o', out], /--lr must be a number > 0, not "-1"/],
    ];
    for (const [args, message] of cases) {
      const r = runCli(['train', MLP, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.equal(existsSync(out), false);
    assert.deepEqual(
      readdirSync(tmp.dir).filter((f) => f.startsWith('.sparsity-lens-')),
      [],
    );
  });
});
