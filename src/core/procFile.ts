import { promises as fs } from 'node:fs';

/**
 * The text of a small file of Linux's /proc (`/proc/PID/stat`, `statm`), or undefined when it
 * cannot be read (no such process, not Linux). Such files report size 0, so they are read with
 * one bounded read rather than by their size.
 */
export async function readProcFile(path: string): Promise<string | undefined> {
  try {
    const handle = await fs.open(path, 'r');
    try {
      const bytes = new Uint8Array(4096);
      const { bytesRead } = await handle.read(bytes, 0, bytes.length, 0);
      return new TextDecoder().decode(bytes.subarray(0, bytesRead));
    } finally {
      await handle.close();
    }
  } catch {
    return undefined;
  }
}
