import { numelOf, type WeightLayout } from '../../core/checkpoint';
import { decodeToFloat64, markNonZero, type DType } from '../../core/dtype';
import { stridesOf } from '../../core/neuronView';
import { checkNmPattern, type NmPattern } from '../../core/nmPattern';
import { HISTOGRAM_BINS, HISTOGRAM_ZERO_BIN, histogramBin } from '../../core/histogram';
import type { NmCounts, ScanKernels, ScanRequest, ScanResult } from '../scanKernels';
import { referenceHeatmap } from './heatmap';
import { CHUNK_ELEMENTS, tensorChunks } from '../../core/tensorBytes';
import { referenceWeightWindow } from './weightWindow';

/** Bit pattern of -0.0 per dtype, for the dtypes that have one. */
function countNegativeZeros(dtype: DType, bytes: Uint8Array, count: number): number {
  let n = 0;
  switch (dtype) {
    case 'float32': {
      const u = new Uint32Array(bytes.buffer, bytes.byteOffset, count);
      for (let i = 0; i < count; i++) if (u[i] === 0x80000000) n++;
      break;
    }
    case 'float64': {
      const u = new Uint32Array(bytes.buffer, bytes.byteOffset, count * 2);
      for (let i = 0; i < count; i++) if (u[2 * i] === 0 && u[2 * i + 1] === 0x80000000) n++;
      break;
    }
    case 'float16':
    case 'bfloat16': {
      const u = new Uint16Array(bytes.buffer, bytes.byteOffset, count);
      for (let i = 0; i < count; i++) if (u[i] === 0x8000) n++;
      break;
    }
    case 'float8_e4m3fn':
    case 'float8_e5m2':
      for (let i = 0; i < count; i++) if (bytes[i] === 0x80) n++;
      break;
  }
  return n;
}

/**
 * Walks elements in storage order, tracking each one's output neuron, input position and N:M
 * group, so fan-in, fan-out and N:M counts work for any layout in a single pass.
 */
class LayoutCounter {
  readonly fanIn: Uint32Array;
  readonly fanOut: Uint32Array;
  private readonly outStride: number;
  private readonly outDim: number;
  private outPos = 0;
  private out = 0;
  private positionBase = 0;

  private readonly inStride: number;
  private readonly inDim: number;
  private readonly m: number;
  private readonly n: number;
  private readonly groupsPerLine: number;
  private readonly groupCounts: Uint16Array;
  private inPos = 0;
  private inIndex = 0;
  private group = 0;
  private inGroup = 0;
  private nm = { groups: 0, compliant: 0, partial: 0, excess: 0 };

  constructor(shape: readonly number[], layout: WeightLayout, pattern: NmPattern | undefined) {
    const strides = stridesOf(shape);
    this.outStride = strides[layout.outAxis];
    this.outDim = shape[layout.outAxis];
    this.fanIn = new Uint32Array(this.outDim);
    this.fanOut = new Uint32Array(this.outDim === 0 ? 0 : numelOf(shape) / this.outDim);
    this.inStride = strides[layout.inAxis];
    this.inDim = shape[layout.inAxis];
    this.m = pattern?.m ?? 0;
    this.n = pattern?.n ?? 0;
    this.groupsPerLine = this.m > 0 ? Math.ceil(this.inDim / this.m) : 0;
    // One counter per group of the current block (all elements sharing the axes before inAxis).
    this.groupCounts = new Uint16Array(this.groupsPerLine * this.inStride);
  }

  add(nonZero: Uint8Array, count: number): void {
    const withNm = this.m > 0;
    for (let i = 0; i < count; i++) {
      if (nonZero[i]) {
        this.fanIn[this.out]++;
        this.fanOut[this.positionBase + this.outPos]++;
        if (withNm) this.groupCounts[this.group * this.inStride + this.inPos]++;
      }
      if (++this.outPos === this.outStride) {
        this.outPos = 0;
        if (++this.out === this.outDim) {
          this.out = 0;
          this.positionBase += this.outStride;
        }
      }
      if (withNm && ++this.inPos === this.inStride) {
        this.inPos = 0;
        if (++this.inGroup === this.m) {
          this.inGroup = 0;
          this.group++;
        }
        if (++this.inIndex === this.inDim) {
          this.closeBlock();
          this.inIndex = 0;
          this.group = 0;
          this.inGroup = 0;
        }
      }
    }
  }

  nmCounts(): NmCounts {
    return { ...this.nm };
  }

  private closeBlock(): void {
    const partialLast = this.inDim % this.m !== 0;
    for (let g = 0; g < this.groupsPerLine; g++) {
      const isPartial = partialLast && g === this.groupsPerLine - 1;
      for (let p = 0; p < this.inStride; p++) {
        if (isPartial) this.nm.partial++;
        else {
          this.nm.groups++;
          const count = this.groupCounts[g * this.inStride + p];
          if (count <= this.n) this.nm.compliant++;
          else this.nm.excess += count - this.n;
        }
      }
    }
    this.groupCounts.fill(0);
  }
}

/** One pass over a tensor's bytes, chunk by chunk: non-zeros, fan-in, fan-out, N:M, histogram. */
export async function referenceScan(request: ScanRequest, chunkElements: number, signal?: AbortSignal): Promise<ScanResult> {
  const { source, dtype, shape, layout, nm, zeroThreshold = 0 } = request;
  if (nm) checkNmPattern(nm);
  const numel = numelOf(shape);
  const counter = layout ? new LayoutCounter(shape, layout, nm) : undefined;
  const histogram = request.histogram ? new Float64Array(HISTOGRAM_BINS) : undefined;
  const nonZero = new Uint8Array(Math.min(numel, chunkElements));
  let nnz = 0;
  let negativeZeros = 0;
  for await (const chunk of tensorChunks(source, dtype, numel, chunkElements, signal)) {
    markNonZero(dtype, chunk.bytes, chunk.count, nonZero, zeroThreshold);
    for (let i = 0; i < chunk.count; i++) nnz += nonZero[i];
    negativeZeros += countNegativeZeros(dtype, chunk.bytes, chunk.count);
    counter?.add(nonZero, chunk.count);
    if (histogram) {
      const values = decodeToFloat64(dtype, chunk.bytes, chunk.count);
      for (let i = 0; i < chunk.count; i++) histogram[nonZero[i] ? histogramBin(values[i]) : HISTOGRAM_ZERO_BIN]++;
    }
  }
  return {
    numel,
    nnz,
    negativeZeros,
    ...(counter ? { fanIn: counter.fanIn, fanOut: counter.fanOut } : {}),
    ...(counter && nm ? { nm: counter.nmCounts() } : {}),
    ...(histogram ? { histogram } : {}),
  };
}

/** The scan capability in TypeScript; `chunkElements` bounds the memory of a scan. */
export function referenceScanKernels(chunkElements = CHUNK_ELEMENTS): ScanKernels {
  return {
    scan: (request, signal) => referenceScan(request, chunkElements, signal),
    async scanMany(requests, signal) {
      const results: ScanResult[] = [];
      for (const request of requests) results.push(await referenceScan(request, chunkElements, signal));
      return results;
    },
    heatmap: referenceHeatmap,
    weightWindow: (request) => referenceWeightWindow(request),
  };
}
