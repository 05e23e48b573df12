import * as nodePath from 'node:path';
import type { Checkpoint, SkippedTensor, TensorEntry } from '../../checkpoint';
import { CheckpointError } from '../../errors';
import { withFile, type RandomAccessFile } from '../../randomAccessFile';
import { resolveFileBesideModel, type FileBesideModel } from '../shared/fileBesideModel';
import { isJsonObject } from '../../jsonValue';
import { readJsonObject } from '../shared/jsonDocument';
import { readSafetensors } from './reader';

/** More distinct shard files than this in one model is not a real checkpoint (Hugging Face writes a few hundred at most). */
export const MAX_SHARDS = 100_000;

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

export function shardName(fileName: string): ShardName | undefined {
  const m = SHARD_NAME.exec(fileName);
  if (!m) return undefined;
  const index = Number(m[2]);
  const count = Number(m[3]);
  if (!(index >= 1 && index <= count && count >= 2 && count <= MAX_SHARDS)) return undefined;
  return { prefix: m[1], count, countText: m[3] };
}

/** The index Hugging Face writes beside shards named `<prefix>-0000i-of-0000n.safetensors`. */
export function indexNameOf(prefix: string): string {
  return `${prefix}.safetensors.index.json`;
}

export function isSafetensorsIndex(json: Record<string, unknown>): boolean {
  return 'weight_map' in json;
}

/**
 * Reads a `.safetensors` file. A shard named like `model-00001-of-00003.safetensors` opens as the
 * whole model when its index exists (and lists it) or, without an index, when every sibling
 * shard exists; a lone shard is read as the file it is. The index and the siblings are found by
 * name and resolved as any file a model names (in its folder, links not leading out).
 */
export async function readSafetensorsOrShardSet(file: RandomAccessFile): Promise<Checkpoint> {
  const name = shardName(nodePath.basename(file.path));
  if (!name) return readSafetensors(file);
  const indexName = indexNameOf(name.prefix);
  const index = await besideIfPresent(file.path, indexName, `index ${JSON.stringify(indexName)}`);
  if (index) {
    const json = await withFile(index.path, readJsonObject);
    const weightMap = json.weight_map;
    if (isJsonObject(weightMap) && Object.values(weightMap).includes(nodePath.basename(file.path))) {
      return readSafetensorsIndex(nodePath.join(nodePath.dirname(file.path), indexName), json);
    }
  }
  const width = name.countText.length;
  const siblings: ShardFile[] = [];
  for (let i = 1; i <= name.count; i++) {
    const sibling = `${name.prefix}-${String(i).padStart(width, '0')}-of-${name.countText}.safetensors`;
    const resolved = await besideIfPresent(file.path, sibling, `shard ${JSON.stringify(sibling)}`);
    if (!resolved) return readSafetensors(file);
    siblings.push({ name: sibling, path: resolved.path });
  }
  return readShardSet(file.path, siblings);
}

/** A file beside the model, or undefined when there is none (a link leading out is still refused). */
async function besideIfPresent(modelPath: string, name: string, what: string): Promise<FileBesideModel | undefined> {
  try {
    return await resolveFileBesideModel(modelPath, name, what);
  } catch (e) {
    if (e instanceof CheckpointError && e.problem === 'io') return undefined;
    throw e;
  }
}

interface ShardFile {
  /** As the index or the shard naming scheme writes it. */
  readonly name: string;
  /** Resolved, for reading. */
  readonly path: string;
}

/** Reads every shard as a single safetensors file (errors name the shard): its tensors by name, and the merged `__metadata__`. */
async function readShards(
  shards: readonly ShardFile[],
): Promise<{ held: Map<string, Map<string, TensorEntry>>; metadata: Record<string, string> }> {
  const held = new Map<string, Map<string, TensorEntry>>();
  const metadata: Record<string, string> = {};
  for (const shard of shards) {
    const checkpoint = await withFile(shard.path, readSafetensors);
    held.set(shard.name, new Map(checkpoint.tensors.map((t) => [t.name, t])));
    for (const [k, v] of Object.entries(checkpoint.metadata)) if (!(k in metadata)) metadata[k] = v;
  }
  return { held, metadata };
}

/** All shards of a set without an index: the union of their tensors; a name in two shards is an error. */
async function readShardSet(openedPath: string, shards: readonly ShardFile[]): Promise<Checkpoint> {
  const { held, metadata } = await readShards(shards);
  const tensors: TensorEntry[] = [];
  const owner = new Map<string, string>();
  for (const shard of shards) {
    for (const t of held.get(shard.name)!.values()) {
      const first = owner.get(t.name);
      if (first !== undefined) throw new CheckpointError(shard.path, 'corrupt', `tensor ${JSON.stringify(t.name)} is also in ${first}`);
      owner.set(t.name, shard.name);
      tensors.push(t);
    }
  }
  return {
    file: openedPath,
    format: 'safetensors',
    tensors,
    metadata: { ...metadata, shards: String(shards.length), 'shard files': shards.map((s) => s.name).join(', ') },
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
  const shardNames = new Set<string>();
  for (const [tensor, shard] of entries) {
    if (typeof shard !== 'string')
      throw new CheckpointError(indexPath, 'corrupt', `weight_map: tensor ${JSON.stringify(tensor)} does not name a shard file`);
    shardNames.add(shard);
    if (shardNames.size > MAX_SHARDS)
      throw new CheckpointError(indexPath, 'unsupported', `weight_map names more than ${MAX_SHARDS} shard files`);
  }
  const shardFiles: ShardFile[] = [];
  for (const shard of shardNames) {
    const resolved = await resolveFileBesideModel(indexPath, shard, `shard ${JSON.stringify(shard)}`);
    shardFiles.push({ name: shard, path: resolved.path });
  }
  const { held: shards, metadata } = await readShards(shardFiles);

  const mapped = new Map(entries as [string, string][]);
  const tensors: TensorEntry[] = [];
  for (const [name, shard] of mapped) {
    const tensor = shards.get(shard)!.get(name);
    if (!tensor) {
      throw new CheckpointError(
        indexPath,
        'corrupt',
        `weight_map puts tensor ${JSON.stringify(name)} in ${JSON.stringify(shard)}, which does not hold it`,
      );
    }
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
  metadata.shards = String(shardNames.size);
  metadata['shard files'] = [...shardNames].join(', ');
  return { file: indexPath, format: 'safetensors', tensors, metadata, skipped };
}
