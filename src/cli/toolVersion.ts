import * as path from 'node:path';
import { readJsonObject } from '../core/formats/shared/jsonDocument';
import { withFile } from '../core/randomAccessFile';

/** The package's version, for the provenance of the files the CLI writes (the bundle lives in dist/). */
export async function toolVersion(): Promise<string> {
  const manifest = await withFile(path.resolve(__dirname, '..', 'package.json'), readJsonObject);
  return typeof manifest.version === 'string' ? manifest.version : 'unknown';
}
