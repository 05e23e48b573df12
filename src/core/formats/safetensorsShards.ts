import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import type { Checkpoint, SkippedTensor, TensorEntry } from '../checkpoint';
import { CheckpointError } from '../errors';
import { withFile, type RandomAccessFile } from '../randomAccessFile';
import { resolveFileBesideModel } from './fileBesideModel';
import { isJsonObject, readJsonObject } from './jsonDocument';
import { readSafetensors } from './safetensors';

/**
 * Hugging Face's sharded safetensors: `model-00001-of-00003.safetensors` … plus an index
 * `model.safetensors.index.json` = {"metadata": {"total_size": …}, "weight_map": {tensor: shard}}.
 * A sharded model is reported as one checkpoint whose tensors keep their own shard's byte ranges.
 */
const SHARD_NAME = /^(.+)-(\d+)-of-(\d+)\.safetensors$/;

interface ShardName {
  readonly prefix: string;
  readonly count: number;
  /** The zero-padded total as written in the name ("00003"). */
  readonly countText: string;
}

function shardName(fileName: string): ShardName | undefined {
  const m = SHARD_NAME.exec(fileName);
  if (!m) return undefined;
  const index = Number(m[2]);
  const count = Number(m[3]);
  if (!(index >= 1 && index <= count && count >= 2 && count <= 100_000)) return undefined;
  return { prefix: m[1], count, countText: m[3] };
}

/** The index Hugging Face writes beside shards named `<prefix>-0000i-of-0000n.safetensors`. */
function indexPathOf(folder: string, prefix: string): string {
  return nodePath.join(folder, `${prefix}.safetensors.index.json`);
}

export function isSafetensorsIndex(json: Record<string, unknown>): boolean {
  return 'weight_map' in json;
}

/**
 * Reads a `.safetensors` file. A shard named like `model-00001-of-00003.safetensors` opens as the
 * whole model when its index exists (and lists it) or, without an index, when every sibling
 * shard exists; a lone shard is read as the file it is.
 */
export async function readSafetensorsOrShardSet(file: RandomAccessFile): Promise<Checkpoint> {
  const name = shardName(nodePath.basename(file.path));
  if (!name) return readSafetensors(file);
  const folder = nodePath.dirname(file.path);
  const indexPath = indexPathOf(folder, name.prefix);
  if (await isFile(indexPath)) {
    const index = await withFile(indexPath, readJsonObject);
    const weightMap = index.weight_map;
    if (isJsonObject(weightMap) && Object.values(weightMap).includes(nodePath.basename(file.path))) {
      return readSafetensorsIndex(indexPath, index);
    }
  }
  const width = name.countText.length;
  const siblings: string[] = [];
  for (let i = 1; i <= name.count; i++) {
    siblings.push(nodePath.join(folder, `${name.prefix}-${String(i).padStart(width, '0')}-of-${name.countText}.safetensors`));
  }
  for (const sibling of siblings) if (!(await isFile(sibling))) return readSafetensors(file);
  return readShardSet(file.path, siblings);
}

/** All shards of a set without an index: the union of their tensors; a name in two shards is an error. */
async function readShardSet(openedPath: string, shardPaths: readonly string[]): Promise<Checkpoint> {
  const tensors: TensorEntry[] = [];
  const owner = new Map<string, string>();
  const metadata: Record<string, string> = {};
  for (const shardPath of shardPaths) {
    const shard = await withFile(shardPath, readSafetensors);
    for (const t of shard.tensors) {
      const first = owner.get(t.name);
      if (first !== undefined) {
        throw new CheckpointError(shardPath, 'corrupt', `tensor "${t.name}" is also in ${nodePath.basename(first)}`);
      }
      owner.set(t.name, shardPath);
      tensors.push(t);
    }
    for (const [k, v] of Object.entries(shard.metadata)) if (!(k in metadata)) metadata[k] = v;
  }
  return {
    file: openedPath,
    format: 'safetensors',
    tensors,
    metadata: { ...metadata, shards: String(shardPaths.length), 'shard files': shardPaths.map((p) => nodePath.basename(p)).join(', ') },
    skipped: [],
  };
}

/**
 * Reads a sharded model through its index. Every shard is validated as a single safetensors file
 * is (errors name the shard); a tensor mapped to a shard that does not hold it, a missing shard
 * or a shard path leaving the index's folder is an error naming the index. Tensors a shard holds
 * but the index does not list are not analysed (loaders would not look for them there).
 */
export async function readSafetensorsIndex(indexPath: string, index: Record<string, unknown>): Promise<Checkpoint> {
  const weightMap = index.weight_map;
  if (!isJsonObject(weightMap)) throw new CheckpointError(indexPath, 'corrupt', 'weight_map is not an object of tensor name → shard file');
  const entries = Object.entries(weightMap);
  if (entries.length === 0) throw new CheckpointError(indexPath, 'corrupt', 'weight_map lists no tensors');
  const shardFiles: string[] = [];
  for (const [tensor, shard] of entries) {
    if (typeof shard !== 'string') throw new CheckpointError(indexPath, 'corrupt', `weight_map: tensor "${tensor}" does not name a shard file`);
    if (!shardFiles.includes(shard)) shardFiles.push(shard);
  }

  const shards = new Map<string, Map<string, TensorEntry>>();
  const metadata: Record<string, string> = {};
  for (const shard of shardFiles) {
    const resolved = await resolveFileBesideModel(indexPath, shard, `shard "${shard}"`);
    const checkpoint = await withFile(resolved.path, readSafetensors);
    shards.set(shard, new Map(checkpoint.tensors.map((t) => [t.name, t])));
    for (const [k, v] of Object.entries(checkpoint.metadata)) if (!(k in metadata)) metadata[k] = v;
  }

  const mapped = new Map(entries as [string, string][]);
  const tensors: TensorEntry[] = [];
  for (const [name, shard] of mapped) {
    const tensor = shards.get(shard)!.get(name);
    if (!tensor) throw new CheckpointError(indexPath, 'corrupt', `weight_map puts tensor "${name}" in "${shard}", which does not hold it`);
    tensors.push(tensor);
  }
  const skipped: SkippedTensor[] = [];
  for (const [shard, held] of shards) {
    for (const name of held.keys()) {
      if (mapped.get(name) !== shard) skipped.push({ name, reason: `held by ${shard} but not listed there in the index's weight_map` });
    }
  }

  if (isJsonObject(index.metadata)) {
    for (const [k, v] of Object.entries(index.metadata)) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') metadata[k] = String(v);
    }
  }
  metadata.shards = String(shardFiles.length);
  metadata['shard files'] = shardFiles.join(', ');
  return { file: indexPath, format: 'safetensors', tensors, metadata, skipped };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await fs.stat(path)).isFile();
  } catch {
    return false;
  }
}
