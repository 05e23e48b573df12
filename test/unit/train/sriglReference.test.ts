// The SRigL mask update against an independent PyTorch implementation of the spec (§3.3, §3.4, §4):
// scripts/fixtures/make_srigl_fixtures.py wrote test/fixtures/train/srigl/cases.json with torch 1.13;
// every output of sriglLayerUpdate must equal it exactly (weights bit for bit as float32).
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { inflateSync } from 'node:zlib';
import { sriglLayerUpdate, type SriglLayerUpdate } from '../../../src/core/train/sriglUpdate';
import { FIXTURES } from '../../helpers/fixtures';

/** A list of numbers, or the zlib-deflated little-endian bytes in base64. */
type EncodedArray = readonly number[] | { readonly dtype: 'float32' | 'uint8'; readonly zlibBase64: string };

interface Expected {
  readonly weights: EncodedArray;
  readonly mask: EncodedArray;
  readonly k: number;
  readonly nKeep: number;
  readonly nPrune: number;
  readonly ablated: readonly number[];
  readonly threshold: number | null;
  readonly grown: number;
  readonly dropped: number;
}

interface Step {
  readonly sparsity: number;
  readonly dropFraction: number;
  readonly gammaSal: number | null;
  readonly grads: EncodedArray;
  readonly expected: Expected;
}

interface ReferenceCase extends Step {
  readonly name: string;
  readonly description: string;
  readonly shape?: readonly number[];
  readonly rows: number;
  readonly cols: number;
  readonly weights: EncodedArray;
  readonly mask: EncodedArray;
  /** Further updates, each fed the previous one's output weights and mask. */
  readonly then?: readonly Step[];
}

const CASES = (JSON.parse(readFileSync(path.join(FIXTURES, 'train', 'srigl', 'cases.json'), 'utf8')) as { cases: ReferenceCase[] }).cases;

function decodeBytes(a: EncodedArray, dtype: 'float32' | 'uint8'): Buffer | null {
  if (Array.isArray(a)) return null;
  const encoded = a as { dtype: string; zlibBase64: string };
  assert.equal(encoded.dtype, dtype);
  return inflateSync(Buffer.from(encoded.zlibBase64, 'base64'));
}

function floats(a: EncodedArray, n: number): Float32Array {
  const bytes = decodeBytes(a, 'float32');
  const out = bytes ? new Float32Array(n) : Float32Array.from(a as readonly number[]);
  if (bytes) {
    assert.equal(bytes.length, 4 * n);
    for (let i = 0; i < n; i++) out[i] = bytes.readFloatLE(4 * i);
  }
  assert.equal(out.length, n);
  return out;
}

function mask(a: EncodedArray, n: number): Uint8Array {
  const bytes = decodeBytes(a, 'uint8');
  const out = bytes ? new Uint8Array(bytes) : Uint8Array.from(a as readonly number[]);
  assert.equal(out.length, n);
  return out;
}

function position(i: number, cols: number): string {
  return `row ${Math.floor(i / cols)}, column ${i % cols}`;
}

function assertUpdate(label: string, got: SriglLayerUpdate, expected: Expected, cols: number): void {
  const n = got.weights.length;
  const weights = floats(expected.weights, n);
  const bitsGot = new Uint32Array(got.weights.buffer, got.weights.byteOffset, n);
  const bitsWant = new Uint32Array(weights.buffer, weights.byteOffset, n);
  for (let i = 0; i < n; i++)
    assert.equal(bitsGot[i], bitsWant[i], `${label}: weight at ${position(i, cols)}: ${got.weights[i]}, PyTorch ${weights[i]}`);
  const want = mask(expected.mask, n);
  for (let i = 0; i < n; i++) assert.equal(got.mask[i], want[i], `${label}: mask at ${position(i, cols)}`);
  assert.equal(got.k, expected.k, `${label}: k`);
  assert.equal(got.nKeep, expected.nKeep, `${label}: n_keep`);
  assert.equal(got.nPrune, expected.nPrune, `${label}: n_prune`);
  assert.deepEqual([...got.ablated], expected.ablated, `${label}: ablated neurons`);
  assert.equal(got.threshold, expected.threshold, `${label}: threshold`);
  assert.equal(got.grown, expected.grown, `${label}: grown`);
  assert.equal(got.dropped, expected.dropped, `${label}: dropped`);
}

describe('SRigL update against an independent PyTorch implementation', () => {
  it('the fixture holds every named case', () => {
    assert.deepEqual(
      CASES.map((c) => c.name),
      [
        'spec 3.6, gamma 0.3',
        'spec 3.6, gamma 0.7',
        'conv 8x3x3x3, s 0.8, gamma 0.5',
        'ablation, several neurons',
        'revival and truncation',
        'min-neurons guard, gamma 5',
        'non-zero correction',
        'no ablation',
        'ties',
        'random 64x100, s 0.9',
        'random 64x100, s 0.95',
      ],
    );
  });

  for (const c of CASES) {
    it(`${c.name}: ${c.description}`, () => {
      const n = c.rows * c.cols;
      const shapeNumel = c.shape ? c.shape.reduce((a, b) => a * b, 1) : n;
      assert.equal(shapeNumel, n, 'the [rows, cols] view holds the whole 4-D tensor');
      let weights = floats(c.weights, n);
      let current = mask(c.mask, n);
      const steps: readonly Step[] = [c, ...(c.then ?? [])];
      steps.forEach((step, s) => {
        const got = sriglLayerUpdate(
          { rows: c.rows, cols: c.cols, weights, mask: current, grads: floats(step.grads, n) },
          { sparsity: step.sparsity, dropFraction: step.dropFraction, gammaSal: step.gammaSal },
        );
        assertUpdate(steps.length > 1 ? `update ${s + 1}` : c.name, got, step.expected, c.cols);
        weights = got.weights;
        current = got.mask;
      });
    });
  }

  it('the spec §3.6 rows (γ = 0.7): neuron 2 ablated, k = 4, grown positions at 0', () => {
    const c = CASES.find((x) => x.name === 'spec 3.6, gamma 0.7')!;
    const got = sriglLayerUpdate(
      { rows: 4, cols: 6, weights: floats(c.weights, 24), mask: mask(c.mask, 24), grads: floats(c.grads, 24) },
      { sparsity: 0.5, dropFraction: 0.3, gammaSal: 0.7 },
    );
    const rows = [0, 1, 2, 3].map((r) => [0, 1, 2, 3, 4, 5].filter((col) => got.mask[r * 6 + col]));
    assert.deepEqual(rows, [[0, 1, 2, 3], [1, 2, 3, 5], [], [0, 3, 4, 5]]);
    for (const [r, col] of [
      [0, 3],
      [1, 2],
      [3, 0],
    ])
      assert.equal(got.weights[r * 6 + col], 0);
  });
});
