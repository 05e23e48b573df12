import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as nodePath from 'node:path';

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  // Large reads: hashing is what bounds it, not the calls.
  for await (const chunk of createReadStream(file, { highWaterMark: 8 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface Provenance {
  readonly 'sparsity_lens.version': string;
  readonly 'sparsity_lens.input': string;
  readonly 'sparsity_lens.input_sha256': string;
}

/** The `sparsity_lens.*` keys every file this project writes carries: the tool's version, the input's name and its sha256. */
export async function provenanceOf(input: string, toolVersion: string): Promise<Provenance> {
  return {
    'sparsity_lens.version': toolVersion,
    'sparsity_lens.input': nodePath.basename(input),
    'sparsity_lens.input_sha256': await sha256Of(input),
  };
}
