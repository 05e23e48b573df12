import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A temporary file for values derived while opening a checkpoint (inflated zip members, gathered
 * views) that are too large to keep in memory. It is removed from its folder as soon as it is
 * created and lives on through its open descriptor, named `/proc/self/fd/N`: the process that
 * made it (the kernel worker) reads it by that name, and the system frees it when the process
 * closes it or dies, killed or not, so no file is ever left behind.
 */
export class ScratchFile {
  private constructor(
    private readonly handle: fs.FileHandle,
    /** The name this process reads the file by. */
    readonly path: string,
  ) {}

  /** Bytes written so far. */
  size = 0;

  /** A new scratch file, or undefined where an unlinked file cannot be named (not Linux). */
  static async create(): Promise<ScratchFile | undefined> {
    if (process.platform !== 'linux') return undefined;
    const dir = await fs.mkdtemp(join(tmpdir(), 'sparsity-lens-scratch-'));
    const name = join(dir, 'derived.bin');
    const handle = await fs.open(name, 'w+', 0o600);
    await fs.rm(dir, { recursive: true, force: true });
    return new ScratchFile(handle, `/proc/self/fd/${handle.fd}`);
  }

  /** Appends `bytes`; returns the offset they start at. */
  async append(bytes: Uint8Array): Promise<number> {
    const at = this.size;
    let done = 0;
    while (done < bytes.length) done += (await this.handle.write(bytes, done, bytes.length - done, at + done)).bytesWritten;
    this.size += bytes.length;
    return at;
  }

  /** Bytes [offset, offset + length), all written before. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    if (offset < 0 || offset + length > this.size) throw new RangeError(`scratch bytes ${offset}..${offset + length} of ${this.size}`);
    const bytes = new Uint8Array(length);
    let done = 0;
    while (done < length) done += (await this.handle.read(bytes, done, length - done, offset + done)).bytesRead;
    return bytes;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
