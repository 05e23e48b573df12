import * as nodePath from 'node:path';
import { stridesOf } from '../../neuronView';
import { checkNewTensors, type NewTensor, type NewTensorDType } from '../shared/newTensors';
import { createStoredZip } from '../shared/storedZip';

/**
 * New torch.save files (the zip format of torch ≥ 1.6) from tensors held in memory: what
 * `torch.save(OrderedDict(name → tensor), path)` writes for contiguous CPU tensors, loadable with
 * torch.load, weights_only=True included (every global is on its allowlist).
 *
 * The archive's records sit under one folder named after the file (its base name without the
 * extension, as torch names it): `data.pkl`, the pickle; `byteorder`, "little" (torch ≥ 2.1
 * writes it, older torch ignores it); `data/<key>`, each storage's raw bytes; `version`, "3\n".
 * Every record's data starts at a multiple of 64 bytes, padded as torch's PyTorchStreamWriter
 * pads them ('FB' extra field of 'Z's), so a loader may map storages in place.
 */

/** torch's storage class of each dtype written (legacy typed storages, as torch.save names them in persistent ids). */
const STORAGE_CLASS: Readonly<Record<NewTensorDType, string>> = { float32: 'FloatStorage', uint8: 'ByteStorage' };

/** torch's data alignment of records in the archive (kFieldAlignment). */
const RECORD_ALIGNMENT = 64;

/** The version record torch ≥ 1.6 writes for tensors of this kind. */
const ARCHIVE_VERSION = '3\n';

/**
 * Writes a new torch.save zip at `path` (which must not exist): an OrderedDict of the tensors
 * in order, storage i holding tensor i's bytes.
 */
export async function createTorchSave(path: string, tensors: readonly NewTensor[]): Promise<void> {
  checkNewTensors(tensors);
  const archive = archiveNameOf(path);
  const text = (s: string) => new TextEncoder().encode(s);
  await createStoredZip(
    path,
    [
      { name: `${archive}/data.pkl`, parts: [statePickle(tensors)] },
      { name: `${archive}/byteorder`, parts: [text('little')] },
      ...tensors.map((t, i) => ({ name: `${archive}/data/${i}`, parts: [t.bytes] })),
      { name: `${archive}/version`, parts: [text(ARCHIVE_VERSION)] },
    ],
    { align: RECORD_ALIGNMENT },
  );
}

/** The records' folder: the file's base name without its extension ("archive" when that leaves nothing). */
export function archiveNameOf(path: string): string {
  const base = nodePath.basename(path);
  const ext = nodePath.extname(base);
  const name = ext ? base.slice(0, -ext.length) : base;
  return name === '' ? 'archive' : name;
}

// ---------------------------------------------------------------------------------------------
// data.pkl: protocol 2, as Python's pickler writes torch.save's state dict (without memo entries,
// which a loader does not need when nothing is shared).

const PROTO = 0x80;
const GLOBAL = 0x63; // c
const EMPTY_TUPLE = 0x29; // )
const REDUCE = 0x52; // R
const MARK = 0x28; // (
const TUPLE = 0x74; // t
const TUPLE1 = 0x85;
const TUPLE2 = 0x86;
const TUPLE3 = 0x87;
const SETITEMS = 0x75; // u
const BINUNICODE = 0x58; // X
const BININT1 = 0x4b; // K
const BININT2 = 0x4d; // M
const BININT = 0x4a; // J
const LONG1 = 0x8a;
const BINPERSID = 0x51; // Q
const NEWFALSE = 0x89;
const STOP = 0x2e; // .
/** Python's pickler ends a SETITEMS batch every 1000 items. */
const BATCH = 1000;

class PickleBuilder {
  private readonly chunks: number[][] = [];
  private current: number[] = [];

  op(...bytes: number[]): this {
    for (const b of bytes) this.current.push(b);
    if (this.current.length > 1 << 16) this.flush();
    return this;
  }

  private flush(): void {
    this.chunks.push(this.current);
    this.current = [];
  }

  global(module: string, name: string): this {
    return this.op(GLOBAL, ...ascii(`${module}\n${name}\n`));
  }

  str(s: string): this {
    const bytes = new TextEncoder().encode(s);
    this.op(BINUNICODE, ...le(bytes.length, 4));
    for (const b of bytes) this.op(b);
    return this;
  }

  int(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`cannot pickle ${n} as a size`);
    if (n < 0x100) return this.op(BININT1, n);
    if (n < 0x10000) return this.op(BININT2, ...le(n, 2));
    if (n < 0x80000000) return this.op(BININT, ...le(n, 4));
    // LONG1: little-endian two's complement, with a zero byte when the top bit would read as a sign.
    const bytes: number[] = [];
    for (let v = BigInt(n); v > 0n; v >>= 8n) bytes.push(Number(v & 0xffn));
    if (bytes[bytes.length - 1] & 0x80) bytes.push(0);
    return this.op(LONG1, bytes.length, ...bytes);
  }

  tuple(items: readonly number[]): this {
    if (items.length === 0) return this.op(EMPTY_TUPLE);
    if (items.length > 3) this.op(MARK);
    for (const n of items) this.int(n);
    return this.op(items.length === 1 ? TUPLE1 : items.length === 2 ? TUPLE2 : items.length === 3 ? TUPLE3 : TUPLE);
  }

  bytes(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

function ascii(s: string): number[] {
  return Array.from(s, (c) => c.charCodeAt(0));
}

function le(n: number, width: number): number[] {
  return Array.from({ length: width }, (_, i) => Math.floor(n / 2 ** (8 * i)) & 0xff);
}

/**
 * The pickle of `OrderedDict((name, _rebuild_tensor_v2(persistent_load(('storage',
 * torch.<Type>Storage, '<i>', 'cpu', numel)), 0, size, stride, False, OrderedDict())), …)`.
 */
export function statePickle(tensors: readonly NewTensor[]): Uint8Array {
  const p = new PickleBuilder();
  p.op(PROTO, 2).global('collections', 'OrderedDict').op(EMPTY_TUPLE, REDUCE);
  tensors.forEach((t, i) => {
    if (i % BATCH === 0) {
      if (i > 0) p.op(SETITEMS);
      p.op(MARK);
    }
    const numel = t.shape.reduce((a, d) => a * d, 1);
    p.str(t.name).global('torch._utils', '_rebuild_tensor_v2').op(MARK);
    p.op(MARK).str('storage').global('torch', STORAGE_CLASS[t.dtype]).str(String(i)).str('cpu').int(numel).op(TUPLE, BINPERSID);
    p.int(0).tuple(t.shape).tuple(stridesOf(t.shape)).op(NEWFALSE);
    p.global('collections', 'OrderedDict').op(EMPTY_TUPLE, REDUCE);
    p.op(TUPLE, REDUCE);
  });
  if (tensors.length > 0) p.op(SETITEMS);
  return p.op(STOP).bytes();
}
