import type { Checkpoint, TensorEntry } from '../../checkpoint';
import { numelOf } from '../../checkpoint';
import { byteLength, type DType } from '../../dtype';
import { CheckpointError } from '../../errors';
import type { RandomAccessFile } from '../../randomAccessFile';
import { roleByName } from '../../roles/rolesByName';
import { withCondensedLayers } from './condensed';

/** The reference implementation's limit on the JSON header. */
export const MAX_HEADER_SIZE = 100_000_000;

export const SAFETENSORS_DTYPES: Readonly<Record<string, DType>> = {
  BOOL: 'bool',
  U8: 'uint8',
  I8: 'int8',
  F8_E5M2: 'float8_e5m2',
  F8_E4M3: 'float8_e4m3fn',
  F8_E4M3FN: 'float8_e4m3fn',
  F8_E4M3FNUZ: 'float8_e4m3fnuz',
  F8_E5M2FNUZ: 'float8_e5m2fnuz',
  F8_E8M0: 'float8_e8m0',
  F4: 'float4_e2m1',
  I16: 'int16',
  U16: 'uint16',
  F16: 'float16',
  BF16: 'bfloat16',
  I32: 'int32',
  U32: 'uint32',
  F32: 'float32',
  C64: 'complex64',
  F64: 'float64',
  I64: 'int64',
  U64: 'uint64',
};

/** Packed sub-byte formats the format defines but this reader cannot decode. */
const UNSUPPORTED_DTYPES = new Set(['F6_E2M3', 'F6_E3M2']);

export function looksLikeSafetensors(head: Uint8Array, fileSize: number): boolean {
  if (head.length < 9) return false;
  const n = new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true);
  return n > 1n && n <= BigInt(Math.max(0, fileSize - 8)) && head[8] === 0x7b; // '{'
}

/**
 * Reads a safetensors header and validates it as the reference implementation does:
 * header size limit, known dtypes, byte length = numel × dtype size, and a buffer that the
 * tensors cover exactly, with no holes or overlaps.
 */
export async function readSafetensors(file: RandomAccessFile): Promise<Checkpoint> {
  const path = file.path;
  if (file.size === 0) throw new CheckpointError(path, 'empty', 'the file is empty');
  if (file.size < 8) throw new CheckpointError(path, 'truncated', `only ${file.size} bytes: no safetensors header length`, 0);
  const prefix = await file.read(0, 8);
  const headerSize = new DataView(prefix.buffer).getBigUint64(0, true);
  if (headerSize > BigInt(MAX_HEADER_SIZE)) {
    throw new CheckpointError(
      path,
      'corrupt',
      `not a safetensors file: its first 8 bytes are not a header length (they read as ${headerSize}, over the limit of ${MAX_HEADER_SIZE} bytes)`,
      0,
    );
  }
  const n = Number(headerSize);
  if (8 + n > file.size) {
    throw new CheckpointError(path, 'truncated', `header length ${n} runs past the end of the ${file.size}-byte file`, 0, {
      fileSize: file.size,
      needed: 8 + n,
      what: 'header',
    });
  }
  const headerBytes = await file.read(8, n);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(headerBytes);
  if (!text.startsWith('{')) throw new CheckpointError(path, 'corrupt', 'the header does not start with "{"', 8);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(path, 'corrupt', `the header is not valid JSON: ${(e as Error).message}`, 8);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new CheckpointError(path, 'corrupt', 'the header is not a JSON object', 8);
  }
  const keys = topLevelKeys(text, path);
  const obj = header as Record<string, unknown>;
  const bufferStart = 8 + n;
  const bufferLength = file.size - bufferStart;

  const metadata: Record<string, string> = {};
  const tensors: TensorEntry[] = [];
  const spans: { name: string; begin: number; end: number }[] = [];
  for (const name of keys) {
    const value = obj[name];
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new CheckpointError(path, 'corrupt', '__metadata__ is not an object of strings', 8);
      }
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') throw new CheckpointError(path, 'corrupt', `__metadata__.${k} is not a string`, 8);
        metadata[k] = v;
      }
      continue;
    }
    const info = parseTensorInfo(path, name, value);
    const length = info.end - info.begin;
    const expected = byteLength(info.dtype, numelOf(info.shape));
    if (expected === undefined) {
      throw new CheckpointError(
        path,
        'corrupt',
        `tensor "${name}": ${numelOf(info.shape)} elements of ${info.dtype} do not fill whole bytes`,
      );
    }
    if (expected !== length) {
      throw new CheckpointError(
        path,
        'corrupt',
        `tensor "${name}": data_offsets span ${length} bytes but shape [${info.shape.join(', ')}] of ${info.dtype} needs ${expected}`,
      );
    }
    if (info.end > bufferLength) {
      throw new CheckpointError(
        path,
        'truncated',
        `tensor "${name}": data_offsets [${info.begin}, ${info.end}] run past the ${bufferLength}-byte data buffer (truncated file or offsets out of range)`,
        bufferStart + Math.min(info.begin, bufferLength),
        { fileSize: file.size, needed: bufferStart + info.end, what: 'tensor data' },
      );
    }
    spans.push({ name, begin: info.begin, end: info.end });
    tensors.push({
      name,
      dtype: info.dtype,
      shape: info.shape,
      source: { kind: 'file', path, offset: bufferStart + info.begin, length },
      stored: { kind: 'range', file: path, offset: bufferStart + info.begin, length, byteOrder: 'little' },
      ...roleByName(name, info.shape),
    });
  }

  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const s of spans) {
    if (s.begin < covered) {
      throw new CheckpointError(path, 'corrupt', `tensor "${s.name}" overlaps the previous tensor`, bufferStart + s.begin);
    }
    if (s.begin > covered) {
      throw new CheckpointError(path, 'corrupt', `a hole of ${s.begin - covered} bytes precedes tensor "${s.name}"`, bufferStart + covered);
    }
    covered = s.end;
  }
  if (covered < bufferLength) {
    throw new CheckpointError(
      path,
      'corrupt',
      `${bufferLength - covered} bytes after the last tensor belong to no tensor`,
      bufferStart + covered,
    );
  }
  // Layers written condensed (`sparsity-lens condense`) are read back as the dense weights they hold.
  return withCondensedLayers(file, { file: path, format: 'safetensors', tensors, metadata, skipped: [] }, SAFETENSORS_DTYPES);
}

function parseTensorInfo(path: string, name: string, value: unknown): { dtype: DType; shape: number[]; begin: number; end: number } {
  const bad = (what: string) => new CheckpointError(path, 'corrupt', `tensor "${name}": ${what}`, 8);
  if (typeof value !== 'object' || value === null) throw bad('entry is not an object');
  const v = value as Record<string, unknown>;
  if (typeof v.dtype !== 'string') throw bad('missing dtype');
  if (UNSUPPORTED_DTYPES.has(v.dtype)) {
    throw new CheckpointError(path, 'unsupported', `tensor "${name}": dtype ${v.dtype} is not supported`);
  }
  const dtype = SAFETENSORS_DTYPES[v.dtype];
  if (!dtype) throw bad(`unknown dtype "${v.dtype}"`);
  if (!Array.isArray(v.shape) || !v.shape.every(isSize)) throw bad('shape is not a list of non-negative integers');
  const offsets = v.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSize) || offsets[0] > offsets[1]) {
    throw bad('data_offsets is not [begin, end] with begin <= end');
  }
  return { dtype, shape: v.shape as number[], begin: offsets[0] as number, end: offsets[1] as number };
}

function isSize(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/**
 * The keys of the header's top-level object in file order. JSON.parse keeps only the last of
 * duplicate keys and reorders integer-like ones, so the keys are read from the text itself.
 */
export function topLevelKeys(text: string, path: string): string[] {
  const keys: string[] = [];
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (seen.has(key))
          throw new CheckpointError(
            path,
            'corrupt',
            `duplicate tensor name "${key}" in the header`,
            8 + Buffer.byteLength(text.slice(0, i)),
          );
        seen.add(key);
        keys.push(key);
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = depth === 1;
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}
