/**
 * SRigL's masks and mask-update figures as the checkpoint editor's Fine-tuning section takes them:
 * each mask (storage order, one byte a weight, as the training job gives it) packed 8 positions a
 * byte in the layer's [neurons, fan-in] view, and each update's figures without their arrays.
 * No vscode import: unit-tested.
 */
import type { WeightLayout } from '../core/checkpoint';
import { NeuronView } from '../core/neuronView';
import type { MaskUpdateFigures } from '../kernels/jobs/jobTypes';
import { MAX_LIVE_MASK_WEIGHTS, type PackedMask, type TrainingMaskUpdate } from '../webview/protocol';

/** A masked layer: its initializer's name, shape and which axes are neurons and inputs. */
export interface MaskedLayer {
  readonly name: string;
  readonly shape: readonly number[];
  readonly layout: WeightLayout;
}

/** Bytes of one packed row of `cols` positions. */
export const packedRowBytes = (cols: number): number => Math.ceil(cols / 8);

/**
 * A mask in storage order packed in its [neurons, fan-in] view (see PackedMask); null when the
 * layer has more than `maxWeights` weights (too large to be sent live).
 */
export function packMask(layer: MaskedLayer, mask: Uint8Array, maxWeights = MAX_LIVE_MASK_WEIGHTS): PackedMask | null {
  const view = new NeuronView(layer.shape, layer.layout);
  const n = view.rows * view.cols;
  if (mask.length !== n) throw new RangeError(`the mask of ${layer.name} has ${mask.length} positions, its weight ${n}`);
  if (n > maxWeights) return null;
  const stride = packedRowBytes(view.cols);
  const packed = new Uint8Array(view.rows * stride);
  if (view.rowMajor) {
    // Storage order is row order: index(r, c) = r · cols + c.
    for (let r = 0, i = 0; r < view.rows; r++) {
      const row = r * stride;
      for (let c = 0; c < view.cols; c++, i++) if (mask[i]) packed[row + (c >> 3)] |= 0x80 >> (c & 7);
    }
  } else {
    for (let r = 0; r < view.rows; r++) {
      const row = r * stride;
      for (let c = 0; c < view.cols; c++) if (mask[view.index(r, c)]) packed[row + (c >> 3)] |= 0x80 >> (c & 7);
    }
  }
  return packed;
}

/** Every layer's mask packed, by name (layers without a mask in `masks` are left out). */
export function packMasks(
  layers: readonly MaskedLayer[],
  masks: Readonly<Record<string, Uint8Array>> | ReadonlyMap<string, Uint8Array>,
  maxWeights = MAX_LIVE_MASK_WEIGHTS,
): Record<string, PackedMask | null> {
  const get = (name: string) => (masks instanceof Map ? masks.get(name) : (masks as Readonly<Record<string, Uint8Array>>)[name]);
  const out: Record<string, PackedMask | null> = {};
  for (const layer of layers) {
    const mask = get(layer.name);
    if (mask) out[layer.name] = packMask(layer, mask, maxWeights);
  }
  return out;
}

/** An update of the training job as the webview takes it: figures per layer, the masks packed. */
export function maskUpdateOf(
  update: MaskUpdateFigures & { readonly masks?: Readonly<Record<string, Uint8Array>> },
  layers: readonly MaskedLayer[],
  maxWeights = MAX_LIVE_MASK_WEIGHTS,
): TrainingMaskUpdate {
  return {
    index: update.index,
    of: update.of,
    dropFraction: update.dropFraction,
    layers: update.layers.map((l) => ({
      name: l.name,
      k: l.k,
      ablated: l.ablated.length,
      grown: l.grown,
      dropped: l.dropped,
      active: l.active,
    })),
    ...(update.masks ? { masks: packMasks(layers, update.masks, maxWeights) } : {}),
  };
}
