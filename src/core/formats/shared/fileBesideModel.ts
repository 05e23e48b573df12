import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import { CheckpointError } from '../../errors';

/** A file that a model file names, after checking that it lies in the model's folder. */
export interface FileBesideModel {
  /** The resolved path (links followed), for reading. */
  readonly path: string;
  readonly size: number;
}

/**
 * Resolves a file that a model file refers to by a relative path (TF.js weight shards,
 * safetensors shards, ONNX external data). The path must name a regular file inside the model's
 * folder: absolute paths, `..` escapes and links leading outside are refused ('unsafe'), since a
 * model file must not make us read arbitrary files. Errors name `modelPath`, the file the user
 * opened, and describe the reference as `what` (e.g. `weight file "group1-shard1of2.bin"`).
 */
export async function resolveFileBesideModel(modelPath: string, location: string, what: string): Promise<FileBesideModel> {
  const refuse = (why: string) => new CheckpointError(modelPath, 'unsafe', `${what} ${why}`);
  if (location === '') throw new CheckpointError(modelPath, 'corrupt', `${what} has an empty path`);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new CheckpointError(modelPath, 'unsupported', `${what} is a URL; only files beside the model are read`);
  }
  if (nodePath.isAbsolute(location) || nodePath.win32.isAbsolute(location) || location.split(/[\\/]/).includes('..')) {
    throw refuse(`leaves the model's folder`);
  }
  const folder = nodePath.dirname(nodePath.resolve(modelPath));
  let realFolder: string;
  let realTarget: string;
  try {
    realFolder = await fs.realpath(folder);
    realTarget = await fs.realpath(nodePath.resolve(folder, location));
  } catch {
    throw new CheckpointError(modelPath, 'io', `${what} not found`);
  }
  const inside = realFolder.endsWith(nodePath.sep) ? realFolder : realFolder + nodePath.sep;
  if (!realTarget.startsWith(inside)) throw refuse(`links outside the model's folder`);
  const stat = await fs.stat(realTarget);
  if (!stat.isFile()) throw new CheckpointError(modelPath, 'io', `${what} is not a regular file`);
  return { path: realTarget, size: stat.size };
}
