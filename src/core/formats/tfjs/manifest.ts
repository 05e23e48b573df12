import { CheckpointError } from '../../errors';
import { isJsonObject } from '../../jsonValue';

/**
 * A TF.js `weightsManifest`: groups of weights, each stored in the group's shard files
 * concatenated in `paths` order, weights back to back in listed order.
 */

/** Stored bytes per element of each quantization dtype. */
export const QUANTIZED_BYTES = { uint8: 1, uint16: 2, float16: 2 } as const;
export type QuantizationDType = keyof typeof QUANTIZED_BYTES;

export interface Quantization {
  readonly dtype: QuantizationDType;
  readonly scale?: number;
  readonly min?: number;
}

export interface WeightSpec {
  readonly name: string;
  readonly shape: number[];
  readonly dtype: string;
  readonly quantization?: Quantization;
}

export interface ManifestGroup {
  readonly paths: string[];
  readonly weights: WeightSpec[];
}

export function parseManifest(path: string, manifest: unknown): ManifestGroup[] {
  const bad = (what: string) => new CheckpointError(path, 'corrupt', `weightsManifest: ${what}`);
  if (!Array.isArray(manifest)) throw bad('is not a list of weight groups');
  return manifest.map((group, g) => {
    if (!isJsonObject(group)) throw bad(`group ${g + 1} is not an object`);
    const { paths, weights } = group;
    if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string'))
      throw bad(`group ${g + 1}: "paths" is not a list of file names`);
    if (!Array.isArray(weights)) throw bad(`group ${g + 1}: "weights" is not a list`);
    return { paths: paths as string[], weights: weights.map((w, i) => parseWeightSpec(path, g, i, w)) };
  });
}

function parseWeightSpec(path: string, g: number, i: number, w: unknown): WeightSpec {
  const where = `weightsManifest group ${g + 1}, weight ${i + 1}`;
  if (!isJsonObject(w) || typeof w.name !== 'string' || w.name === '') throw new CheckpointError(path, 'corrupt', `${where} has no name`);
  const bad = (what: string) => new CheckpointError(path, 'corrupt', `weight ${JSON.stringify(w.name)}: ${what}`);
  if (!Array.isArray(w.shape) || !w.shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw bad('shape is not a list of non-negative integers');
  }
  if (typeof w.dtype !== 'string') throw bad('dtype is missing');
  const spec = { name: w.name, shape: w.shape as number[], dtype: w.dtype };
  if (w.quantization === undefined || w.quantization === null) return spec;
  const q = w.quantization;
  if (!isJsonObject(q)) throw bad('quantization is not an object');
  if (typeof q.dtype !== 'string' || !Object.hasOwn(QUANTIZED_BYTES, q.dtype)) {
    // Only a string is quoted: String() of a list nested thousands deep overflows the stack.
    const shown = typeof q.dtype === 'string' ? `${JSON.stringify(q.dtype)} is not` : `is ${jsonKind(q.dtype)}, not`;
    throw new CheckpointError(
      path,
      'unsupported',
      `weight ${JSON.stringify(w.name)}: quantization dtype ${shown} one TF.js defines (uint8, uint16, float16)`,
    );
  }
  return {
    ...spec,
    quantization: {
      dtype: q.dtype as QuantizationDType,
      ...(q.scale !== undefined ? { scale: q.scale as number } : {}),
      ...(q.min !== undefined ? { min: q.min as number } : {}),
    },
  };
}

/** What kind of JSON value a non-string is, for messages that must not print it. */
function jsonKind(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}
