// Writers of small hand-built files for bad-input tests, where a test must control every byte
// (sizes and CRCs that lie, headers no tool writes). Fixtures written by the real tools live in
// test/fixtures; each writer here is checked against one of them in its own test.
import { crc32, deflateRawSync } from 'node:zlib';

export interface ZipMember {
  readonly name: string;
  /** The member's bytes as stored (already deflated when method is 8). */
  readonly data: Uint8Array;
  readonly method?: 0 | 8;
  /** Declared uncompressed size; default the stored length. */
  readonly uncompressedSize?: number;
  /** Declared CRC-32; default that of `data`. */
  readonly crc?: number;
}

/** A minimal zip (no ZIP64, no data descriptors) holding `members` in order. */
export function zipOf(members: readonly ZipMember[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const m of members) {
    const name = Buffer.from(m.name, 'utf8');
    const method = m.method ?? 0;
    const size = m.uncompressedSize ?? m.data.length;
    const crc = m.crc ?? crc32(m.data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6); // UTF-8 names
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0x21, 12); // 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(m.data.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(0x21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(m.data.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, Buffer.from(m.data));
    centrals.push(central, name);
    offset += local.length + name.length + m.data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

const NPY_MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

/** An .npy stream as numpy.lib.format writes it: header padded with spaces to a multiple of 64, ending in '\n'. */
export function npy(header: string, data: Uint8Array = new Uint8Array(0), major = 1): Buffer {
  const lengthBytes = major === 1 ? 2 : 4;
  const fixed = NPY_MAGIC.length + 2 + lengthBytes;
  const padded = header + ' '.repeat((64 - ((fixed + header.length + 1) % 64)) % 64) + '\n';
  const encoded = Buffer.from(padded, major === 3 ? 'utf8' : 'latin1');
  const length = Buffer.alloc(lengthBytes);
  if (major === 1) length.writeUInt16LE(encoded.length);
  else length.writeUInt32LE(encoded.length);
  return Buffer.concat([NPY_MAGIC, Buffer.from([major, 0]), length, encoded, data]);
}

/**
 * A safetensors file of float32 tensors given as name → values, in order; one-dimensional unless
 * `shape` is given; `metadata` becomes its `__metadata__`.
 */
export function safetensorsOf(
  tensors: ReadonlyMap<string, readonly number[]>,
  shape?: readonly number[],
  metadata?: Readonly<Record<string, string>>,
): Buffer {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const [name, values] of tensors) {
    header[name] = { dtype: 'F32', shape: shape ?? [values.length], data_offsets: [offset, offset + 4 * values.length] };
    offset += 4 * values.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const padded = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(padded.length));
  const data = Buffer.from(new Float32Array([...tensors.values()].flat()).buffer);
  return Buffer.concat([length, padded, data]);
}

/**
 * A zip laid out as torch.save lays it out: stored members under one folder. A member may be
 * deflated instead, and may declare an uncompressed size other than its true one.
 */
export function storedZip(records: readonly (readonly [string, Uint8Array, { deflate?: boolean; declaredSize?: number }?])[]): Buffer {
  return zipOf(
    records.map(([name, raw, options]) => ({
      name,
      data: options?.deflate ? deflateRawSync(raw) : raw,
      method: options?.deflate ? 8 : 0,
      uncompressedSize: options?.declaredSize ?? raw.length,
      crc: crc32(raw),
    })),
  );
}

/** Pickle bytes, protocol 2, for hand-built state dicts. */
export const pk = {
  str: (s: string) => Buffer.concat([Buffer.from('X'), u32(Buffer.byteLength(s)), Buffer.from(s)]),
  int: (n: number) => Buffer.concat([Buffer.from('J'), i32(n)]),
  global: (module: string, name: string) => Buffer.from(`c${module}\n${name}\n`, 'latin1'),
  tuple: (...items: Buffer[]) => Buffer.concat([Buffer.from('('), ...items, Buffer.from('t')]),
};
function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}
function i32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
}

export interface TensorSpec {
  name: string;
  key: string;
  /** Elements of the storage (bytes for `untypedAs`). */
  numel: number;
  offset: number;
  size: number[];
  stride: number[];
  /** _rebuild_tensor_v3 on an UntypedStorage with this torch dtype (as torch ≥ 2.1 writes float8 …). */
  untypedAs?: string;
  /** Legacy 6-field persistent id: (view key, offset, numel) into the root storage. */
  legacyView?: [string, number, number] | null;
}

/** data.pkl of a state dict {name: _rebuild_tensor_v2(FloatStorage key, offset, size, stride, False, OrderedDict())}. */
export function statePickle(tensors: TensorSpec[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x80, 0x02]), pk.global('collections', 'OrderedDict'), Buffer.from(')R(')];
  for (const t of tensors) {
    const fields = [
      pk.str('storage'),
      pk.global('torch', t.untypedAs ? 'UntypedStorage' : 'FloatStorage'),
      pk.str(t.key),
      pk.str('cpu'),
      pk.int(t.numel),
    ];
    if (t.legacyView !== undefined) {
      fields.push(
        t.legacyView === null ? Buffer.from('N') : pk.tuple(pk.str(t.legacyView[0]), pk.int(t.legacyView[1]), pk.int(t.legacyView[2])),
      );
    }
    const hooks = Buffer.concat([pk.global('collections', 'OrderedDict'), Buffer.from(')R')]);
    parts.push(
      pk.str(t.name),
      pk.global('torch._utils', t.untypedAs ? '_rebuild_tensor_v3' : '_rebuild_tensor_v2'),
      pk.tuple(
        Buffer.concat([pk.tuple(...fields), Buffer.from('Q')]),
        pk.int(t.offset),
        pk.tuple(...t.size.map(pk.int)),
        pk.tuple(...t.stride.map(pk.int)),
        Buffer.from([0x89]),
        hooks,
        ...(t.untypedAs ? [pk.global('torch', t.untypedAs), Buffer.from('}')] : []),
      ),
      Buffer.from('R'),
    );
  }
  parts.push(Buffer.from('u.'));
  return Buffer.concat(parts);
}
