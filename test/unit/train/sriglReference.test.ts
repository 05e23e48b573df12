// The SRigL mask update against an independent PyTorch implementation of the spec (§3.3, §3.4, §4):
// scripts/fixtures/make_srigl_fixtures.py wrote test/fixtures/train/srigl/cases.json with torch 1.13;
// every output of sriglLayerUpdate must equal it exactly (weights bit for bit as float32). Both
// implementations answer: the TypeScript reference and the native addon's port (as the training
// job calls it), which must also equal the TypeScript bit for bit on random layers, odd options
// and errors.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { inflateSync } from 'node:zlib';
import {
  sriglLayerUpdate,
  SriglUpdateError,
  type SriglLayerInput,
  type SriglLayerOptions,
  type SriglLayerUpdate,
} from '../../../src/core/train/sriglUpdate';
import { nativeSriglUpdate } from '../../../src/kernels/jobs/trainJob';
import { FIXTURES } from '../../helpers/fixtures';
import { loadTrainingAddon } from '../../helpers/gradientCheck';
import { seededRandom } from '../../helpers/random';

type Updater = (layer: SriglLayerInput, options: SriglLayerOptions) => SriglLayerUpdate;

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

/** The native update as the training job wraps it (errors as SriglUpdateError), for a suite's `before`. */
function loadNativeUpdate(context: Mocha.Context): Updater {
  const update = nativeSriglUpdate(loadTrainingAddon(context));
  assert.ok(update, 'the native addon has no sriglLayerUpdate; rebuild it (node scripts/build-native.mjs)');
  return update;
}

function fixtureSuite(implementation: string, getUpdate: () => Updater): void {
  it(`${implementation}: the fixture holds every named case`, () => {
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
    it(`${implementation}: ${c.name}: ${c.description}`, () => {
      const update = getUpdate();
      const n = c.rows * c.cols;
      const shapeNumel = c.shape ? c.shape.reduce((a, b) => a * b, 1) : n;
      assert.equal(shapeNumel, n, 'the [rows, cols] view holds the whole 4-D tensor');
      let weights = floats(c.weights, n);
      let current = mask(c.mask, n);
      const steps: readonly Step[] = [c, ...(c.then ?? [])];
      steps.forEach((step, s) => {
        const got = update(
          { rows: c.rows, cols: c.cols, weights, mask: current, grads: floats(step.grads, n) },
          { sparsity: step.sparsity, dropFraction: step.dropFraction, gammaSal: step.gammaSal },
        );
        assertUpdate(steps.length > 1 ? `update ${s + 1}` : c.name, got, step.expected, c.cols);
        weights = got.weights;
        current = got.mask;
      });
    });
  }

  it(`${implementation}: the spec §3.6 rows (γ = 0.7): neuron 2 ablated, k = 4, grown positions at 0`, () => {
    const c = CASES.find((x) => x.name === 'spec 3.6, gamma 0.7')!;
    const got = getUpdate()(
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
}

describe('SRigL update against an independent PyTorch implementation', () => {
  describe('TypeScript', () => fixtureSuite('TypeScript', () => sriglLayerUpdate));

  describe('native', () => {
    let native: Updater | undefined;
    before(function () {
      native = loadNativeUpdate(this);
    });
    fixtureSuite('native', () => native!);
  });
});

// ---------------------------------------------------------------------------------------------
// Native against TypeScript

/** What an update gave: its result, or the error it threw. */
type Outcome = { readonly result: SriglLayerUpdate } | { readonly error: unknown };

function outcomeOf(update: Updater, layer: SriglLayerInput, options: SriglLayerOptions): Outcome {
  try {
    return { result: update(layer, options) };
  } catch (error) {
    return { error };
  }
}

/** Both gave the same result to the bit, or the same SriglUpdateError. */
function assertSameOutcome(label: string, native: Outcome, reference: Outcome, cols: number): SriglLayerUpdate | undefined {
  if ('error' in reference) {
    assert.ok(reference.error instanceof SriglUpdateError, `${label}: the TypeScript threw ${String(reference.error)}`);
    assert.ok('error' in native, `${label}: the TypeScript threw "${reference.error.message}", the native did not`);
    assert.ok(native.error instanceof SriglUpdateError, `${label}: the native threw ${String(native.error)}, not a SriglUpdateError`);
    assert.equal(native.error.message, reference.error.message, `${label}: message`);
    return undefined;
  }
  assert.ok(!('error' in native), `${label}: the native threw ${'error' in native ? String(native.error) : ''}`);
  const got = native.result;
  const want = reference.result;
  assert.equal(got.weights.length, want.weights.length, `${label}: weights length`);
  assert.equal(got.mask.length, want.mask.length, `${label}: mask length`);
  const bitsGot = new Uint32Array(got.weights.buffer, got.weights.byteOffset, got.weights.length);
  const bitsWant = new Uint32Array(want.weights.buffer, want.weights.byteOffset, want.weights.length);
  for (let i = 0; i < bitsWant.length; i++) {
    if (bitsGot[i] !== bitsWant[i])
      assert.fail(`${label}: weight at ${position(i, cols)}: native ${got.weights[i]}, TypeScript ${want.weights[i]}`);
    if (got.mask[i] !== want.mask[i])
      assert.fail(`${label}: mask at ${position(i, cols)}: native ${got.mask[i]}, TypeScript ${want.mask[i]}`);
  }
  for (const key of ['k', 'nKeep', 'nPrune', 'threshold', 'grown', 'dropped'] as const)
    assert.ok(Object.is(got[key], want[key]), `${label}: ${key}: native ${got[key]}, TypeScript ${want[key]}`);
  assert.deepEqual([...got.ablated], [...want.ablated], `${label}: ablated neurons`);
  return want;
}

/** Runs both on the layer (the native on copies, checked unchanged after) and compares. */
function compareOn(native: Updater, label: string, layer: SriglLayerInput, options: SriglLayerOptions): SriglLayerUpdate | undefined {
  const copy = { ...layer, weights: layer.weights.slice(), mask: layer.mask.slice(), grads: layer.grads.slice() };
  const got = outcomeOf(native, copy, options);
  assert.deepEqual(copy.weights, layer.weights, `${label}: the native changed its input weights`);
  assert.deepEqual(copy.mask, layer.mask, `${label}: the native changed its input mask`);
  return assertSameOutcome(label, got, outcomeOf(sriglLayerUpdate, layer, options), layer.cols);
}

interface RandomCase {
  readonly rows: number;
  readonly cols: number;
  readonly sparsity: number;
  readonly dropFraction: number;
  readonly gammaSal: number | null;
  /** Values on a grid of 1/16 (many exact ties), else continuous. */
  readonly quantized: boolean;
  /** Share of the active weights set to exactly 0 (or −0). */
  readonly zeroActive: number;
  /** Constant fan-in masks (a SRigL state) or random ones (rows over and under k: truncation, revival). */
  readonly constantFanIn: boolean;
}

const SHAPES: readonly (readonly [number, number])[] = [
  [64, 100],
  [37, 129],
  [8, 8],
  [5, 3],
  [128, 300],
  [300, 64],
  [1, 50],
  [200, 17],
  [96, 257],
  [16, 1000],
];
const GAMMAS: readonly (number | null)[] = [null, 0.3, 0.95, 3];

function randomCases(): RandomCase[] {
  const rnd = seededRandom(20240611);
  return Array.from({ length: 20 }, (_, i) => {
    const [rows, cols] = SHAPES[i % SHAPES.length];
    // At least one weight per neuron: s ≤ 1 − 1/cols.
    const sparsity = Math.min(0.5 + 0.48 * rnd(), 1 - 1 / cols);
    return {
      rows,
      cols,
      sparsity,
      dropFraction: 0.05 + 0.45 * rnd(),
      gammaSal: GAMMAS[i % GAMMAS.length],
      quantized: i % 3 === 0,
      zeroActive: i % 4 === 1 ? 0.3 : i % 5 === 2 ? 0.05 : 0,
      constantFanIn: i % 2 === 0,
    };
  });
}

function randomLayer(spec: RandomCase, seed: number): SriglLayerInput {
  const rnd = seededRandom(seed);
  const { rows, cols } = spec;
  const n = rows * cols;
  const value = (scale: number) => {
    const v = (rnd() * 2 - 1) * scale;
    return spec.quantized ? Math.round(v * 16) / 16 : v;
  };
  const k = Math.max(1, Math.floor(Math.floor(n * (1 - spec.sparsity)) / rows));
  const mask = new Uint8Array(n);
  for (let r = 0; r < rows; r++) {
    if (spec.constantFanIn) {
      const order = Array.from({ length: cols }, (_, c) => c);
      for (let c = cols - 1; c > 0; c--) {
        const j = Math.floor(rnd() * (c + 1));
        [order[c], order[j]] = [order[j], order[c]];
      }
      for (let t = 0; t < Math.min(k, cols); t++) mask[r * cols + order[t]] = 1;
    } else {
      const density = Math.min(1, (k / cols) * (0.2 + 1.6 * rnd())); // some rows far over k, some nearly empty
      for (let c = 0; c < cols; c++) mask[r * cols + c] = rnd() < density ? 1 : 0;
    }
  }
  const weights = new Float32Array(n);
  const grads = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (mask[i]) weights[i] = rnd() < spec.zeroActive ? (rnd() < 0.5 ? 0 : -0) : value(1);
    else if (rnd() < 0.05) weights[i] = value(1); // stale values at inactive positions: read as 0
    grads[i] = rnd() < 0.02 ? 0 : value(0.01);
  }
  return { rows, cols, weights, mask, grads };
}

describe('SRigL update: native against TypeScript', () => {
  let native: Updater;
  before(function () {
    native = loadNativeUpdate(this);
  });

  randomCases().forEach((spec, i) => {
    const label =
      `random ${i + 1}: ${spec.rows}×${spec.cols}, s ${spec.sparsity.toFixed(3)}, f ${spec.dropFraction.toFixed(2)}, ` +
      `γ ${spec.gammaSal ?? 'none'}${spec.quantized ? ', quantized' : ''}${spec.zeroActive ? ', zero weights' : ''}` +
      `${spec.constantFanIn ? '' : ', uneven masks'}`;
    it(`${label}: three updates in a row, every output the same`, () => {
      let layer = randomLayer(spec, 1000 + i);
      const options = { sparsity: spec.sparsity, dropFraction: spec.dropFraction, gammaSal: spec.gammaSal };
      for (let step = 1; step <= 3; step++) {
        const result = compareOn(native, `${label}, update ${step}`, layer, options);
        assert.ok(result, `${label}, update ${step}: the TypeScript refused the layer`);
        // The next update: the new weights trained a little, a new gradient.
        const next = randomLayer(spec, 5000 + 10 * i + step);
        const weights = result.weights.map((w, j) => (result.mask[j] ? w + next.weights[j] / 64 : w));
        layer = { ...layer, weights, mask: result.mask, grads: next.grads };
      }
    });
  });

  it('a big layer (3072 × 784 at s = 0.9, f = 0.3, γ = 0.3), and its transposed shape', () => {
    for (const [rows, cols] of [
      [3072, 784],
      [768, 3072],
    ]) {
      const spec: RandomCase = {
        rows,
        cols,
        sparsity: 0.9,
        dropFraction: 0.3,
        gammaSal: 0.3,
        quantized: false,
        zeroActive: 0,
        constantFanIn: true,
      };
      compareOn(native, `${rows}×${cols}`, randomLayer(spec, 7), spec);
    }
  });

  it('errors: k = 0, the fan-in above the inputs, a non-finite gradient, a NaN weight, a size mismatch — the same messages', () => {
    const tiny = { rows: 4, cols: 2, weights: new Float32Array(8).fill(1), mask: new Uint8Array(8).fill(1), grads: new Float32Array(8) };
    const none = { dropFraction: 0.1, gammaSal: null };
    const column = { rows: 8, cols: 1, weights: new Float32Array(8).fill(1), mask: new Uint8Array(8).fill(1), grads: new Float32Array(8) };
    const cases: [string, SriglLayerInput, SriglLayerOptions][] = [
      ['k = 0 at s = 0.9', tiny, { sparsity: 0.9, ...none }],
      ['k = 0 at s = 1 − 1e-7', tiny, { sparsity: 1 - 1e-7, ...none }],
      ['k = 0 at s = 0.1 + 0.8', tiny, { sparsity: 0.1 + 0.8, ...none }],
      ['k = 0 at s = 1', tiny, { sparsity: 1, ...none }],
      ['k = 0 at s = 0.7 + 0.2', tiny, { sparsity: 0.7 + 0.2, ...none }],
      ['k = 0 at s = 1e-7 (8 neurons of 1 input)', column, { sparsity: 1e-7, ...none }],
      ['n_prune past the layer (f = 1e21)', tiny, { sparsity: 0.5, dropFraction: 1e21, gammaSal: 0.3 }],
      ['k = 0 with γ', tiny, { sparsity: 0.95, dropFraction: 0.1, gammaSal: 0.3 }],
      ['k above the inputs (s < 0)', tiny, { sparsity: -0.5, ...none }],
      ['NaN gradient', { ...tiny, grads: Float32Array.from([0, 0, NaN, 0, 0, 0, 0, 0]) }, { sparsity: 0.5, ...none }],
      ['infinite gradient', { ...tiny, grads: Float32Array.from([0, 0, 0, 0, 0, 0, 0, -Infinity]) }, { sparsity: 0.5, ...none }],
      ['NaN weight', { ...tiny, weights: Float32Array.from([1, 2, 3, NaN, 5, 6, 7, 8]) }, { sparsity: 0.5, ...none }],
      [
        'NaN weight, γ',
        { ...tiny, weights: Float32Array.from([1, 2, 3, NaN, 5, 6, 7, 8]) },
        { sparsity: 0.5, dropFraction: 0.1, gammaSal: 0.3 },
      ],
      ['size mismatch', { ...tiny, grads: new Float32Array(7) }, { sparsity: 0.5, ...none }],
      [
        'empty layer',
        { rows: 0, cols: 5, weights: new Float32Array(0), mask: new Uint8Array(0), grads: new Float32Array(0) },
        { sparsity: 0.5, ...none },
      ],
    ];
    for (const [label, layer, options] of cases) {
      const reference = outcomeOf(sriglLayerUpdate, layer, options);
      assert.ok('error' in reference, `${label}: the TypeScript did not throw`);
      assertSameOutcome(label, outcomeOf(native, layer, options), reference, layer.cols);
    }
    const k0 = outcomeOf(native, tiny, { sparsity: 0.9, ...none });
    assert.ok('error' in k0 && k0.error instanceof SriglUpdateError);
    assert.equal(
      k0.error.message,
      'a sparsity of 0.9 leaves no weight per neuron (0 weights for 4 neurons): reduce the sparsity or widen the layer',
    );
    // Numbers in messages are written as JavaScript writes them.
    for (const [layer, options, message] of [
      [tiny, { sparsity: 0.7 + 0.2, ...none }, 'a sparsity of 0.8999999999999999 leaves no weight per neuron (0 weights for 4 neurons)'],
      [column, { sparsity: 1e-7, ...none }, 'a sparsity of 1e-7 leaves no weight per neuron (7 weights for 8 neurons)'],
      [tiny, { sparsity: 0.5, dropFraction: 1e21, gammaSal: 0.3 }, 'cannot pick 8e+21 positions out of 8'],
    ] as const) {
      const got = outcomeOf(native, layer, options);
      assert.ok('error' in got && got.error instanceof SriglUpdateError);
      assert.ok(got.error.message.startsWith(message), got.error.message);
    }
    const nan = outcomeOf(native, { ...tiny, grads: Float32Array.from([0, 0, NaN, 0, 0, 0, 0, 0]) }, { sparsity: 0.5, ...none });
    assert.ok('error' in nan && nan.error instanceof SriglUpdateError);
    assert.equal(nan.error.message, 'the gradient is not finite at row 1, column 0');
  });

  it('odd options (s above 1, f above 1, NaN) give what the TypeScript gives, result or error', () => {
    const spec: RandomCase = {
      rows: 12,
      cols: 20,
      sparsity: 0.8,
      dropFraction: 0.3,
      gammaSal: 0.3,
      quantized: true,
      zeroActive: 0.1,
      constantFanIn: false,
    };
    const layer = randomLayer(spec, 99);
    const odd: SriglLayerOptions[] = [
      { sparsity: 2, dropFraction: 0.3, gammaSal: null },
      { sparsity: 1e21, dropFraction: 0.3, gammaSal: 0.3 },
      { sparsity: 0.8, dropFraction: 1.5, gammaSal: null },
      { sparsity: 0.8, dropFraction: 1.5, gammaSal: 0.3 },
      { sparsity: 0.8, dropFraction: -0.5, gammaSal: 0.3 },
      { sparsity: 0.8, dropFraction: 1, gammaSal: 0.3 },
      { sparsity: 0.8, dropFraction: 0, gammaSal: 0 },
      { sparsity: 0.8, dropFraction: 0.3, gammaSal: 2.5 },
      { sparsity: 0.8, dropFraction: 0.3, gammaSal: -1 },
      { sparsity: 0.8, dropFraction: 0.3, gammaSal: NaN },
      { sparsity: 0.8, dropFraction: 0.3, gammaSal: Infinity },
      { sparsity: NaN, dropFraction: 0.3, gammaSal: 0.3 },
      { sparsity: 0.8, dropFraction: NaN, gammaSal: 0.3 },
      { sparsity: 0, dropFraction: 0.3, gammaSal: 0.3 },
      { sparsity: -Infinity, dropFraction: 0.3, gammaSal: null },
    ];
    for (const options of odd) compareOn(native, `s ${options.sparsity}, f ${options.dropFraction}, γ ${options.gammaSal}`, layer, options);
  });
});
