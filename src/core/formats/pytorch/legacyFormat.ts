import type { Checkpoint } from '../../checkpoint';
import type { DerivedBytesBudget } from '../../derivedBytes';
import { CheckpointError } from '../../errors';
import type { RandomAccessFile } from '../../randomAccessFile';
import type { StoredRange } from '../../storedTensor';
import { buildCheckpoint } from './buildCheckpoint';
import { MAX_PICKLE_BYTES } from './pickle/limits';
import { PickleEndOfData, unpickle, type UnpickleOptions } from './pickle/unpickler';
import { describeValue } from './pickle/values';
import { storageRefOf } from './storageIds';
import type { StorageBytes, StorageLocator } from './tensorViews';
import { resolveTorchGlobal, storageItemSize, type StorageRef, type StorageType } from './torchGlobals';

/** The bytes torch's legacy format starts with: pickle protocol 2, LONG1 of MAGIC_NUMBER. */
export const LEGACY_MAGIC = Uint8Array.of(0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19);
const MAGIC_NUMBER = 0x1950a86a20f9469cfc6cn;
const PROTOCOL_VERSION = 1001;
const FIRST_WINDOW = 1 << 20;

export function hasLegacyMagic(head: Uint8Array): boolean {
  return head.length >= LEGACY_MAGIC.length && LEGACY_MAGIC.every((b, i) => head[i] === b);
}

/**
 * torch.save with `_use_new_zipfile_serialization=False`: pickles back to back (magic number,
 * protocol version, sys_info, the object, the sorted storage keys), then for each key an int64
 * element count and the storage's raw bytes. Storages become file ranges after the last pickle.
 * torch writes counts and bytes little-endian whatever the machine (THPStorage_writeFileRaw
 * converts); sys_info's `little_endian` only describes the writer. Big-endian counts (and then
 * bytes) are accepted only from a writer that says it was big-endian, when little-endian ones
 * do not match.
 */
export async function readPyTorchLegacy(file: RandomAccessFile, budget: DerivedBytesBudget): Promise<Checkpoint> {
  const path = file.path;
  const stream = new PickleStream(file);
  const magic = await stream.unpickle(0, 'the magic number');
  if (magic.value !== MAGIC_NUMBER)
    throw new CheckpointError(path, 'unknown-format', 'not a legacy torch.save file (wrong magic number)', 0);
  const protocol = await stream.unpickle(magic.end, 'the protocol version');
  if (protocol.value !== PROTOCOL_VERSION) {
    throw new CheckpointError(
      path,
      'unsupported',
      `legacy torch.save protocol ${describeValue(protocol.value, 40)} (only ${PROTOCOL_VERSION} is known)`,
      magic.end,
    );
  }
  const sysInfo = await stream.unpickle(protocol.end, 'sys_info');
  const writerLittleEndian = sysInfo.value instanceof Map ? sysInfo.value.get('little_endian') !== false : true;
  // Decided by the first element count; all storages then follow it.
  let littleEndian: boolean | undefined;

  // Root storages by key, as the object pickle's persistent ids declare them.
  const roots = new Map<string, { type: StorageType; numel: number }>();
  const object = await stream.unpickle(sysInfo.end, 'the object pickle', (pid) => {
    const ref = storageRefOf(pid, path, 'the object pickle', true);
    if (typeof ref === 'object' && ref !== null && 'key' in ref) {
      const r = ref as StorageRef;
      const rootNumel = r.view ? Number((pid as unknown[])[4]) : r.numel;
      if (!roots.has(r.key)) roots.set(r.key, { type: r.type, numel: rootNumel });
    }
    return ref;
  });
  const keyList = await stream.unpickle(object.end, 'the storage key list');
  if (!Array.isArray(keyList.value) || !keyList.value.every((k) => typeof k === 'string' || typeof k === 'number')) {
    throw new CheckpointError(path, 'corrupt', 'the storage key list is not a list of keys', object.end);
  }

  const ranges = new Map<string, { offset: number; length: number }>();
  let at = keyList.end;
  for (const rawKey of keyList.value) {
    const key = String(rawKey);
    const root = roots.get(key);
    if (!root) throw new CheckpointError(path, 'corrupt', `storage ${key} is listed but no tensor refers to it`, keyList.end);
    if (at + 8 > file.size) {
      throw new CheckpointError(path, 'truncated', `the file ends before the element count of storage ${key}`, at);
    }
    const countBytes = await file.read(at, 8);
    const view = new DataView(countBytes.buffer, countBytes.byteOffset, 8);
    const expected = BigInt(root.numel);
    littleEndian ??= view.getBigInt64(0, true) === expected || writerLittleEndian || view.getBigInt64(0, false) !== expected;
    const count = view.getBigInt64(0, littleEndian);
    if (count !== expected) {
      throw new CheckpointError(
        path,
        'corrupt',
        `storage ${key} records ${count} elements but its persistent id declares ${root.numel}`,
        at,
      );
    }
    const itemSize = storageItemSize(root.type);
    const length = root.numel * itemSize;
    if (at + 8 + length > file.size) {
      throw new CheckpointError(
        path,
        'truncated',
        `storage ${key} needs bytes ${at + 8}..${at + 8 + length} (${root.numel} × ${itemSize}) but the file has ${file.size}`,
        at + 8,
      );
    }
    ranges.set(key, { offset: at + 8, length });
    at += 8 + length;
  }
  const bigEndian = littleEndian === false;
  const metadata: Record<string, string> = { 'pytorch format': 'legacy', byteorder: bigEndian ? 'big' : 'little' };
  if (!writerLittleEndian && !bigEndian) metadata['writer byteorder'] = 'big (storages are little-endian, as torch writes them)';
  return buildCheckpoint(object.value, new LegacyStorages(file, ranges, bigEndian, budget), metadata);
}

class LegacyStorages implements StorageLocator {
  constructor(
    readonly file: RandomAccessFile,
    private readonly ranges: ReadonlyMap<string, { offset: number; length: number }>,
    readonly bigEndian: boolean,
    readonly budget: DerivedBytesBudget,
  ) {}

  describe(ref: StorageRef): string {
    return ref.view ? `${ref.key} (view ${ref.view.key})` : ref.key;
  }

  async locate(ref: StorageRef): Promise<StorageBytes> {
    const range = this.ranges.get(ref.key);
    if (!range) throw new CheckpointError(this.file.path, 'corrupt', `storage ${ref.key} is missing from the storage key list`);
    const stored = (offset: number, length: number): StoredRange => ({
      kind: 'range',
      file: this.file.path,
      offset,
      length,
      byteOrder: 'little',
    });
    if (!ref.view) return { kind: 'file', path: this.file.path, ...range, stored: stored(range.offset, range.length) };
    // The view was checked against the root size its own persistent id claims; check it against the real one.
    const itemSize = storageItemSize(ref.type);
    const start = ref.view.offset * itemSize;
    const length = ref.view.numel * itemSize;
    if (start + length > range.length) {
      throw new CheckpointError(
        this.file.path,
        'corrupt',
        `storage view ${ref.view.key} (elements ${ref.view.offset}..${ref.view.offset + ref.view.numel}) runs past the end of its root storage ${ref.key} of ${range.length / itemSize} elements`,
      );
    }
    return { kind: 'file', path: this.file.path, offset: range.offset + start, length, stored: stored(range.offset + start, length) };
  }
}

/**
 * The start of the file in memory, grown as the pickles need it: the legacy format does not say
 * where its pickles end, and its storages (possibly gigabytes) follow them.
 */
class PickleStream {
  private bytes = new Uint8Array(0);

  constructor(private readonly file: RandomAccessFile) {}

  private async grow(to: number): Promise<void> {
    const size = Math.min(this.file.size, to);
    if (size <= this.bytes.length) return;
    const next = new Uint8Array(size);
    next.set(this.bytes);
    await this.file.read(this.bytes.length, size - this.bytes.length, next.subarray(this.bytes.length));
    this.bytes = next;
  }

  async unpickle(
    start: number,
    what: string,
    persistentLoad?: UnpickleOptions['persistentLoad'],
  ): Promise<{ value: unknown; end: number }> {
    await this.grow(Math.max(FIRST_WINDOW, start + 64));
    for (;;) {
      try {
        return unpickle(this.bytes, start, {
          file: this.file.path,
          what,
          fileOffset: 0,
          resolveGlobal: resolveTorchGlobal,
          persistentLoad,
        });
      } catch (e) {
        if (!(e instanceof PickleEndOfData) || this.bytes.length >= this.file.size) throw e;
        const wanted = Math.max(2 * this.bytes.length, start + e.needed);
        if (wanted - start > MAX_PICKLE_BYTES && this.bytes.length - start >= MAX_PICKLE_BYTES) {
          throw new CheckpointError(this.file.path, 'unsupported', `${what} is larger than ${MAX_PICKLE_BYTES} bytes`, start);
        }
        await this.grow(Math.min(wanted, start + MAX_PICKLE_BYTES));
      }
    }
  }
}
