import { availableParallelism } from 'node:os';
import type { Kernels, ScanResult, TensorRef } from '../kernels';
import type { NativeLayout, NativeSource } from '../nativeAddon';
import { checkNmPattern } from '../reference/scan';
import { KernelWorkerClient } from './kernelWorkerClient';

function nativeSource(tensor: TensorRef): NativeSource {
  const s = tensor.source;
  return s.kind === 'file' ? { path: s.path, offset: s.offset, length: s.length } : { bytes: s.bytes };
}

function nativeLayout(tensor: TensorRef): NativeLayout {
  return tensor.layout ? { outAxis: tensor.layout.outAxis, inAxis: tensor.layout.inAxis } : { outAxis: -1, inAxis: -1 };
}

/** The C++ kernels, run in a worker process; every call crosses the process boundary once. */
export class NativeKernels implements Kernels {
  readonly name = 'native';
  private readonly threads = Math.max(1, availableParallelism());

  constructor(readonly client: KernelWorkerClient) {}

  scan: Kernels['scan'] = async (request, signal) => {
    if (request.nm) checkNmPattern(request.nm);
    const r = await this.client.call(
      'scan',
      [
        {
          source: nativeSource(request),
          dtype: request.dtype,
          shape: request.shape,
          ...nativeLayout(request),
          n: request.nm?.n ?? 0,
          m: request.nm?.m ?? 0,
          zeroThreshold: request.zeroThreshold ?? 0,
          threads: this.threads,
        },
      ],
      signal,
    );
    const numel = request.shape.reduce((a, b) => a * b, 1);
    const result: ScanResult = { numel, nnz: r.nnz, negativeZeros: r.negativeZeros };
    return {
      ...result,
      ...(r.fanIn && r.fanOut ? { fanIn: r.fanIn, fanOut: r.fanOut } : {}),
      ...(request.layout && request.nm ? { nm: { groups: r.nmGroups, compliant: r.nmCompliant, partial: r.nmPartial } } : {}),
      ...(request.histogram ? { histogram: r.histogram } : {}),
    };
  };

  nmMask: Kernels['nmMask'] = (tensor, nm, signal) => {
    checkNmPattern(nm);
    const args = { source: nativeSource(tensor), dtype: tensor.dtype, shape: tensor.shape, ...nativeLayout(tensor), threads: this.threads };
    return this.client.call('nmMask', [{ ...args, n: nm.n, m: nm.m }], signal);
  };

  fanInMask: Kernels['fanInMask'] = (tensor, k, signal) => {
    const args = { source: nativeSource(tensor), dtype: tensor.dtype, shape: tensor.shape, ...nativeLayout(tensor), threads: this.threads };
    return this.client.call('fanInMask', [{ ...args, k }], signal);
  };

  heatmap: Kernels['heatmap'] = (request, signal) =>
    this.client.call(
      'heatmap',
      [
        {
          source: nativeSource(request),
          dtype: request.dtype,
          shape: request.shape,
          ...nativeLayout(request),
          rowStart: request.rowStart,
          rowEnd: request.rowEnd,
          colStart: request.colStart,
          colEnd: request.colEnd,
          width: request.width,
          height: request.height,
          zeroThreshold: request.zeroThreshold ?? 0,
          threads: this.threads,
        },
      ],
      signal,
    );

  condense: Kernels['condense'] = (weight, outFeatures, inFeatures) => this.client.call('condense', [weight, outFeatures, inFeatures]);

  condensedForward: Kernels['condensedForward'] = (layer, bias, x, batch) =>
    this.client.call('condensedForward', [layer, bias, x, batch, this.threads]);

  denseForward: Kernels['denseForward'] = (weight, bias, outFeatures, inFeatures, x, batch) =>
    this.client.call('denseForward', [weight, bias, outFeatures, inFeatures, x, batch, this.threads]);

  /** Test only: makes the worker abort. */
  crashForTest(): Promise<void> {
    return this.client.call('crashForTest', []);
  }

  async dispose(): Promise<void> {
    this.client.dispose();
  }
}
