import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { pipeline } from 'node:stream/promises';
import { crc32, createInflateRaw, inflateRaw, type InputType, type ZlibOptions } from 'node:zlib';
import * as yauzl from 'yauzl';
import { formatBytes } from '../../checkpoint';
import { MAX_DERIVED_BYTES, type DerivedBytesBudget } from '../../derivedBytes';
import { CheckpointError, isCheckpointError } from '../../errors';
import type { RandomAccessFile } from '../../randomAccessFile';
import type { StoredZipMember } from '../../storedTensor';

/**
 * One member of a zip archive (.npz, PyTorch .pt), located well enough to read its bytes with
 * `RandomAccessFile.read`: a stored member's bytes are `dataOffset .. dataOffset + compressedSize`.
 */
export interface ZipEntry {
  readonly name: string;
  /** 0 stored, 8 deflate; anything else cannot be read. */
  readonly method: number;
  readonly compressedSize: number;
  readonly uncompressedSize: number;
  readonly crc32: number;
  readonly localHeaderOffset: number;
  /**
   * Absolute offset of the member's bytes: localHeaderOffset + 30 + the LOCAL header's name and
   * extra lengths (PyTorch pads the local extra field for alignment, so the central one differs).
   */
  readonly dataOffset: number;
  /** Set when the member is encrypted: its bytes cannot be read. */
  readonly encrypted?: boolean;
  /** Set for names that would escape a folder if extracted ('..', absolute paths); listing them is harmless. */
  readonly nameWarning?: string;
}

const LOCAL_HEADER_SIGNATURE = 0x04034b50;
const LOCAL_HEADER_SIZE = 30;
const CENTRAL_HEADER_SIZE = 46;
/** Zip compression methods that can be read: stored as is, and deflate. */
export const METHOD_STORED = 0;
export const METHOD_DEFLATE = 8;
/** More members than this is not a checkpoint, whatever the central directory claims. */
const MAX_ENTRIES = 10_000_000;

const inflateRawAsync = promisify(inflateRaw) as (buffer: InputType, options: ZlibOptions) => Promise<Buffer>;

export function looksLikeZip(head: Uint8Array): boolean {
  return head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
}

/**
 * Lets yauzl read the central directory through our file handle. Only `read` is used for the
 * directory; the stream is there for completeness of yauzl's reader contract.
 */
class FileReader extends yauzl.RandomAccessReader {
  constructor(private readonly file: RandomAccessFile) {
    super();
  }

  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null) => void): void {
    this.file.read(position, length, buffer.subarray(offset, offset + length)).then(
      () => callback(null),
      (e: unknown) => callback(e instanceof Error ? e : new Error(String(e))),
    );
  }

  override _readStreamForRange(start: number, end: number): Readable {
    const file = this.file;
    return Readable.from(
      (async function* () {
        for (let at = start; at < end;) {
          const n = Math.min(end - at, 1 << 20);
          yield Buffer.from(await file.read(at, n));
          at += n;
        }
      })(),
    );
  }
}

/**
 * Lists the members of a zip archive from its central directory (ZIP64 included), then reads
 * each member's local header for the true data offset. Nothing else is read.
 */
export async function readZipDirectory(file: RandomAccessFile): Promise<ZipEntry[]> {
  const path = file.path;
  if (file.size === 0) throw new CheckpointError(path, 'empty', 'the file is empty');
  const rawEntries = await listCentralDirectory(file);
  const entries: ZipEntry[] = [];
  for (const raw of rawEntries) entries.push(await locateEntry(file, raw));
  return entries;
}

async function listCentralDirectory(file: RandomAccessFile): Promise<yauzl.Entry[]> {
  const path = file.path;
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.fromRandomAccessReaderPromise(new FileReader(file), file.size, {
      autoClose: false,
      lazyEntries: true,
      // Names are decoded below, so that a '..' name is listed with a warning instead of failing the archive.
      decodeStrings: false,
      validateEntrySizes: true,
    });
  } catch (e) {
    throw zipError(path, e, 'directory');
  }
  try {
    // Each central header takes at least 46 bytes, so the count is bounded by the file size.
    if (zip.entryCount > MAX_ENTRIES || zip.entryCount * CENTRAL_HEADER_SIZE > file.size) {
      throw new CheckpointError(
        path,
        'corrupt',
        `the zip directory claims ${zip.entryCount} members, more than a ${file.size}-byte file can hold`,
      );
    }
    return await new Promise<yauzl.Entry[]>((resolve, reject) => {
      const entries: yauzl.Entry[] = [];
      zip.on('entry', (entry: yauzl.Entry) => {
        entries.push(entry);
        zip.readEntry();
      });
      zip.on('end', () => resolve(entries));
      zip.on('error', (e: unknown) => reject(zipError(path, e, 'member')));
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
}

/** yauzl's errors are plain Errors with English messages; map them to a problem kind. */
function zipError(path: string, e: unknown, where: 'directory' | 'member'): CheckpointError {
  if (isCheckpointError(e)) {
    if (e.problem !== 'truncated') return e;
    const what = where === 'directory' ? 'the zip directory' : 'a zip directory entry';
    return new CheckpointError(
      path,
      'truncated',
      `${what} points past the end of the file (${e.detail}): the archive is truncated`,
      e.offset,
    );
  }
  const message = e instanceof Error ? e.message : String(e);
  if (/End of central directory record signature not found/.test(message)) {
    return new CheckpointError(
      path,
      'truncated',
      'not a complete zip archive: it has no zip directory at its end (the file is truncated, or is not a zip)',
    );
  }
  if (/unexpected EOF/.test(message))
    return new CheckpointError(path, 'truncated', 'the zip directory runs past the end of the file (truncated archive?)');
  if (/multi-disk|strong encryption/.test(message))
    return new CheckpointError(path, 'unsupported', `zip archive not supported: ${message}`);
  return new CheckpointError(path, 'corrupt', `the zip directory is corrupt: ${message}`);
}

async function locateEntry(file: RandomAccessFile, raw: yauzl.Entry): Promise<ZipEntry> {
  const path = file.path;
  const name = yauzl.getFileNameLowLevel(raw.generalPurposeBitFlag, raw.fileNameRaw, raw.extraFields, false);
  const nameWarning = yauzl.validateFileName(name) ?? undefined;
  const at = raw.relativeOffsetOfLocalHeader;
  if (at + LOCAL_HEADER_SIZE > file.size) {
    throw new CheckpointError(path, 'truncated', `zip member "${name}" starts past the end of the ${file.size}-byte file`, at);
  }
  const header = await file.read(at, LOCAL_HEADER_SIZE);
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (view.getUint32(0, true) !== LOCAL_HEADER_SIGNATURE) {
    throw new CheckpointError(path, 'corrupt', `zip member "${name}" has no local file header where the directory points`, at);
  }
  const dataOffset = at + LOCAL_HEADER_SIZE + view.getUint16(26, true) + view.getUint16(28, true);
  if (dataOffset + raw.compressedSize > file.size) {
    throw new CheckpointError(
      path,
      'truncated',
      `zip member "${name}" needs bytes ${dataOffset}..${dataOffset + raw.compressedSize} but the file has ${file.size}`,
      dataOffset,
    );
  }
  return {
    name,
    method: raw.compressionMethod,
    compressedSize: raw.compressedSize,
    uncompressedSize: raw.uncompressedSize,
    crc32: raw.crc32,
    localHeaderOffset: at,
    dataOffset,
    ...(raw.isEncrypted() ? { encrypted: true } : {}),
    ...(nameWarning ? { nameWarning } : {}),
  };
}

/**
 * Reads a stored or deflated member into memory and checks its CRC-32. Refuses members that
 * declare, or inflate to, more than `maxBytes` (zip bombs) without allocating that much.
 * Big stored members should not come here: use `dataOffset` as a file range instead.
 */
export async function readZipMember(file: RandomAccessFile, entry: ZipEntry, maxBytes: number): Promise<Uint8Array> {
  const path = file.path;
  const member = `zip member "${entry.name}"`;
  if (entry.encrypted) throw new CheckpointError(path, 'unsupported', `${member} is encrypted`);
  if (entry.method !== METHOD_STORED && entry.method !== METHOD_DEFLATE) {
    throw new CheckpointError(
      path,
      'unsupported',
      `${member} uses compression method ${entry.method}; only stored and deflate are supported`,
    );
  }
  if (entry.uncompressedSize > maxBytes) {
    throw new CheckpointError(
      path,
      'unsafe',
      `${member} is ${entry.uncompressedSize} bytes uncompressed, more than the limit of ${maxBytes}`,
    );
  }
  let bytes: Uint8Array;
  if (entry.method === METHOD_STORED) {
    if (entry.compressedSize !== entry.uncompressedSize) {
      throw new CheckpointError(
        path,
        'corrupt',
        `${member} is stored but its sizes differ (${entry.compressedSize} vs ${entry.uncompressedSize})`,
      );
    }
    bytes = await file.read(entry.dataOffset, entry.compressedSize);
  } else {
    // Deflate expands incompressible input by a few bytes per 64 KiB block at most.
    if (entry.compressedSize > entry.uncompressedSize + (entry.uncompressedSize >>> 10) + 1024) {
      throw new CheckpointError(
        path,
        'corrupt',
        `${member} has ${entry.compressedSize} compressed bytes for ${entry.uncompressedSize} uncompressed`,
      );
    }
    const compressed = await file.read(entry.dataOffset, entry.compressedSize);
    try {
      // One byte of room beyond the declared size tells a lying size from an exact one.
      bytes = await inflateRawAsync(compressed, { maxOutputLength: entry.uncompressedSize + 1 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ERR_BUFFER_TOO_LARGE' || e instanceof RangeError) {
        throw new CheckpointError(
          path,
          'unsafe',
          `${member} inflates to more than its declared ${entry.uncompressedSize} bytes (a zip bomb?)`,
          entry.dataOffset,
        );
      }
      throw new CheckpointError(path, 'corrupt', `${member} does not inflate: ${(e as Error).message}`, entry.dataOffset);
    }
    if (bytes.length !== entry.uncompressedSize) {
      const more = bytes.length > entry.uncompressedSize;
      throw new CheckpointError(
        path,
        more ? 'unsafe' : 'corrupt',
        `${member} inflates to ${more ? 'more than' : 'only'} ${bytes.length} bytes but declares ${entry.uncompressedSize}`,
        entry.dataOffset,
      );
    }
  }
  if (crc32(bytes) !== entry.crc32) {
    throw new CheckpointError(path, 'corrupt', `${member} fails its CRC-32 check`, entry.dataOffset);
  }
  return bytes;
}

/** Compressed bytes read at a time when inflating a member piece by piece. */
const INFLATE_READ_BYTES = 1 << 20;

/**
 * Inflates a deflated member piece by piece, giving each piece of output to `sink` in order, and
 * checks its size and CRC-32 as it goes: memory stays at a piece whatever the member's size, and
 * a member that inflates past its declared size stops there (a zip bomb).
 */
export async function inflateZipMember(file: RandomAccessFile, entry: ZipEntry, sink: (piece: Uint8Array) => Promise<void>): Promise<void> {
  const path = file.path;
  const member = `zip member "${entry.name}"`;
  if (entry.method !== METHOD_DEFLATE || entry.encrypted) throw new Error(`${member} is not a plain deflated member`);
  let produced = 0;
  let crc = 0;
  async function* compressed() {
    for (let at = 0; at < entry.compressedSize; at += INFLATE_READ_BYTES)
      yield await file.read(entry.dataOffset + at, Math.min(INFLATE_READ_BYTES, entry.compressedSize - at));
  }
  try {
    await pipeline(compressed(), createInflateRaw(), async (pieces: AsyncIterable<Buffer>) => {
      for await (const piece of pieces) {
        produced += piece.length;
        if (produced > entry.uncompressedSize) {
          throw new CheckpointError(
            path,
            'unsafe',
            `${member} inflates to more than its declared ${entry.uncompressedSize} bytes (a zip bomb?)`,
            entry.dataOffset,
          );
        }
        crc = crc32(piece, crc);
        await sink(piece);
      }
    });
  } catch (e) {
    if (isCheckpointError(e)) throw e;
    throw new CheckpointError(path, 'corrupt', `${member} does not inflate: ${(e as Error).message}`, entry.dataOffset);
  }
  if (produced !== entry.uncompressedSize)
    throw new CheckpointError(
      path,
      'corrupt',
      `${member} inflates to only ${produced} bytes but declares ${entry.uncompressedSize}`,
      entry.dataOffset,
    );
  if (crc !== entry.crc32) throw new CheckpointError(path, 'corrupt', `${member} fails its CRC-32 check`, entry.dataOffset);
}

/** Deflated members up to this size are inflated into memory whatever their ratio. */
export const MAX_ANY_RATIO_INFLATED_BYTES = 64 << 20;
/**
 * Past MAX_ANY_RATIO_INFLATED_BYTES, members that inflate more than this many times are not
 * inflated: deflate's limit is about 1032:1, which only long runs of one byte reach (a zip bomb:
 * a 1 MB file asking for 1 GiB of memory); weights, even 99% zeros, stay well below.
 */
export const MAX_INFLATION_RATIO = 500;

/** Why a deflated member is not inflated into memory (a likely zip bomb), or undefined. */
export function inflationRefused(entry: ZipEntry): string | undefined {
  if (entry.uncompressedSize <= MAX_ANY_RATIO_INFLATED_BYTES) return undefined;
  const ratio = entry.uncompressedSize / Math.max(1, entry.compressedSize);
  if (ratio <= MAX_INFLATION_RATIO) return undefined;
  return (
    `would inflate ${Math.round(ratio)} times, from ${formatBytes(entry.compressedSize)} to ${formatBytes(entry.uncompressedSize)}; ` +
    `members over ${formatBytes(MAX_ANY_RATIO_INFLATED_BYTES)} are inflated up to ${MAX_INFLATION_RATIO} times (a zip bomb?)`
  );
}

/**
 * Where a member's bytes can be read: a stored member is a range of the archive (nothing is
 * read); a deflated one is inflated when `budget` grants its size, into memory or, when large,
 * piece by piece into the scratch file (a range of that file); else `skipped` says why.
 */
export type MemberSource =
  | { readonly kind: 'file'; readonly path: string; readonly offset: number; readonly length: number }
  | { readonly kind: 'inline'; readonly bytes: Uint8Array }
  | { readonly kind: 'skipped'; readonly reason: string };

export async function memberSource(file: RandomAccessFile, entry: ZipEntry, budget: DerivedBytesBudget): Promise<MemberSource> {
  if (entry.method === METHOD_STORED && !entry.encrypted) {
    if (entry.compressedSize !== entry.uncompressedSize) {
      throw new CheckpointError(
        file.path,
        'corrupt',
        `zip member "${entry.name}" is stored but its sizes differ (${entry.compressedSize} vs ${entry.uncompressedSize})`,
        entry.localHeaderOffset,
      );
    }
    return { kind: 'file', path: file.path, offset: entry.dataOffset, length: entry.compressedSize };
  }
  if (entry.method === METHOD_DEFLATE && !entry.encrypted) {
    // A member over the per-tensor limit is refused by the budget with that reason.
    const bomb = entry.uncompressedSize <= MAX_DERIVED_BYTES ? inflationRefused(entry) : undefined;
    if (bomb) return { kind: 'skipped', reason: `compressed zip member "${entry.name}" ${bomb}` };
    const refused = budget.reserve(entry.uncompressedSize);
    if (refused) return { kind: 'skipped', reason: `compressed zip member "${entry.name}" ${refused}` };
    const scratch = await budget.scratchFor(entry.uncompressedSize);
    if (scratch) {
      const offset = scratch.size;
      await inflateZipMember(file, entry, async (piece) => void (await scratch.append(piece)));
      return { kind: 'file', path: scratch.path, offset, length: entry.uncompressedSize };
    }
  }
  // Encrypted members and other methods fail here with an 'unsupported' error.
  return { kind: 'inline', bytes: await readZipMember(file, entry, entry.uncompressedSize) };
}

/**
 * The record of a stored or deflated member's whole uncompressed bytes (little-endian until a
 * reader says otherwise), for readers to narrow to a tensor's part of it.
 */
export function storedZipMember(archive: string, entry: ZipEntry): StoredZipMember {
  return {
    kind: 'zipMember',
    archive,
    member: entry.name,
    compression: entry.method === METHOD_STORED ? 'stored' : 'deflate',
    crc32: entry.crc32,
    compressedSize: entry.compressedSize,
    uncompressedSize: entry.uncompressedSize,
    localHeaderOffset: entry.localHeaderOffset,
    dataOffset: entry.dataOffset,
    offset: 0,
    length: entry.uncompressedSize,
    byteOrder: 'little',
  };
}

/** The directory entry a stored zip member was read from (the inverse of storedZipMember). */
export function zipEntryOf(member: StoredZipMember): ZipEntry {
  return {
    name: member.member,
    method: member.compression === 'stored' ? METHOD_STORED : METHOD_DEFLATE,
    compressedSize: member.compressedSize,
    uncompressedSize: member.uncompressedSize,
    crc32: member.crc32,
    localHeaderOffset: member.localHeaderOffset,
    dataOffset: member.dataOffset,
  };
}
