import * as nodePath from 'node:path';
import { isJsonObject } from '../../jsonValue';
import { writeWholeFile } from '../../outputFiles';
import { withFile } from '../../randomAccessFile';
import { rangePatches, writePieces } from '../shared/patchedCopy';
import { readJsonObject } from '../shared/jsonDocument';
import type { CheckpointWriter, WriteRequest } from '../writer';
import { topLevelKeys } from './reader';
import { indexNameOf, shardName } from './shards';

/**
 * Safetensors written back: the header with the same tensors in the same order (dtypes, shapes
 * and data offsets as they were), `__metadata__` keeping every key and gaining the provenance,
 * padded with spaces to 8 bytes as the reference writer does; the data section copied with the
 * edits patched in. A shard set is written shard by shard, with its index when it had one.
 */
export const writeSafetensors: CheckpointWriter = async (request) => {
  const shards = [...new Set(request.checkpoint.tensors.map((t) => (t.stored.kind === 'range' ? t.stored.file : request.checkpoint.file)))];
  const isShardSet = request.checkpoint.file.endsWith('.index.json') || shards.length > 1;
  if (!isShardSet) {
    await writeOne(request.checkpoint.file, nodePath.join(request.folder, nodePath.basename(request.output)), request);
    return [nodePath.basename(request.output)];
  }
  const prefix = outputPrefix(request.output);
  const names = new Map(shards.map((s) => [s, shardOutputName(nodePath.basename(s), prefix)]));
  for (const [shard, name] of names) await writeOne(shard, nodePath.join(request.folder, name), request);
  if (!request.checkpoint.file.endsWith('.index.json')) return [...names.values()];
  const index = indexNameOf(prefix);
  await writeIndex(request.checkpoint.file, nodePath.join(request.folder, index), names, request.provenance);
  return [...names.values(), index];
};

/** The shard-name prefix of an output named `P.safetensors.index.json`, `P-0000i-of-0000n.safetensors` or `P.safetensors`. */
function outputPrefix(output: string): string {
  const base = nodePath.basename(output);
  if (base.endsWith('.safetensors.index.json')) return base.slice(0, -'.safetensors.index.json'.length);
  return shardName(base)?.prefix ?? base.replace(/\.safetensors$/, '');
}

/** `model-00001-of-00003.safetensors` → `P-00001-of-00003.safetensors`; a shard named otherwise keeps its name after `P-`. */
function shardOutputName(input: string, prefix: string): string {
  const name = shardName(input);
  return name ? `${prefix}${input.slice(name.prefix.length)}` : `${prefix}-${input}`;
}

/** One safetensors file: a new header, then the data section with this file's edits. */
async function writeOne(input: string, output: string, request: WriteRequest): Promise<void> {
  const patches = rangePatches(
    input,
    request.edits.filter((e) => (e.target.kind === 'zipMember' ? e.target.archive : e.target.file) === input),
  );
  await withFile(input, async (file) => {
    const length = Number(new DataView((await file.read(0, 8)).buffer).getBigUint64(0, true));
    const header = headerWithMetadata(new TextDecoder().decode(await file.read(8, length)), input, request.provenance);
    await writePieces(file, [header, { from: 8 + length, to: file.size }], patches, output, request.signal);
  });
}

/** The header with `__metadata__` merged and each tensor's entry as it was, in its order. */
function headerWithMetadata(text: string, path: string, provenance: Readonly<Record<string, string>>): Uint8Array {
  const header = JSON.parse(text) as Record<string, unknown>;
  const metadata = { ...(isJsonObject(header.__metadata__) ? header.__metadata__ : {}), ...provenance };
  const entries = topLevelKeys(text, path).filter((k) => k !== '__metadata__');
  return encodeHeader(
    metadata,
    entries.map((k) => [k, header[k]]),
  );
}

/**
 * A safetensors header as written: the 8-byte length, then the JSON object with `__metadata__`
 * first and the tensors' entries in the order given, padded with spaces to 8 bytes as the
 * reference writer does.
 */
export function encodeHeader(metadata: Readonly<Record<string, unknown>>, entries: readonly (readonly [string, unknown])[]): Uint8Array {
  const parts = [`"__metadata__":${JSON.stringify(metadata)}`, ...entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`)];
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const padding = (8 - (json.length % 8)) % 8;
  const out = new Uint8Array(8 + json.length + padding).fill(0x20, 8 + json.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length + padding), true);
  out.set(json, 8);
  return out;
}

/** The index with its shards renamed and its `metadata` gaining the provenance; every other key kept. */
async function writeIndex(
  input: string,
  output: string,
  names: ReadonlyMap<string, string>,
  provenance: Readonly<Record<string, string>>,
): Promise<void> {
  const index = await withFile(input, readJsonObject);
  const byBase = new Map([...names].map(([path, name]) => [nodePath.basename(path), name]));
  const weightMap = Object.fromEntries(
    Object.entries(index.weight_map as Record<string, string>).map(([tensor, shard]) => [
      tensor,
      byBase.get(nodePath.basename(shard)) ?? shard,
    ]),
  );
  const metadata = { ...(isJsonObject(index.metadata) ? index.metadata : {}), ...provenance };
  await writeWholeFile(output, new TextEncoder().encode(JSON.stringify({ ...index, metadata, weight_map: weightMap }, null, 2) + '\n'));
}
