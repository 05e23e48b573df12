import type { Checkpoint } from '../checkpoint';
import { CheckpointError } from '../errors';
import type { RandomAccessFile } from '../randomAccessFile';
import { readJsonObject } from './shared/jsonDocument';
import { isSafetensorsIndex, readSafetensorsIndex } from './safetensors/shards';
import { isTfjsModelJson, readTfjsModel } from './tfjs/reader';

/**
 * A `.json` checkpoint: JSON has no magic number, so the content decides between a TF.js
 * `model.json` (has `weightsManifest`) and a sharded safetensors index (has `weight_map`).
 */
export async function readJsonCheckpoint(file: RandomAccessFile): Promise<Checkpoint> {
  const json = await readJsonObject(file);
  if (isSafetensorsIndex(json)) return readSafetensorsIndex(file.path, json);
  if (isTfjsModelJson(json)) return readTfjsModel(file.path, json);
  throw new CheckpointError(
    file.path,
    'unknown-format',
    'a .json file that is neither a TensorFlow.js model.json (no "weightsManifest") nor a safetensors index (no "weight_map")',
  );
}
