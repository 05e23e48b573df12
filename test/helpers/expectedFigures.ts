import { strict as assert } from 'node:assert';
import type { SparsityReport } from '../../src/core/analysis/report';
import { IN_OUT_LAYOUT, OUT_IN_LAYOUT, type Checkpoint, type WeightLayout } from '../../src/core/checkpoint';
import { createKernels, type KernelBackend } from '../../src/kernels/createKernels';
import { REPO } from './fixtures';

export interface NmFigures {
  readonly groups: number;
  readonly compliant: number;
  readonly partial: number;
}

/**
 * A tensor's figures as a fixture script computed them (numpy, torch, tfjs-core), independently
 * of the code under test. Every fixture folder's expected.json lists these per file.
 */
export interface ExpectedTensor {
  readonly name: string;
  readonly shape: number[];
  readonly dtype: string;
  readonly role: string;
  readonly layout: 'out_in' | 'in_out' | WeightLayout | null;
  readonly numel: number;
  readonly nnz: number;
  readonly negativeZeros?: number | null;
  /** Non-zeros per output neuron; null for role other. */
  readonly fanIn: number[] | null;
  readonly nm_2_4: NmFigures | null;
  readonly nm_1_4: NmFigures | null;
  readonly nm_4_8: NmFigures | null;
  /**
   * How the analysed values were derived from the stored bytes, when they were: the report's note
   * (null or absent when not derived); fixture families whose scripts describe it otherwise (TF.js:
   * the code that decodes to 0) narrow the type.
   */
  readonly note?: unknown;
}

/** The N:M patterns each fixture's figures are given for, with their expected.json keys. */
export const NM_PATTERNS = [
  ['nm_2_4', 2, 4],
  ['nm_1_4', 1, 4],
  ['nm_4_8', 4, 8],
] as const;

export type NmKey = (typeof NM_PATTERNS)[number][0];

function layoutOf(want: ExpectedTensor['layout']): WeightLayout | null {
  if (want === 'out_in') return OUT_IN_LAYOUT;
  if (want === 'in_out') return IN_OUT_LAYOUT;
  return want;
}

/**
 * Asserts that `report` (made with the N:M pattern of `key`) and the layouts of `checkpoint`
 * hold the expected figures of every tensor in `tensors`, including each neuron's fan-in as the
 * kernels of `backend` count it.
 */
export async function assertExpectedFigures(
  label: string,
  report: SparsityReport,
  checkpoint: Checkpoint,
  tensors: readonly ExpectedTensor[],
  key: NmKey,
  backend: KernelBackend,
): Promise<void> {
  const [, n, m] = NM_PATTERNS.find(([k]) => k === key)!;
  const kernels = createKernels({ backend, root: REPO });
  try {
    for (const want of tensors) {
      const what = `${label}: ${want.name}`;
      const layer = report.layers.find((l) => l.name === want.name);
      assert.ok(layer, `${what} is reported`);
      assert.deepEqual(layer.shape, want.shape, what);
      assert.equal(layer.dtype, want.dtype, what);
      assert.equal(layer.role, want.role, what);
      assert.equal(layer.numel, want.numel, what);
      assert.equal(layer.nnz, want.nnz, `${what} nnz`);
      assert.equal(layer.negativeZeros, want.negativeZeros ?? 0, `${what} -0.0`);
      // The fixture scripts count groups; the excess is checked against numpy in test/unit/analysis/nmCounts.test.ts.
      const nm = layer.nm && { groups: layer.nm.groups, compliant: layer.nm.compliant, partial: layer.nm.partial };
      assert.deepEqual(nm, want[key], `${what} ${n}:${m}`);
      const tensor = checkpoint.tensors.find((t) => t.name === want.name)!;
      assert.deepEqual(tensor.layout ?? null, layoutOf(want.layout), `${what} layout`);
      if (!want.fanIn) {
        assert.equal(layer.fanIn, null, what);
        continue;
      }
      const scan = await kernels.scan({ ...tensor, nm: { n, m } });
      assert.deepEqual(Array.from(scan.fanIn!), want.fanIn, `${what} fan-in per neuron`);
      const neurons = want.fanIn.length;
      assert.equal(layer.fanIn!.min, neurons ? Math.min(...want.fanIn) : 0, `${what} fan-in min`);
      assert.equal(layer.fanIn!.max, neurons ? Math.max(...want.fanIn) : 0, `${what} fan-in max`);
      const mean = neurons ? want.fanIn.reduce((a, b) => a + b, 0) / neurons : 0;
      assert.ok(Math.abs(layer.fanIn!.mean - mean) < 1e-9, `${what} fan-in mean ${layer.fanIn!.mean} vs ${mean}`);
      assert.equal(layer.fanIn!.zeroNeurons, want.fanIn.filter((c) => c === 0).length, `${what} dead neurons`);
    }
  } finally {
    await kernels.dispose();
  }
}
