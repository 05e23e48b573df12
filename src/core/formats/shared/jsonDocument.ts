import { isJsonObject } from '../../jsonValue';
import { CheckpointError } from '../../errors';
import type { RandomAccessFile } from '../../randomAccessFile';

/** The largest JSON file read (TF.js model.json with a big graph, safetensors index). */
export const MAX_JSON_BYTES = 100_000_000;

/**
 * Reads and parses a whole JSON file (model descriptions and settings files are small beside
 * weights). Empty → 'empty'; larger than `maxBytes` or not JSON → 'corrupt'.
 */
export async function readJsonValue(file: RandomAccessFile, maxBytes = MAX_JSON_BYTES): Promise<unknown> {
  if (file.size === 0) throw new CheckpointError(file.path, 'empty', 'the file is empty');
  if (file.size > maxBytes) {
    throw new CheckpointError(
      file.path,
      'corrupt',
      `a ${file.size}-byte JSON file is larger than any file of its kind read here (${maxBytes} bytes)`,
    );
  }
  const text = new TextDecoder('utf-8', { fatal: false }).decode(await file.read(0, file.size));
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new CheckpointError(file.path, 'corrupt', `not valid JSON: ${(e as Error).message}`);
  }
}

/** As readJsonValue; a top level that is not an object → 'unknown-format' (not a model description). */
export async function readJsonObject(file: RandomAccessFile): Promise<Record<string, unknown>> {
  const value = await readJsonValue(file);
  if (!isJsonObject(value)) throw new CheckpointError(file.path, 'unknown-format', 'the JSON is not an object, so not a model description');
  return value;
}
