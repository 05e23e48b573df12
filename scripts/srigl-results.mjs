#!/usr/bin/env node
// The SRigL results table of the README: each run of `sparsity-lens train` over three seeds on
// the shared digits data, its test accuracy read from the run's JSON (the tests check that it is
// what onnxruntime measures on the written file) and the wall time of the whole command.
// Usage: npm run build && node scripts/srigl-results.mjs [--seeds 0,1,2]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.SPARSITY_LENS_SHARED_DATA ?? path.join(root, '..', 'shared', 'data');
const cli = path.join(root, 'dist', 'cli.js');
const seedsArg = process.argv.indexOf('--seeds');
const seeds = seedsArg > 0 ? process.argv[seedsArg + 1].split(',').map(Number) : [0, 1, 2];
const tmp = mkdtempSync(path.join(tmpdir(), 'srigl-results-'));
const mlp = path.join(shared, 'digits_mlp.onnx');
const cnn = path.join(root, 'test', 'fixtures', 'train', 'digits_cnn.onnx');
const data = ['--data', path.join(shared, 'digits.npz')];
const images = [...data, '--x', 'x_train_img', '--test-x', 'x_test_img'];

/** @param {string[]} args */
function run(args) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [cli, ...args, '--force', '--json'], { encoding: 'utf8' });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`sparsity-lens ${args.join(' ')}: ${r.stderr}`);
  return { json: JSON.parse(r.stdout), seconds };
}

/** The model pruned one-shot to constant fan-in at the plan's k, for the fixed-mask runs. */
/**
 * @param {string} model
 * @param {number} sparsity
 */
function pruned(model, sparsity) {
  const out = path.join(tmp, `${path.basename(model, '.onnx')}.fanin${sparsity}.onnx`);
  run(['prune', model, '--fan-in', '--sparsity', String(sparsity), '-o', out]);
  return out;
}

/** @type {[string, () => string[]][]} */
const rows = [
  ['digits MLP, SRigL 90 % ERK (defaults)', () => [mlp, ...data, '--sparsity', '0.9']],
  ['digits MLP, SRigL 90 % uniform', () => [mlp, ...data, '--sparsity', '0.9', '--distribution', 'uniform']],
  ['digits MLP, SRigL 95 % ERK', () => [mlp, ...data, '--sparsity', '0.95']],
  ['digits MLP, SRigL 90 % ERK --no-ablation', () => [mlp, ...data, '--sparsity', '0.9', '--no-ablation']],
  [
    'digits MLP, fixed mask from the same one-shot 90 % mask, lr 0.05',
    () => [pruned(mlp, 0.9), ...data, '--method', 'fixed', '--lr', '0.05'],
  ],
  ['digits MLP, fixed mask, one-shot 90 %, defaults (lr 0.01)', () => [pruned(mlp, 0.9), ...data, '--method', 'fixed']],
  ['digits MLP, SRigL 90 % ERK --init random', () => [mlp, ...data, '--sparsity', '0.9', '--init', 'random']],
  ['digits MLP, SRigL 90 % ERK --init random, 60 epochs', () => [mlp, ...data, '--sparsity', '0.9', '--init', 'random', '--epochs', '60']],
  ['small CNN, SRigL 80 % ERK', () => [cnn, ...images, '--sparsity', '0.8']],
  ['small CNN, fixed mask from the one-shot 80 % mask, lr 0.05', () => [pruned(cnn, 0.8), ...images, '--method', 'fixed', '--lr', '0.05']],
  ['small CNN, SRigL 90 % ERK', () => [cnn, ...images, '--sparsity', '0.9']],
  ['small CNN, fixed mask from the one-shot 90 % mask, lr 0.05', () => [pruned(cnn, 0.9), ...images, '--method', 'fixed', '--lr', '0.05']],
];

console.log(`| run (seeds ${seeds.join(', ')}) | before | after (each seed) | whole command (each seed) |`);
console.log('|---|---|---|---|');
try {
  for (const [label, argsOf] of rows) {
    const args = argsOf();
    const runs = seeds.map((seed) => run(['train', ...args, '--seed', String(seed), '-o', path.join(tmp, 'out.onnx')]));
    const before = Math.round(runs[0].json.initialTestAccuracy * runs[0].json.testTotal);
    const after = runs.map((r) => `${r.json.testCorrect}`).join(', ');
    const times = runs.map((r) => `${r.seconds.toFixed(2)} s`).join(', ');
    console.log(`| ${label} | ${before}/${runs[0].json.testTotal} | ${after} /${runs[0].json.testTotal} | ${times} |`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
