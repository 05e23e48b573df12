import { numelOf, type TensorSource } from '../../checkpoint';
import { CheckpointError } from '../../errors';
import { OpenFiles } from '../../randomAccessFile';
import type { StoredRange, StoredTensor } from '../../storedTensor';
import { resolveFileBesideModel } from '../shared/fileBesideModel';
import type { WeightSpec } from './manifest';

interface Shard {
  readonly name: string;
  readonly path: string;
  /** Offset of the shard's first byte in the group's byte sequence. */
  readonly start: number;
  readonly size: number;
}

/** One manifest group's shard files, read as the one byte sequence they form end to end. */
export class WeightGroup {
  private readonly files = new OpenFiles();
  private window: { start: number; bytes: Uint8Array } | undefined;

  private constructor(
    private readonly modelPath: string,
    private readonly group: number,
    private readonly shards: readonly Shard[],
    readonly size: number,
  ) {}

  /** `listed` maps the resolved path of every weight file met so far to its name: one listed twice is refused. */
  static async open(modelPath: string, group: number, paths: readonly string[], listed: Map<string, string>): Promise<WeightGroup> {
    const shards: Shard[] = [];
    let start = 0;
    for (const name of paths) {
      const what = `weight file ${JSON.stringify(name)}`;
      const file = await resolveFileBesideModel(modelPath, name, what);
      const first = listed.get(file.path);
      if (first !== undefined) {
        throw new CheckpointError(
          modelPath,
          'corrupt',
          first === name
            ? `weightsManifest lists ${what} twice`
            : `weightsManifest lists ${what}, the same file as ${JSON.stringify(first)}`,
        );
      }
      listed.set(file.path, name);
      shards.push({ name, path: file.path, start, size: file.size });
      start += file.size;
    }
    return new WeightGroup(modelPath, group, shards, start);
  }

  /** The manifest must not ask for bytes past the end of the group's files. */
  checkRange(spec: WeightSpec, offset: number, length: number): void {
    if (!Number.isSafeInteger(length) || offset + length > this.size) {
      const files = this.shards.map((s) => s.name).join(', ') || 'no files';
      throw new CheckpointError(
        this.modelPath,
        'truncated',
        `weight ${JSON.stringify(spec.name)} [${spec.shape.join(', ')}] needs bytes ${offset}..${offset + length} of weight group ${this.group}, but its files (${files}) hold ${this.size} bytes`,
      );
    }
  }

  /** The weight's bytes as a lazy file range, when one shard holds them all. */
  fileRange(offset: number, length: number): TensorSource | undefined {
    if (length === 0) return { kind: 'inline', bytes: new Uint8Array(0) };
    const shard = this.shards[this.shardAt(offset)];
    return offset + length <= shard.start + shard.size
      ? { kind: 'file', path: shard.path, offset: offset - shard.start, length }
      : undefined;
  }

  /** How the weight's bytes are stored: a range of one file, or ranges of consecutive files. */
  stored(offset: number, length: number): StoredTensor {
    const parts: StoredRange[] = [];
    for (let i = this.shardAt(offset); i < this.shards.length && this.shards[i].start < offset + length; i++) {
      const s = this.shards[i];
      const from = Math.max(offset, s.start);
      const to = Math.min(offset + length, s.start + s.size);
      if (from < to) parts.push({ kind: 'range', file: s.path, offset: from - s.start, length: to - from, byteOrder: 'little' });
    }
    if (parts.length === 0) return { kind: 'empty' };
    return parts.length === 1 ? parts[0] : { kind: 'ranges', parts };
  }

  /** Reads a range that may cross shard boundaries (the caller has checked its bounds). */
  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    for (let i = this.shardAt(offset); i < this.shards.length && this.shards[i].start < offset + length; i++) {
      const s = this.shards[i];
      const from = Math.max(offset, s.start);
      const to = Math.min(offset + length, s.start + s.size);
      if (from >= to) continue;
      await (await this.files.get(s.path)).read(from - s.start, to - from, out.subarray(from - offset, to - offset));
    }
    return out;
  }

  /** The shard holding byte `offset` of the group (0 ≤ offset < size): the last one starting at or before it. */
  private shardAt(offset: number): number {
    let lo = 0;
    let hi = this.shards.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.shards[mid].start <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Bytes of a string tensor: per element a uint32 LE length and that many bytes. */
  async stringTensorLength(spec: WeightSpec, offset: number): Promise<number> {
    const numel = numelOf(spec.shape);
    let at = offset;
    for (let i = 0; i < numel; i++) {
      this.checkRange(spec, offset, at + 4 - offset);
      at += 4 + (await this.uint32At(at));
    }
    this.checkRange(spec, offset, at - offset);
    return at - offset;
  }

  private async uint32At(offset: number): Promise<number> {
    const w = this.window;
    if (!w || offset < w.start || offset + 4 > w.start + w.bytes.length) {
      const bytes = await this.read(offset, Math.min(1 << 16, this.size - offset));
      this.window = { start: offset, bytes };
      return this.uint32At(offset);
    }
    const i = offset - w.start;
    return new DataView(w.bytes.buffer, w.bytes.byteOffset + i, 4).getUint32(0, true);
  }

  close(): Promise<void> {
    return this.files.close();
  }
}
