import { CheckpointError } from '../errors';
import type { RandomAccessFile } from '../randomAccessFile';

/** The largest JSON file read (TF.js model.json with a big graph, safetensors index). */
export const MAX_JSON_BYTES = 100_000_000;

/**
 * Reads and parses a whole JSON file (model descriptions are small beside their weights). Too
 * large or not JSON → 'corrupt'; a top level that is not an object → 'unknown-format'.
 */
export async function readJsonObject(file: RandomAccessFile): Promise<Record<string, unknown>> {
  if (file.size === 0) throw new CheckpointError(file.path, 'empty', 'the file is empty');
  if (file.size > MAX_JSON_BYTES) {
    throw new CheckpointError(file.path, 'unknown-format', `a ${file.size}-byte .json file is larger than any model description read (${MAX_JSON_BYTES} bytes)`);
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(await file.read(0, file.size));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(file.path, 'corrupt', `not valid JSON: ${(e as Error).message}`);
  }
  if (!isJsonObject(value)) throw new CheckpointError(file.path, 'unknown-format', 'the JSON is not an object, so not a model description');
  return value;
}

export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
