// `sparsity-lens train --method srigl` end to end, as a user runs it: accuracy measured by
// onnxruntime on the written model, the structure read back from the file, never from the engine.
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { makeTempDir, reportOf, runCli } from '../../helpers/fixtures';
import { digitsAccuracy, onnxOutput, readDigitsTestSet, SHARED_DATA } from '../../helpers/onnxAccuracy';
import { ACTIVE_ZERO_VALUE } from '../../../src/core/train/fineTune';
import { writeOnnx } from '../../../src/core/formats/onnx/writer';
import { replacedEdits } from '../../../src/core/prune/storedEdits';
import { openCheckpoint } from '../../../src/core/formats/registry';
import { readValues } from '../../../src/core/tensorBytes';
import { metadataProps } from '../../helpers/onnxMetadata';

const MLP = path.join(SHARED_DATA, 'digits_mlp.onnx');
const DIGITS = path.join(SHARED_DATA, 'digits.npz');
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

interface SriglJson {
  readonly steps: number;
  readonly testCorrect: number;
  readonly initialTestAccuracy: number;
  readonly checkpoints: readonly string[];
  readonly srigl: {
    readonly deltaT: number;
    readonly tEnd: number;
    readonly layers: readonly {
      name: string;
      sparsity: number;
      plannedK: number;
      k: number;
      ablated: number[];
      ablatable: boolean;
      active: number;
    }[];
    readonly updates: readonly { step: number; dropFraction: number; moved: number; ablated: number }[];
  };
}

/** Non-zeros per row of a [rows, cols] weight of an ONNX file. */
async function nonZerosPerRow(file: string, name: string): Promise<number[]> {
  const checkpoint = await openCheckpoint(file);
  const entry = checkpoint.tensors.find((t) => t.name === name)!;
  const values = await readValues(entry);
  const [rows, cols] = entry.shape;
  return Array.from({ length: rows }, (_, r) => {
    let n = 0;
    for (let c = 0; c < cols; c++) if (values[r * cols + c] !== 0) n++;
    return n;
  });
}

describe('sparsity-lens train --method srigl', function () {
  this.timeout(180_000);
  const tmp = makeTempDir();
  after(() => tmp.remove());

  it("the digits MLP at 90 % ERK (defaults): from 240/360 one-shot to at least the reference code's 347/360, 35 updates every 5 steps, masks at constant fan-in", async () => {
    const out = path.join(tmp.dir, 'srigl90.onnx');
    const before = sha256(MLP);
    const masksFile = path.join(tmp.dir, 'srigl90.masks.npz');
    const r = runCli(['train', MLP, '--data', DIGITS, '--sparsity', '0.9', '-o', out, '--save-masks', masksFile, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as SriglJson;
    assert.equal(result.steps, 240);
    assert.equal(Math.round(result.initialTestAccuracy * 360), 240, "each neuron's k largest |w| at ERK 90 %: prune --fan-in's 240/360");
    // T_end = int(0.75 · 240) = 180, ΔT = 180 // 36 = 5: updates at 5, 10, …, 175.
    assert.equal(result.srigl.tEnd, 180);
    assert.equal(result.srigl.deltaT, 5);
    assert.deepEqual(
      result.srigl.updates.map((u) => u.step),
      Array.from({ length: 35 }, (_, i) => 5 * (i + 1)),
    );
    assert.ok(Math.abs(result.srigl.updates[0].dropFraction - 0.15 * (1 + Math.cos((Math.PI * 5) / 180))) < 1e-12);
    // The plan's k (sparsity-lens plan --sparsity 0.9, ERK): 7, 17, 82 — the last layer never ablated.
    assert.deepEqual(
      result.srigl.layers.map((l) => [l.name, l.plannedK, l.ablatable]),
      [
        ['fc1.weight', 7, true],
        ['fc2.weight', 17, true],
        ['fc3.weight', 82, false],
      ],
    );
    const accuracy = await digitsAccuracy(out);
    assert.ok(accuracy.correct >= 347, `onnxruntime: ${accuracy.correct}/360 after SRigL`);
    assert.equal(result.testCorrect, accuracy.correct);
    // The saved masks: every neuron exactly k active, ablated ones none; the weights zero off them.
    const masks = await openCheckpoint(masksFile);
    for (const layer of result.srigl.layers) {
      const entry = masks.tensors.find((t) => t.name === `${layer.name}.mask`)!;
      assert.equal(entry.dtype, 'uint8');
      const mask = await readValues(entry);
      const weights = await readValues((await openCheckpoint(out)).tensors.find((t) => t.name === layer.name)!);
      const [rows, cols] = entry.shape;
      for (let row = 0; row < rows; row++) {
        let active = 0;
        for (let c = 0; c < cols; c++) {
          active += mask[row * cols + c];
          if (!mask[row * cols + c]) assert.equal(weights[row * cols + c], 0, `${layer.name} [${row}, ${c}] is off the mask`);
        }
        assert.equal(active, layer.ablated.includes(row) ? 0 : layer.k, `${layer.name} row ${row}`);
      }
      // The model's non-zeros are its mask.
      const nonZeros = await nonZerosPerRow(out, layer.name);
      nonZeros.forEach((n, row) => assert.equal(n, layer.ablated.includes(row) ? 0 : layer.k, `${layer.name} row ${row} non-zeros`));
      assert.equal(layer.active, (rows - layer.ablated.length) * layer.k);
    }
    // Active weights left at exactly 0 are written as 2^-126, so that the non-zeros are the mask
    // (the report's constant fan-in); zeroing them again changes no logit of onnxruntime's.
    const zeroed = path.join(tmp.dir, 'srigl90.zeroed.onnx');
    const model = await openCheckpoint(out);
    const edits = [];
    for (const t of model.tensors) {
      const values = Float32Array.from(await readValues(t));
      if (!values.some((v) => v === ACTIVE_ZERO_VALUE)) continue;
      for (let i = 0; i < values.length; i++) if (values[i] === ACTIVE_ZERO_VALUE) values[i] = 0;
      edits.push(...replacedEdits(t, new Uint8Array(values.buffer)));
    }
    assert.ok(edits.length > 0, 'this run leaves some active weights at exactly 0');
    mkdirSync(path.join(tmp.dir, 'zeroed'));
    await writeOnnx({ checkpoint: model, edits, provenance: {}, output: zeroed, folder: path.join(tmp.dir, 'zeroed') });
    const test = await readDigitsTestSet();
    const logits = await onnxOutput(out, test.x, [test.count, test.features]);
    const zeroedLogits = await onnxOutput(path.join(tmp.dir, 'zeroed', path.basename(zeroed)), test.x, [test.count, test.features]);
    assert.deepEqual(Array.from(logits), Array.from(zeroedLogits));
    const report = await reportOf(out);
    for (const layer of result.srigl.layers)
      assert.equal(report.layers.find((l) => l.name === layer.name)!.fanIn!.k, layer.k, `${layer.name}: report reads constant fan-in k`);
    assert.equal(sha256(MLP), before, 'the input is untouched');
    // The run's parameters travel with the model (metadata_props).
    const metadata = Object.fromEntries(await metadataProps(out));
    const provenance = JSON.parse(metadata['sparsity_lens.srigl']) as {
      deltaT: number;
      alpha: number;
      gammaSal: number;
      maskUpdates: number;
    };
    assert.deepEqual([provenance.deltaT, provenance.alpha, provenance.gammaSal, provenance.maskUpdates], [5, 0.3, 0.3, 35]);
    assert.match(
      r.stderr,
      /update 35\/35 at step 175: drop fraction 0\.00\d, [\d,]+ weights moved, \d+ neurons ablated; k fc1\.weight \d+/,
    );
  });

  it('--no-ablation keeps every neuron and the planned k; a seed repeats a run bit for bit', () => {
    const a = path.join(tmp.dir, 'noabl-a.onnx');
    const b = path.join(tmp.dir, 'noabl-b.onnx');
    let result: SriglJson | undefined;
    for (const out of [a, b]) {
      const r = runCli([
        'train',
        MLP,
        '--data',
        DIGITS,
        '--sparsity',
        '0.9',
        '--no-ablation',
        '--epochs',
        '5',
        '--seed',
        '3',
        '-o',
        out,
        '--json',
      ]);
      assert.equal(r.code, 0, r.stderr);
      result = JSON.parse(r.stdout) as SriglJson;
    }
    assert.equal(sha256(a), sha256(b));
    for (const l of result!.srigl.layers) {
      assert.deepEqual(l.ablated, []);
      assert.equal(l.k, l.plannedK);
    }
    assert.ok(result!.srigl.updates.every((u) => u.ablated === 0));
    assert.ok(result!.srigl.updates.reduce((s, u) => s + u.moved, 0) > 0, 'the masks moved');
  });

  it('--checkpoint-every keeps verified intermediate models whose diff shows the masks moving', () => {
    const out = path.join(tmp.dir, 'ckpt.onnx');
    const r = runCli([
      'train',
      MLP,
      '--data',
      DIGITS,
      '--sparsity',
      '0.9',
      '--epochs',
      '5',
      '--checkpoint-every',
      '20',
      '-o',
      out,
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as SriglJson;
    const expected = [20, 40].map((s) => path.join(tmp.dir, `ckpt.step${s}.onnx`));
    assert.deepEqual(result.checkpoints, expected);
    for (const file of expected) assert.ok(existsSync(file));
    const diff = runCli(['diff', expected[0], expected[1], '--json']);
    assert.equal(diff.code, 0, diff.stderr);
    const d = JSON.parse(diff.stdout) as { layers: { name: string; turnedOn: number; turnedOff: number; churn: number }[] };
    const fc1 = d.layers.find((t) => t.name === 'fc1.weight')!;
    assert.ok(fc1.turnedOn > 0 && fc1.turnedOff > 0 && fc1.churn > 0, `the masks moved between the checkpoints: ${JSON.stringify(fc1)}`);
  });

  it('refuses what cannot be run, before training', () => {
    const out = path.join(tmp.dir, 'bad.onnx');
    const cases: [string[], RegExp][] = [
      [['--sparsity', '1.5'], /--sparsity must be a number in \(0, 1\)/],
      [['--method', 'srigl'], /--method srigl needs --sparsity S/],
      [['--method', 'fixed', '--delta-t', '5'], /--delta-t is a SRigL option/],
      [['--sparsity', '0.9', '--nm', '2:4'], /--nm prunes to N:M/],
      [['--sparsity', '0.9', '--delta-t', '2', '--grad-accumulation', '3'], /--grad-accumulation 3 exceeds ΔT = 2/],
      [['--sparsity', '0.9', '--gamma-sal', '0.5', '--no-ablation'], /--gamma-sal or --no-ablation, not both/],
    ];
    for (const [args, message] of cases) {
      const r = runCli(['train', MLP, '--data', DIGITS, ...args, '-o', out]);
      assert.notEqual(r.code, 0, args.join(' '));
      assert.match(r.stderr, message);
      assert.ok(!existsSync(out));
    }
  });
});
