import { constants as fsConstants, promises as fs } from 'node:fs';
import { CheckpointError } from './errors';

/**
 * Reads byte ranges of a file at given offsets. Checkpoints can be far larger than memory,
 * so readers take only headers and byte ranges from it, never the whole file.
 */
export class RandomAccessFile {
  private constructor(
    readonly path: string,
    private readonly handle: fs.FileHandle,
    readonly size: number,
  ) {}

  static async open(path: string): Promise<RandomAccessFile> {
    const cannotOpen = (e: unknown) => new CheckpointError(path, 'io', `cannot open: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    // Opening a FIFO for reading blocks until a writer comes, so only regular files are opened;
    // O_NONBLOCK covers a path swapped for a FIFO between the stat and the open.
    const before = await fs.stat(path).catch((e: unknown) => {
      throw cannotOpen(e);
    });
    if (!before.isFile()) throw new CheckpointError(path, 'io', 'not a regular file');
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(path, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0));
    } catch (e) {
      throw cannotOpen(e);
    }
    const stat = await handle.stat();
    if (!stat.isFile()) {
      await handle.close();
      throw new CheckpointError(path, 'io', 'not a regular file');
    }
    return new RandomAccessFile(path, handle, stat.size);
  }

  /** Reads exactly `length` bytes at `offset`; a range past the end is a truncation error. */
  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new CheckpointError(this.path, 'truncated', `needs bytes ${offset}..${offset + length} but the file has ${this.size}`, offset, {
        fileSize: this.size,
        needed: offset + length,
        what: 'data',
      });
    }
    const buf = into ?? new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw new CheckpointError(this.path, 'truncated', 'file shrank while reading', offset + done);
      done += bytesRead;
    }
    return buf;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}

/** Opens `path`, runs `fn`, and always closes the file. */
export async function withFile<T>(path: string, fn: (file: RandomAccessFile) => Promise<T>): Promise<T> {
  const file = await RandomAccessFile.open(path);
  try {
    return await fn(file);
  } finally {
    await file.close();
  }
}

/** Files opened by path once each and kept open until `close()`, for readers that visit many ranges. */
export class OpenFiles {
  private readonly files = new Map<string, Promise<RandomAccessFile>>();

  /** `known` files (e.g. the model already open) are used as they are and not closed here. */
  constructor(private readonly known: readonly RandomAccessFile[] = []) {}

  get(path: string): Promise<RandomAccessFile> {
    const known = this.known.find((f) => f.path === path);
    if (known) return Promise.resolve(known);
    let file = this.files.get(path);
    if (!file) {
      file = RandomAccessFile.open(path);
      this.files.set(path, file);
    }
    return file;
  }

  async close(): Promise<void> {
    const opened = await Promise.allSettled(this.files.values());
    this.files.clear();
    for (const r of opened) if (r.status === 'fulfilled') await r.value.close();
  }
}
