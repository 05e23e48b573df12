import { crc32 } from 'node:zlib';
import { createFile } from '../../outputFiles';

/** New zip archives, stored (no compression): the container of .npz (numpy.savez) and of torch.save's format. */

/** One member of a new zip archive: its name and its (uncompressed, stored) bytes, given in parts written one after another. */
export interface NewZipMember {
  readonly name: string;
  readonly parts: readonly Uint8Array[];
}

export interface StoredZipOptions {
  /**
   * Start every member's data at a multiple of this many bytes, padding the local header's extra
   * field with an 'FB' record of 'Z's, as torch.save (PyTorchStreamWriter) does with 64.
   */
  readonly align?: number;
  /** Write zip64 fields and end records even when no size or offset needs them (tests; 'auto' when absent). */
  readonly zip64?: 'auto' | 'always';
}

const LOCAL_SIGNATURE = 0x04034b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const END_SIGNATURE = 0x06054b50;
const ZIP64_END_SIGNATURE = 0x06064b50;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_EXTRA_ID = 0x0001;
/** torch's padding record: "FB", then 'Z' bytes. */
const PADDING_EXTRA_ID = 0x4246;
const LOCAL_HEADER_SIZE = 30;
const CENTRAL_HEADER_SIZE = 46;
const END_SIZE = 22;
const ZIP64_END_SIZE = 56;
const ZIP64_LOCATOR_SIZE = 20;
/** The largest value a 32-bit zip field holds; it and above go to the zip64 fields. */
const ZIP32_LIMIT = 0xffffffff;
/** General-purpose flag bit 11: the name is UTF-8. */
const FLAG_UTF8 = 0x0800;
/** MS-DOS date of 1980-01-01 (time 00:00): every member gets it, so that the same tensors give the same bytes. */
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

/**
 * Writes a new zip archive at `path` (which must not exist) holding `members` in order, stored
 * (no compression), CRC-32 and sizes in each local header (no data descriptors), zip64 fields
 * and end records where a size, offset or count needs them.
 */
export async function createStoredZip(path: string, members: readonly NewZipMember[], options: StoredZipOptions = {}): Promise<void> {
  const always = options.zip64 === 'always';
  const align = options.align ?? 0;
  const encoder = new TextEncoder();
  const central: Uint8Array[] = [];
  const out = await createFile(path);
  try {
    let offset = 0;
    for (const member of members) {
      const name = encoder.encode(member.name);
      if (name.length > 0xffff) throw new RangeError(`zip member name of ${name.length} bytes is too long`);
      const size = member.parts.reduce((n, p) => n + p.length, 0);
      // Empty parts are passed over: node's crc32 returns 0, not the running value, for an empty view of an empty ArrayBuffer.
      const crc = member.parts.reduce((c, p) => (p.length === 0 ? c : crc32(p, c)), 0);
      const flags = /^[\x20-\x7e]*$/.test(member.name) ? 0 : FLAG_UTF8;
      const sizeIn64 = always || size >= ZIP32_LIMIT;
      const offsetIn64 = always || offset >= ZIP32_LIMIT;
      const version = sizeIn64 || offsetIn64 ? 45 : 20;

      // Local header: the zip64 record holds both sizes when either overflows.
      const localZip64 = sizeIn64 ? extraRecord(ZIP64_EXTRA_ID, [u64(size), u64(size)]) : new Uint8Array(0);
      let padding: Uint8Array = new Uint8Array(0);
      if (align > 0) {
        const start = offset + LOCAL_HEADER_SIZE + name.length + localZip64.length + 4;
        padding = extraRecord(PADDING_EXTRA_ID, [new Uint8Array((align - (start % align)) % align).fill(0x5a)]);
      }
      const localExtra = concat([localZip64, padding]);
      if (localExtra.length > 0xffff) throw new RangeError(`alignment ${align} needs a longer extra field than a zip header holds`);
      const local = new Uint8Array(LOCAL_HEADER_SIZE);
      const l = view(local);
      l.setUint32(0, LOCAL_SIGNATURE, true);
      l.setUint16(4, version, true);
      l.setUint16(6, flags, true);
      l.setUint16(8, 0, true); // stored
      l.setUint16(10, 0, true); // time 00:00
      l.setUint16(12, DOS_DATE, true);
      l.setUint32(14, crc, true);
      l.setUint32(18, sizeIn64 ? ZIP32_LIMIT : size, true);
      l.setUint32(22, sizeIn64 ? ZIP32_LIMIT : size, true);
      l.setUint16(26, name.length, true);
      l.setUint16(28, localExtra.length, true);
      const head = concat([local, name, localExtra]);
      await out.write(head, offset);
      let at = offset + head.length;
      for (const part of member.parts) {
        await out.write(part, at);
        at += part.length;
      }

      // Central header: its zip64 record holds only the fields that overflow, in the order sizes, offset.
      const centralZip64 = extraRecord(ZIP64_EXTRA_ID, [...(sizeIn64 ? [u64(size), u64(size)] : []), ...(offsetIn64 ? [u64(offset)] : [])]);
      const centralExtra = sizeIn64 || offsetIn64 ? centralZip64 : new Uint8Array(0);
      const header = new Uint8Array(CENTRAL_HEADER_SIZE);
      const c = view(header);
      c.setUint32(0, CENTRAL_SIGNATURE, true);
      c.setUint16(4, version, true); // made by: MS-DOS, this spec version
      c.setUint16(6, version, true);
      c.setUint16(8, flags, true);
      c.setUint16(10, 0, true);
      c.setUint16(12, 0, true);
      c.setUint16(14, DOS_DATE, true);
      c.setUint32(16, crc, true);
      c.setUint32(20, sizeIn64 ? ZIP32_LIMIT : size, true);
      c.setUint32(24, sizeIn64 ? ZIP32_LIMIT : size, true);
      c.setUint16(28, name.length, true);
      c.setUint16(30, centralExtra.length, true);
      c.setUint32(42, offsetIn64 ? ZIP32_LIMIT : offset, true);
      central.push(header, name, centralExtra);
      offset += head.length + size;
    }

    const directory = concat(central);
    const count = members.length;
    const end64 = always || count >= 0xffff || offset >= ZIP32_LIMIT || directory.length >= ZIP32_LIMIT;
    const tail: Uint8Array[] = [directory];
    if (end64) {
      const record = new Uint8Array(ZIP64_END_SIZE);
      const r = view(record);
      r.setUint32(0, ZIP64_END_SIGNATURE, true);
      r.setBigUint64(4, BigInt(ZIP64_END_SIZE - 12), true);
      r.setUint16(12, 45, true);
      r.setUint16(14, 45, true);
      r.setBigUint64(24, BigInt(count), true);
      r.setBigUint64(32, BigInt(count), true);
      r.setBigUint64(40, BigInt(directory.length), true);
      r.setBigUint64(48, BigInt(offset), true);
      const locator = new Uint8Array(ZIP64_LOCATOR_SIZE);
      const p = view(locator);
      p.setUint32(0, ZIP64_LOCATOR_SIGNATURE, true);
      p.setBigUint64(8, BigInt(offset + directory.length), true);
      p.setUint32(16, 1, true);
      tail.push(record, locator);
    }
    const end = new Uint8Array(END_SIZE);
    const e = view(end);
    e.setUint32(0, END_SIGNATURE, true);
    e.setUint16(8, end64 ? 0xffff : count, true);
    e.setUint16(10, end64 ? 0xffff : count, true);
    e.setUint32(12, end64 ? ZIP32_LIMIT : directory.length, true);
    e.setUint32(16, end64 ? ZIP32_LIMIT : offset, true);
    tail.push(end);
    await out.write(concat(tail), offset);
  } finally {
    await out.close();
  }
}

function extraRecord(id: number, parts: readonly Uint8Array[]): Uint8Array {
  const data = concat(parts);
  const record = new Uint8Array(4 + data.length);
  view(record).setUint16(0, id, true);
  view(record).setUint16(2, data.length, true);
  record.set(data, 4);
  return record;
}

function u64(value: number): Uint8Array {
  const bytes = new Uint8Array(8);
  view(bytes).setBigUint64(0, BigInt(value), true);
  return bytes;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
