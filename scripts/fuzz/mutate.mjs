// Mutations of one file's bytes, chosen by a seeded generator: generic byte-level ones (bit flips,
// 0x00/0xFF runs, truncation, integer extremes at aligned offsets, duplicated and deleted ranges)
// and format-aware ones: safetensors header JSON, NumPy header dicts, JSON manifests and TF.js
// weightsManifest records, zip record fields, protobuf fields and nesting (ONNX subgraph chains,
// submessages wrapped in themselves), pickle opcodes (memo indices, FRAME, integers, strings and
// globals, stack structure, deep nesting) in torch.save zips and legacy streams, and zip members
// (.npy headers in .npz, data.pkl and storages in torch zips) edited and zipped again with correct
// CRCs so the edit reaches the reader behind the zip. Each takes a Buffer and returns a new one;
// none throws on odd input (a format-aware mutation that finds nothing to edit falls back to a
// generic one).

import { constants as zlibConstants, crc32, deflateRawSync, inflateRawSync } from 'node:zlib';

/** @typedef {import('./prng.mjs').Rng} Rng */
/** @typedef {(rng: Rng, buf: Buffer) => Buffer} Mutation */

/** Integer extremes written at aligned offsets and into numeric fields. */
export const EXTREMES = [0n, 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 53n + 1n, 2n ** 63n, -1n, -(2n ** 31n), 2n ** 64n - 1n];

/** JSON values for numeric fields: extremes, negatives, fractions, wrong types. */
const JSON_NUMBERS = [
  0,
  1,
  -1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 53 + 1,
  2 ** 63,
  -(2 ** 63),
  1e308,
  -1e308,
  0.5,
  1e-300,
  'NaN',
  '12',
  null,
  true,
  [],
  {},
];

/** Names and strings with the characters an error line must not pass through. */
const HOSTILE_STRINGS = [
  '',
  'a\nb',
  'x\r\ny',
  '\u001b[31mred\u001b[0m',
  'tab\there',
  '\u0000nul',
  '\u2028sep',
  '\u202eevil',
  '\ud800',
  '../../../../etc/passwd',
  '/dev/zero',
  '/etc/hostname',
  'missing.bin',
  '.',
  '..',
  'x'.repeat(5000),
];

/**
 * Where to put an edit: near the start (headers), near the end (zip directories), or anywhere.
 * @param {Rng} rng
 * @param {number} size
 */
function offset(rng, size) {
  if (size <= 0) return 0;
  const r = rng.float();
  if (r < 0.4) return rng.int(Math.min(size, 1024));
  if (r < 0.7) return Math.max(0, size - 1 - rng.int(Math.min(size, 1024)));
  return rng.int(size);
}

/** @type {Mutation} */
export function bitFlips(rng, buf) {
  const out = Buffer.from(buf);
  if (out.length === 0) return out;
  for (let n = rng.range(1, 8); n > 0; n--) {
    const at = offset(rng, out.length);
    out[at] ^= 1 << rng.int(8);
  }
  return out;
}

/** @type {Mutation} */
export function byteRun(rng, buf) {
  const out = Buffer.from(buf);
  if (out.length === 0) return out;
  const at = offset(rng, out.length);
  const len = Math.min(out.length - at, rng.pick([1, 2, 4, 8, 16, 64, 256, 4096]));
  out.fill(rng.chance(0.5) ? 0x00 : 0xff, at, at + len);
  return out;
}

/** @type {Mutation} */
export function truncate(rng, buf) {
  if (buf.length === 0) return buf;
  const r = rng.float();
  const keep =
    r < 0.3 ? rng.int(Math.min(buf.length, 64)) : r < 0.6 ? buf.length - 1 - rng.int(Math.min(buf.length, 512)) : rng.int(buf.length);
  return Buffer.from(buf.subarray(0, Math.max(0, keep)));
}

/**
 * Writes an extreme integer at an offset, as 2, 4 or 8 bytes, little or big endian.
 * @param {Rng} rng
 * @param {Buffer} out
 * @param {number} at
 */
function writeExtreme(rng, out, at) {
  const width = rng.pick([4, 4, 8, 8, 2]);
  if (at + width > out.length) return;
  const value = BigInt.asUintN(width * 8, rng.pick(EXTREMES));
  const le = rng.chance(0.8);
  for (let i = 0; i < width; i++) {
    const byte = Number((value >> BigInt(8 * i)) & 0xffn);
    out[le ? at + i : at + width - 1 - i] = byte;
  }
}

/** @type {Mutation} */
export function intExtreme(rng, buf) {
  const out = Buffer.from(buf);
  for (let n = rng.range(1, 3); n > 0; n--) {
    const align = rng.pick([2, 4, 8]);
    const at = offset(rng, out.length) & ~(align - 1);
    writeExtreme(rng, out, at);
  }
  return out;
}

/** @type {Mutation} */
export function duplicateRange(rng, buf) {
  if (buf.length === 0) return buf;
  const from = offset(rng, buf.length);
  const len = Math.min(buf.length - from, rng.pick([1, 4, 16, 64, 512, 4096]));
  const to = offset(rng, buf.length);
  return Buffer.concat([buf.subarray(0, to), buf.subarray(from, from + len), buf.subarray(to)]);
}

/** @type {Mutation} */
export function deleteRange(rng, buf) {
  if (buf.length === 0) return buf;
  const from = offset(rng, buf.length);
  const len = Math.min(buf.length - from, rng.pick([1, 4, 16, 64, 512, 4096]));
  return Buffer.concat([buf.subarray(0, from), buf.subarray(from + len)]);
}

export const GENERIC = [bitFlips, byteRun, truncate, intExtreme, duplicateRange, deleteRange];

/**
 * @param {Rng} rng
 * @param {Buffer} buf
 */
export function generic(rng, buf) {
  return rng.pick(GENERIC)(rng, buf);
}

// ---------------------------------------------------------------- JSON documents

/**
 * A value nested `depth` arrays deep, written as text (JSON.stringify would recurse).
 * @param {number} depth
 */
function deepText(depth) {
  return '['.repeat(depth) + '1' + ']'.repeat(depth);
}

/**
 * A random replacement for a JSON value.
 * @param {Rng} rng
 * @param {unknown} old
 * @returns {unknown}
 */
function jsonReplacement(rng, old) {
  const r = rng.float();
  // Copies: the constants are shared by every input, so none may end up inside a document.
  if (r < 0.35) return structuredClone(rng.pick(JSON_NUMBERS));
  if (r < 0.55) return rng.pick(HOSTILE_STRINGS);
  if (r < 0.7 && Array.isArray(old)) {
    const copy = old.slice();
    const op = rng.int(4);
    if (op === 0) copy.pop();
    else if (op === 1) copy.push(structuredClone(rng.pick(JSON_NUMBERS)));
    else if (op === 2 && copy.length) copy[rng.int(copy.length)] = structuredClone(rng.pick(JSON_NUMBERS));
    else return structuredClone(copy.concat(copy).concat(copy));
    return copy;
  }
  if (r < 0.8) return { __deep__: true };
  if (r < 0.9) return Array.from({ length: rng.pick([0, 1, 64, 100000]) }, () => rng.pick([1, 2, 2 ** 31]));
  return undefined; // delete
}

/**
 * Every (parent, key) pair in a parsed JSON tree, depth-first.
 * @param {unknown} root
 * @returns {{ parent: any, key: string | number, path: string }[]}
 */
function jsonSlots(root) {
  /** @type {{ parent: any, key: string | number, path: string }[]} */
  const slots = [];
  // Depth-bounded: an earlier mutation may have nested a value thousands deep.
  /** @param {any} node @param {string} path @param {number} depth */
  const walk = (node, path, depth) => {
    if (node === null || typeof node !== 'object' || depth > 64) return;
    for (const key of Array.isArray(node) ? node.keys() : Object.keys(node)) {
      const p = `${path}/${key}`;
      slots.push({ parent: node, key, path: p });
      walk(node[key], p, depth + 1);
    }
  };
  walk(root, '', 0);
  return slots;
}

/**
 * Edits a few slots of a JSON document (preferring those whose path matches `prefer`), renames a
 * key now and then, and serialises it again; deep nesting is spliced in as text.
 * @param {Rng} rng
 * @param {any} doc
 * @param {RegExp} [prefer]
 * @returns {string}
 */
export function mutateJsonValue(rng, doc, prefer) {
  let deep = 0;
  for (let n = rng.range(1, 3); n > 0; n--) {
    const slots = jsonSlots(doc);
    if (!slots.length) break;
    const preferred = prefer ? slots.filter((s) => prefer.test(s.path)) : [];
    const slot = preferred.length && rng.chance(0.8) ? rng.pick(preferred) : rng.pick(slots);
    if (!Array.isArray(slot.parent) && rng.chance(0.15)) {
      const value = slot.parent[slot.key];
      delete slot.parent[slot.key];
      slot.parent[rng.pick(HOSTILE_STRINGS)] = value;
      continue;
    }
    const value = jsonReplacement(rng, slot.parent[slot.key]);
    if (value === undefined) {
      if (Array.isArray(slot.parent)) slot.parent.splice(Number(slot.key), 1);
      else delete slot.parent[slot.key];
    } else if (typeof value === 'object' && value !== null && '__deep__' in value) {
      deep = rng.pick([100, 5000, 200000]);
      slot.parent[slot.key] = '__DEEP__';
    } else slot.parent[slot.key] = value;
  }
  const text = JSON.stringify(doc);
  return deep ? text.replace('"__DEEP__"', deepText(deep)) : text;
}

/**
 * A JSON file (TF.js model.json, safetensors index): edits its parsed value, else a generic
 * mutation of its bytes.
 * @param {RegExp} prefer
 * @returns {Mutation}
 */
export function jsonFile(prefer) {
  return (rng, buf) => {
    let doc;
    try {
      doc = JSON.parse(buf.toString('utf8'));
    } catch {
      return generic(rng, buf);
    }
    try {
      return Buffer.from(mutateJsonValue(rng, doc, prefer), 'utf8');
    } catch {
      return generic(rng, buf); // nested too deep by an earlier mutation to serialise
    }
  };
}

// ---------------------------------------------------------------- safetensors

/** @type {Mutation} */
export function safetensorsHeader(rng, buf) {
  if (buf.length < 8) return generic(rng, buf);
  const n = buf.readBigUInt64LE(0);
  if (n > BigInt(buf.length - 8)) return generic(rng, buf);
  let doc;
  try {
    doc = JSON.parse(buf.toString('utf8', 8, 8 + Number(n)));
  } catch {
    return generic(rng, buf);
  }
  const body = buf.subarray(8 + Number(n));
  if (rng.chance(0.15)) {
    // The header length itself.
    const out = Buffer.from(buf);
    out.writeBigUInt64LE(BigInt.asUintN(64, rng.pick([...EXTREMES, n + 1n, n - 1n, 0n])), 0);
    return out;
  }
  const dtypes = ['F64', 'F16', 'BF16', 'I64', 'U8', 'BOOL', 'F8_E4M3', 'I4', 'F4', 'C64', 'STR', '', 'f32'];
  const prefer = rng.pick([/data_offsets/, /dtype$/, /shape/, /./]);
  let text;
  try {
    const names =
      doc && typeof doc === 'object' ? Object.keys(doc).filter((k) => k !== '__metadata__' && doc[k] && typeof doc[k] === 'object') : [];
    if (prefer.source === 'dtype$' && names.length && rng.chance(0.6)) {
      doc[rng.pick(names)].dtype = rng.pick(dtypes);
      text = JSON.stringify(doc);
    } else text = mutateJsonValue(rng, doc, prefer);
  } catch {
    return generic(rng, buf); // nested too deep by an earlier mutation to serialise
  }
  const header = Buffer.from(text, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([len, header, body]);
}

// ---------------------------------------------------------------- NumPy

/**
 * Edits one NumPy header (at `at`, starting with \x93NUMPY) in place when `sameLength` (so an
 * enclosing zip stays intact but for the CRC), else rewrites it with its new length.
 * @param {Rng} rng
 * @param {Buffer} buf
 * @param {number} at
 * @param {boolean} sameLength
 */
function npyHeaderAt(rng, buf, at, sameLength) {
  const major = buf[at + 6];
  const wide = major >= 2;
  const lenBytes = wide ? 4 : 2;
  if (at + 8 + lenBytes > buf.length) return generic(rng, buf);
  const hlen = wide ? buf.readUInt32LE(at + 8) : buf.readUInt16LE(at + 8);
  const start = at + 8 + lenBytes;
  const end = Math.min(buf.length, start + hlen);
  if (rng.chance(0.2)) {
    const out = Buffer.from(buf);
    if (rng.chance(0.5)) out[at + 6] = rng.pick([0, 1, 2, 3, 4, 255]);
    else if (wide) out.writeUInt32LE(Number(BigInt.asUintN(32, rng.pick(EXTREMES))), at + 8);
    else out.writeUInt16LE(rng.pick([0, 1, 0xffff, Math.min(0xffff, hlen + 16)]), at + 8);
    return out;
  }
  let dict = buf.toString('latin1', start, end);
  const descrs = ['<f8', '>f4', '<f2', '|b1', '|u1', '<i8', '<c8', '<U10', '|O', '|V4', '<M8[s]', "[('a', '<f4')]", '<f16', '', 'zz'];
  const shapes = [
    '()',
    '(0,)',
    '(-1,)',
    '(1, -2)',
    '(4294967296, 4294967296)',
    '(9223372036854775808,)',
    '(1e300,)',
    '(2, 3',
    '((2,),)',
    '(' + '1, '.repeat(64) + ')',
  ];
  const choice = rng.int(5);
  if (choice === 0)
    dict = dict.replace(/'descr':\s*('[^']*'|\[[^\]]*\])/, `'descr': ${JSON.stringify(rng.pick(descrs)).replace(/"/g, "'")}`);
  else if (choice === 1) dict = dict.replace(/'shape':\s*\([^)]*\)/, `'shape': ${rng.pick(shapes)}`);
  else if (choice === 2)
    dict = dict.replace(/'fortran_order':\s*(True|False)/, `'fortran_order': ${rng.pick(['True', 'False', '1', 'None', "'yes'"])}`);
  else if (choice === 3) dict = dict.replace(/\{/, rng.pick(['{{', "{'extra': 1, ", '[', '{' + '['.repeat(200)]));
  else dict = dict.replace(/'(\w+)'/, rng.pick(["'descr'", "'shape'", "'x\\n'", "'\u0007'"]));
  let bytes = Buffer.from(dict, 'latin1');
  if (sameLength) {
    bytes = Buffer.concat([bytes, Buffer.alloc(Math.max(0, end - start - bytes.length), 0x20)]).subarray(0, end - start);
    const out = Buffer.from(buf);
    bytes.copy(out, start);
    return out;
  }
  const len = Buffer.alloc(lenBytes);
  if (wide) len.writeUInt32LE(bytes.length);
  else len.writeUInt16LE(Math.min(0xffff, bytes.length));
  return Buffer.concat([buf.subarray(0, at + 8), len, bytes, buf.subarray(end)]);
}

/**
 * All offsets of a byte pattern.
 * @param {Buffer} buf
 * @param {Buffer} pattern
 */
function findAll(buf, pattern) {
  const hits = [];
  for (let i = buf.indexOf(pattern); i >= 0; i = buf.indexOf(pattern, i + 1)) hits.push(i);
  return hits;
}

const NPY_MAGIC = Buffer.from('\x93NUMPY', 'latin1');

/** @type {Mutation} */
export function npyHeader(rng, buf) {
  const hits = findAll(buf, NPY_MAGIC);
  if (!hits.length) return generic(rng, buf);
  const at = rng.pick(hits);
  return npyHeaderAt(rng, buf, at, at !== 0 || rng.chance(0.3));
}

// ---------------------------------------------------------------- zip

/** Zip records and the offsets of their integer fields: [offset, width]. */
const ZIP_RECORDS = [
  // local file header: version, flags, method, time, date, crc, csize, usize, name len, extra len
  {
    sig: 0x04034b50,
    fields: [
      [4, 2],
      [6, 2],
      [8, 2],
      [14, 4],
      [18, 4],
      [22, 4],
      [26, 2],
      [28, 2],
    ],
  },
  // central directory: method, crc, csize, usize, name len, extra len, comment len, disk, attrs, local offset
  {
    sig: 0x02014b50,
    fields: [
      [10, 2],
      [16, 4],
      [20, 4],
      [24, 4],
      [28, 2],
      [30, 2],
      [32, 2],
      [34, 2],
      [38, 4],
      [42, 4],
    ],
  },
  // end of central directory: disk, cd disk, entries here, entries, cd size, cd offset, comment len
  {
    sig: 0x06054b50,
    fields: [
      [4, 2],
      [6, 2],
      [8, 2],
      [10, 2],
      [12, 4],
      [16, 4],
      [20, 2],
    ],
  },
  // zip64 end of central directory: entries here, entries, cd size, cd offset
  {
    sig: 0x06064b50,
    fields: [
      [4, 8],
      [24, 8],
      [32, 8],
      [40, 8],
      [48, 8],
    ],
  },
  // zip64 locator: disk, offset of the zip64 record, disks
  {
    sig: 0x07064b50,
    fields: [
      [4, 4],
      [8, 8],
      [16, 4],
    ],
  },
];

/** @type {Mutation} */
export function zipField(rng, buf) {
  /** @type {{ at: number, fields: number[][] }[]} */
  const records = [];
  for (const rec of ZIP_RECORDS) {
    const sig = Buffer.alloc(4);
    sig.writeUInt32LE(rec.sig);
    for (const at of findAll(buf, sig)) records.push({ at, fields: rec.fields });
  }
  if (!records.length) return generic(rng, buf);
  const out = Buffer.from(buf);
  for (let n = rng.range(1, 2); n > 0; n--) {
    const rec = rng.pick(records);
    const [off, width] = rng.pick(rec.fields);
    const at = rec.at + off;
    if (at + width > out.length) continue;
    const value = BigInt.asUintN(width * 8, rng.pick([...EXTREMES, 1n, 8n, 12n, 99n]));
    for (let i = 0; i < width; i++) out[at + i] = Number((value >> BigInt(8 * i)) & 0xffn);
  }
  return out;
}

// ---------------------------------------------------------------- protobuf

/**
 * @typedef {{ field: number, wire: number, varint?: bigint, fixed?: Buffer, bytes?: Buffer,
 *   children?: PbNode[], lengthDelta?: number }} PbNode
 */

/**
 * @param {Buffer} buf
 * @param {number} pos
 * @returns {[bigint, number] | null}
 */
function readVarint(buf, pos) {
  let value = 0n;
  for (let shift = 0n; shift < 70n; shift += 7n) {
    if (pos >= buf.length) return null;
    const b = buf[pos++];
    value |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) return [value, pos];
  }
  return null;
}

/** @param {bigint} value */
function writeVarint(value) {
  let v = BigInt.asUintN(64, value);
  const bytes = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    bytes.push(b);
  } while (v);
  return Buffer.from(bytes);
}

/**
 * Parses a buffer as protobuf fields, descending into length-delimited values that parse as
 * messages themselves; null when it is not a message.
 * @param {Buffer} buf
 * @param {number} depth
 * @returns {PbNode[] | null}
 */
function parsePb(buf, depth) {
  /** @type {PbNode[]} */
  const nodes = [];
  let pos = 0;
  while (pos < buf.length) {
    const tag = readVarint(buf, pos);
    if (!tag) return null;
    const field = Number(tag[0] >> 3n);
    const wire = Number(tag[0] & 7n);
    pos = tag[1];
    if (field <= 0 || field > 536870911) return null;
    if (wire === 0) {
      const v = readVarint(buf, pos);
      if (!v) return null;
      nodes.push({ field, wire, varint: v[0] });
      pos = v[1];
    } else if (wire === 1 || wire === 5) {
      const w = wire === 1 ? 8 : 4;
      if (pos + w > buf.length) return null;
      nodes.push({ field, wire, fixed: buf.subarray(pos, pos + w) });
      pos += w;
    } else if (wire === 2) {
      const v = readVarint(buf, pos);
      if (!v || v[1] + Number(v[0]) > buf.length) return null;
      const bytes = buf.subarray(v[1], v[1] + Number(v[0]));
      pos = v[1] + Number(v[0]);
      const children = depth < 12 && bytes.length > 1 ? parsePb(bytes, depth + 1) : null;
      nodes.push(children ? { field, wire, bytes, children } : { field, wire, bytes });
    } else return null;
  }
  return nodes;
}

/**
 * @param {PbNode[]} nodes
 * @returns {Buffer}
 */
function serializePb(nodes) {
  /** @type {Buffer[]} */
  const parts = [];
  for (const n of nodes) {
    parts.push(writeVarint(BigInt((n.field << 3) | n.wire)));
    if (n.wire === 0) parts.push(writeVarint(n.varint));
    else if (n.wire === 1 || n.wire === 5) parts.push(n.fixed);
    else {
      const bytes = n.children ? serializePb(n.children) : n.bytes;
      parts.push(writeVarint(BigInt(bytes.length + (n.lengthDelta ?? 0))), bytes);
    }
  }
  return Buffer.concat(parts);
}

/**
 * @param {PbNode[]} nodes
 * @returns {{ node: PbNode, siblings: PbNode[] }[]}
 */
function allPb(nodes) {
  /** @type {{ node: PbNode, siblings: PbNode[] }[]} */
  const out = [];
  for (const node of nodes) {
    out.push({ node, siblings: nodes });
    if (node.children) out.push(...allPb(node.children));
  }
  return out;
}

/** Strings for ONNX string fields: external-data keys' values among them. */
const PB_STRINGS = ['-1', '0', '18446744073709551616', '9007199254740993', '1e9', '0x10', ' 12', '4294967296', ...HOSTILE_STRINGS];

/** @type {Mutation} */
export function protobufField(rng, buf) {
  const nodes = parsePb(buf, 0);
  if (!nodes || !nodes.length) return generic(rng, buf);
  const all = allPb(nodes);
  for (let n = rng.range(1, 3); n > 0; n--) {
    const { node, siblings } = rng.pick(all);
    const r = rng.float();
    if (node.wire === 0 && r < 0.7) node.varint = rng.pick(EXTREMES);
    else if (node.wire === 2 && !node.children && r < 0.5) node.bytes = Buffer.from(rng.pick(PB_STRINGS), 'utf8');
    else if (node.wire === 2 && r < 0.8) node.lengthDelta = rng.pick([-1, 1, -7, 1000, 2 ** 31]);
    else if (r < 0.9) siblings.splice(siblings.indexOf(node), 0, node);
    else if (siblings.includes(node)) siblings.splice(siblings.indexOf(node), 1);
  }
  return serializePb(nodes);
}

/**
 * A message nested `depth` deep: each level is field `field` (length-delimited) holding the next,
 * the innermost holding `inner`. Built in one pass (lengths from the inside out).
 * @param {number} field
 * @param {Buffer} inner
 * @param {number} depth
 */
function nestedPb(field, inner, depth) {
  const varintSize = (/** @type {number} */ v) => (v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : v < 268435456 ? 4 : 5);
  const tag = (field << 3) | 2;
  // Lengths from the inside out, then written outermost first into one buffer.
  const lengths = new Float64Array(depth);
  let len = inner.length;
  for (let d = 0; d < depth; d++) {
    lengths[d] = len;
    len += varintSize(tag) + varintSize(len);
  }
  const out = Buffer.alloc(len);
  let pos = 0;
  const put = (/** @type {number} */ v) => {
    while (v >= 128) {
      out[pos++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    out[pos++] = v;
  };
  for (let d = depth - 1; d >= 0; d--) {
    put(tag);
    put(lengths[d]);
  }
  inner.copy(out, pos);
  return out;
}

/**
 * @param {number} field
 * @param {Buffer} bytes
 */
function pbBytes(field, bytes) {
  return Buffer.concat([writeVarint(BigInt((field << 3) | 2)), writeVarint(BigInt(bytes.length)), bytes]);
}

/**
 * @param {number} field
 * @param {bigint} value
 */
function pbVarint(field, value) {
  return Buffer.concat([writeVarint(BigInt(field << 3)), writeVarint(value)]);
}

/**
 * Deep nesting: either ONNX subgraphs (a node "If" whose then_branch attribute holds a graph whose
 * node is again an "If" …, at or past the reader's depth limit), or any submessage wrapped in
 * itself thousands of times.
 * @type {Mutation}
 */
export function protobufNesting(rng, buf) {
  const nodes = parsePb(buf, 0);
  if (!nodes || !nodes.length) return generic(rng, buf);
  const graph = nodes.find((n) => n.field === 7 && n.wire === 2 && n.children);
  if (graph && graph.children && rng.chance(0.6)) {
    // GraphProto.node (1) → NodeProto{op_type (4), attribute (5)} → AttributeProto{name (1), type (20) = GRAPH, g (6)} → GraphProto …
    // Levels are small, so copying each into the next stays cheap.
    const levels = rng.pick([31, 32, 33, 34, 100, 1000]);
    let content = rng.chance(0.5) ? serializePb(graph.children.filter((n) => n.field === 5).slice(0, 1)) : Buffer.alloc(0);
    const attrHead = Buffer.concat([pbBytes(1, Buffer.from('then_branch')), pbVarint(20, 5n)]);
    let node = Buffer.alloc(0);
    for (let d = 0; d < levels; d++) {
      node = Buffer.concat([pbBytes(4, Buffer.from('If')), pbBytes(5, Buffer.concat([attrHead, pbBytes(6, content)]))]);
      content = pbBytes(1, node);
    }
    graph.children.splice(rng.int(graph.children.length + 1), 0, { field: 1, wire: 2, bytes: node });
    return serializePb(nodes);
  }
  const depth = rng.pick([100, 1000, 20000, 100000]);
  const candidates = allPb(nodes).filter(({ node }) => node.wire === 2);
  if (!candidates.length) return generic(rng, buf);
  const { node } = rng.pick(candidates);
  const inner = node.children ? serializePb(node.children) : /** @type {Buffer} */ (node.bytes);
  const nested = nestedPb(node.field, inner, depth);
  // nested starts with its own outermost tag and length: the node keeps its tag, so strip them.
  const tag = readVarint(nested, 0);
  const length = tag && readVarint(nested, tag[1]);
  node.children = undefined;
  node.bytes = length ? nested.subarray(length[1]) : nested;
  return serializePb(nodes);
}

// ---------------------------------------------------------------- zip members, re-zipped

/**
 * @typedef {{ name: string, data: Buffer, method: number, raw?: { raw: Buffer, size: number, crc: number } }} ZipMember
 *   raw: the member's deflated bytes, size and CRC given as they are (a bomb), instead of data
 */

/** The most a mutation inflates of one member. */
const MAX_INFLATED = 64 << 20;

/**
 * The members of a zip (stored or deflated, no zip64), from its central directory; null when it is
 * not one this can read.
 * @param {Buffer} buf
 * @returns {ZipMember[] | null}
 */
export function readZip(buf) {
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0 || eocd + 22 > buf.length) return null;
  const count = buf.readUInt16LE(eocd + 10);
  let at = buf.readUInt32LE(eocd + 16);
  /** @type {ZipMember[]} */
  const members = [];
  try {
    for (let i = 0; i < count; i++) {
      if (buf.readUInt32LE(at) !== 0x02014b50) return null;
      const method = buf.readUInt16LE(at + 10);
      const csize = buf.readUInt32LE(at + 20);
      const nameLen = buf.readUInt16LE(at + 28);
      const extraLen = buf.readUInt16LE(at + 30);
      const commentLen = buf.readUInt16LE(at + 32);
      const local = buf.readUInt32LE(at + 42);
      const name = buf.toString('utf8', at + 46, at + 46 + nameLen);
      if (buf.readUInt32LE(local) !== 0x04034b50 || (method !== 0 && method !== 8) || csize === 0xffffffff) return null;
      const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
      if (start + csize > buf.length) return null;
      const raw = buf.subarray(start, start + csize);
      const size = buf.readUInt32LE(at + 24);
      // A bomb (an earlier mutation's) is kept as it is, never inflated here.
      if (method === 8 && size > MAX_INFLATED)
        members.push({ name, method, data: Buffer.alloc(0), raw: { raw: Buffer.from(raw), size, crc: buf.readUInt32LE(at + 16) } });
      else members.push({ name, method, data: method === 8 ? inflateRawSync(raw, { maxOutputLength: MAX_INFLATED }) : Buffer.from(raw) });
      at += 46 + nameLen + extraLen + commentLen;
    }
  } catch {
    return null;
  }
  return members;
}

/**
 * A zip of these members with correct sizes and CRC-32s; stored members' data aligned to 64 bytes
 * (an extra field of padding, as torch.save writes).
 * @param {ZipMember[]} members
 * @returns {Buffer}
 */
export function writeZip(members) {
  /** @type {Buffer[]} */
  const parts = [];
  /** @type {Buffer[]} */
  const central = [];
  let offset = 0;
  for (const m of members) {
    const name = Buffer.from(m.name, 'utf8');
    const body = m.raw ? m.raw.raw : m.method === 8 ? deflateRawSync(m.data) : m.data;
    const crc = m.raw ? m.raw.crc : crc32(m.data);
    const size = m.raw ? m.raw.size : m.data.length;
    let extra = Buffer.alloc(0);
    if (m.method === 0) {
      const pad = (64 - ((offset + 30 + name.length + 4) % 64)) % 64;
      extra = Buffer.alloc(4 + pad);
      extra.writeUInt16LE(0x4246, 0); // 'FB'
      extra.writeUInt16LE(pad, 2);
    }
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(m.method, 8);
    local.writeUInt16LE(0x21, 12); // 1980-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(extra.length, 28);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(m.method, 10);
    cd.writeUInt16LE(0x21, 14);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(body.length, 20);
    cd.writeUInt32LE(size, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE(offset, 42);
    central.push(cd, name);
    parts.push(local, name, extra, body);
    offset += 30 + name.length + extra.length + body.length;
  }
  const cdBytes = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(members.length, 8);
  eocd.writeUInt16LE(members.length, 10);
  eocd.writeUInt32LE(cdBytes.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cdBytes, eocd]);
}

/**
 * Members of a zip rewritten as a whole, with correct CRCs, so that an edit reaches the reader
 * behind the zip: one member's content changed by `edit` (chosen by `prefer` most of the time),
 * or the member records themselves deleted, duplicated, reordered, renamed or recompressed.
 * @param {string} name the mutation's name in reports
 * @param {(name: string) => boolean} prefer
 * @param {(rng: Rng, name: string, data: Buffer) => Buffer} edit
 * @returns {Mutation}
 */
function zipMembers(name, prefer, edit) {
  const mutation = (/** @type {Rng} */ rng, /** @type {Buffer} */ buf) => {
    const members = readZip(buf);
    if (!members || !members.length) return generic(rng, buf);
    const r = rng.float();
    if (r < 0.75) {
      const preferred = members.filter((m) => prefer(m.name));
      const m = preferred.length && rng.chance(0.85) ? rng.pick(preferred) : rng.pick(members);
      m.data = edit(rng, m.name, m.data);
      delete m.raw;
    } else {
      const i = rng.int(members.length);
      const op = rng.int(5);
      if (op === 0) members.splice(i, 1);
      else if (op === 1)
        members.splice(rng.int(members.length + 1), 0, {
          ...members[i],
          data: rng.chance(0.5) ? members[i].data : generic(rng, members[i].data),
        });
      else if (op === 2) members.splice(rng.int(members.length), 0, ...members.splice(i, 1));
      else if (op === 3)
        members[i].name = rng.pick([
          members[i].name.toUpperCase(),
          `${members[i].name}x`,
          `../${members[i].name}`,
          members[i].name.replace(/^[^/]*\//, 'other/'),
          members[rng.int(members.length)].name,
          '',
        ]);
      else if (!members[i].raw) members[i].method = members[i].method === 8 ? 0 : 8;
    }
    return writeZip(members);
  };
  return Object.defineProperty(mutation, 'name', { value: name });
}

// ---------------------------------------------------------------- pickle

/** Opcodes without an argument. */
const PK_NOARG = new Set([
  0x28, 0x2e, 0x30, 0x31, 0x32, 0x4e, 0x51, 0x52, 0x61, 0x62, 0x64, 0x7d, 0x65, 0x6c, 0x5d, 0x6f, 0x73, 0x74, 0x29, 0x75, 0x81, 0x85, 0x86,
  0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x97, 0x98,
]);
/** Fixed-size arguments. */
const PK_FIXED = new Map([
  [0x4b, 1], // BININT1
  [0x68, 1], // BINGET
  [0x71, 1], // BINPUT
  [0x80, 1], // PROTO
  [0x82, 1], // EXT1
  [0x4d, 2], // BININT2
  [0x83, 2], // EXT2
  [0x4a, 4], // BININT
  [0x6a, 4], // LONG_BINGET
  [0x72, 4], // LONG_BINPUT
  [0x84, 4], // EXT4
  [0x47, 8], // BINFLOAT
  [0x95, 8], // FRAME
]);
/** Newline-terminated arguments (GLOBAL and INST: two lines). */
const PK_LINE = new Map([
  [0x46, 1],
  [0x49, 1],
  [0x4c, 1],
  [0x50, 1],
  [0x53, 1],
  [0x56, 1],
  [0x67, 1],
  [0x70, 1],
  [0x63, 2],
  [0x69, 2],
]);
/** Length-prefixed arguments: width of the length. */
const PK_COUNTED = new Map([
  [0x55, 1], // SHORT_BINSTRING
  [0x43, 1], // SHORT_BINBYTES
  [0x8c, 1], // SHORT_BINUNICODE
  [0x8a, 1], // LONG1
  [0x54, 4], // BINSTRING
  [0x58, 4], // BINUNICODE
  [0x42, 4], // BINBYTES
  [0x8b, 4], // LONG4
  [0x8d, 8], // BINUNICODE8
  [0x8e, 8], // BINBYTES8
  [0x96, 8], // BYTEARRAY8
]);

/**
 * Splits one pickle (from `at` to its STOP) into opcodes with their arguments; null when it does
 * not parse.
 * @param {Buffer} buf
 * @param {number} at
 * @returns {{ ops: Buffer[], end: number } | null}
 */
export function splitPickle(buf, at) {
  /** @type {Buffer[]} */
  const ops = [];
  let pos = at;
  while (pos < buf.length) {
    const op = buf[pos];
    let end = pos + 1;
    if (PK_NOARG.has(op)) {
      // no argument
    } else if (PK_FIXED.has(op)) end += /** @type {number} */ (PK_FIXED.get(op));
    else if (PK_LINE.has(op)) {
      for (let n = /** @type {number} */ (PK_LINE.get(op)); n > 0; n--) {
        const nl = buf.indexOf(0x0a, end);
        if (nl < 0) return null;
        end = nl + 1;
      }
    } else if (PK_COUNTED.has(op)) {
      const w = /** @type {number} */ (PK_COUNTED.get(op));
      if (end + w > buf.length) return null;
      const n = w === 1 ? buf[end] : w === 4 ? buf.readUInt32LE(end) : Number(buf.readBigUInt64LE(end));
      end += w + n;
    } else return null;
    if (end > buf.length) return null;
    ops.push(buf.subarray(pos, end));
    pos = end;
    if (op === 0x2e) return { ops, end };
  }
  return null;
}

/** Strings a pickle's text fields are set to: torch names of the wrong kind, unsafe globals, hostile text. */
const PK_STRINGS = [
  'FloatStorage',
  'HalfStorage',
  'BFloat16Storage',
  'ByteStorage',
  'LongStorage',
  'ComplexFloatStorage',
  'QInt8Storage',
  'UntypedStorage',
  'storage',
  'cpu',
  'cuda:0',
  'meta',
  '0',
  '1',
  '99',
  'data/0',
  '_rebuild_tensor_v2',
  '_rebuild_parameter',
  '_rebuild_sparse_tensor',
  'OrderedDict',
  'system',
  'eval',
  ...HOSTILE_STRINGS,
];
/** Globals (module\nname\n) a GLOBAL is set to. */
const PK_GLOBALS = [
  'torch._utils\n_rebuild_tensor_v2\n',
  'torch._utils\n_rebuild_parameter\n',
  'torch._utils\n_rebuild_qtensor\n',
  'torch\nFloatStorage\n',
  'torch\nBFloat16Storage\n',
  'torch\nfloat16\n',
  'collections\nOrderedDict\n',
  'builtins\nset\n',
  'builtins\nbytearray\n',
  'os\nsystem\n',
  'posix\nsystem\n',
  'builtins\neval\n',
  '__builtin__\nset\n',
  'torch.nn.modules.linear\nLinear\n',
  'numpy.core.multiarray\n_reconstruct\n',
  '\u202e\n\u0007\n',
];

/**
 * @param {number} op
 * @param {number} width
 * @param {bigint} value
 */
function pkFixed(op, width, value) {
  const out = Buffer.alloc(1 + width);
  out[0] = op;
  const v = BigInt.asUintN(width * 8, value);
  for (let i = 0; i < width; i++) out[1 + i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return out;
}

/**
 * A LONG1 of a signed value, in as few bytes as it needs (or `bytes` of them).
 * @param {bigint} value
 * @param {number} [bytes]
 */
function pkLong1(value, bytes) {
  let n = bytes ?? 1;
  if (bytes === undefined) while (n < 255 && (value >= 1n << BigInt(8 * n - 1) || value < -(1n << BigInt(8 * n - 1)))) n++;
  return Buffer.concat([Buffer.from([0x8a, n]), pkFixed(0, n, value).subarray(1)]);
}

/**
 * @param {string} text
 */
function pkUnicode(text) {
  const bytes = Buffer.from(text, 'utf8');
  const head = Buffer.alloc(5);
  head[0] = 0x58;
  head.writeUInt32LE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

/** Integer values for BININT/LONG1 (shapes, strides, offsets, counts, memo and storage keys). */
const PK_INTS = [
  0n,
  1n,
  -1n,
  2n,
  3n,
  255n,
  256n,
  65535n,
  2n ** 31n - 1n,
  -(2n ** 31n),
  2n ** 32n,
  2n ** 53n + 1n,
  2n ** 63n - 1n,
  -(2n ** 63n),
  2n ** 64n,
];

/**
 * One edit of a pickle's opcodes: memo indices (BINPUT/BINGET/LONG_BINGET/LONG_BINPUT), FRAME and
 * PROTO, integer values (BININT*, LONG1), strings and globals, opcodes replaced, and the stack's
 * structure (MARKs, POPs, DUPs and reductions inserted, deleted, duplicated or moved; deep nesting;
 * STOP removed).
 * @param {Rng} rng
 * @param {Buffer[]} ops one pickle's opcodes, edited in place
 */
function editPickleOps(rng, ops) {
  const of = (/** @type {number[]} */ codes) =>
    ops
      .map((o, i) => [o, i])
      .filter(([o]) => codes.includes(/** @type {Buffer} */ (o)[0]))
      .map(([, i]) => /** @type {number} */ (i));
  const kind = rng.int(8);
  if (kind === 0) {
    // Memo indices: another entry's, one past the last, or extremes; or a GET turned into a long one.
    const at = of([0x68, 0x71, 0x6a, 0x72, 0x94]);
    if (!at.length) return;
    const i = rng.pick(at);
    const op = ops[i][0];
    const r = rng.float();
    const puts = of([0x71, 0x72]).map((j) => (ops[j][0] === 0x71 ? ops[j][1] : ops[j].readUInt32LE(1)));
    const index = r < 0.4 && puts.length ? BigInt(rng.pick(puts)) : r < 0.6 ? BigInt(puts.length + rng.int(3)) : rng.pick(PK_INTS);
    if (op === 0x94) ops.splice(i, 1, pkFixed(0x71, 1, index));
    else if ((op === 0x68 || op === 0x71) && rng.chance(0.7)) ops[i] = pkFixed(op, 1, index);
    else ops[i] = pkFixed(op === 0x68 || op === 0x6a ? 0x6a : 0x72, 4, index);
  } else if (kind === 1) {
    // FRAME: a frame header with a wrong length, or PROTO changed.
    const frames = of([0x95]);
    const lengths = [0n, 1n, 9n, 2n ** 31n, 2n ** 63n, 2n ** 64n - 1n];
    if (frames.length && rng.chance(0.5)) {
      const i = rng.pick(frames);
      ops[i] = pkFixed(0x95, 8, rng.chance(0.5) ? rng.pick(lengths) : ops[i].readBigUInt64LE(1) + BigInt(rng.pick([-1, 1, -8])));
    } else if (rng.chance(0.7)) {
      const rest = BigInt(ops.slice(1).reduce((n, o) => n + o.length, 0));
      const at = ops[0]?.[0] === 0x80 ? 1 : 0;
      ops.splice(
        at + rng.int(Math.min(3, ops.length - at)),
        0,
        pkFixed(0x95, 8, rng.chance(0.5) ? rest + BigInt(rng.pick([-1, 0, 1, -20])) : rng.pick(lengths)),
      );
      if (ops[0]?.[0] === 0x80 && rng.chance(0.7)) ops[0] = pkFixed(0x80, 1, 4n);
    } else {
      const protos = of([0x80]);
      if (protos.length) ops[protos[0]] = pkFixed(0x80, 1, rng.pick([0n, 1n, 3n, 5n, 6n, 255n]));
      else ops.unshift(pkFixed(0x80, 1, rng.pick([2n, 5n, 255n])));
    }
  } else if (kind === 2) {
    // Integers: shapes, strides, storage offsets, element counts.
    const at = of([0x4a, 0x4b, 0x4d, 0x8a]);
    if (!at.length) return;
    const i = rng.pick(at);
    const v = rng.pick(PK_INTS);
    const r = rng.float();
    if (r < 0.3 && v >= -(2n ** 31n) && v < 2n ** 31n) ops[i] = pkFixed(0x4a, 4, v);
    else if (r < 0.4) ops[i] = pkFixed(ops[i][0] === 0x4b ? 0x4b : 0x4d, ops[i][0] === 0x4b ? 1 : 2, rng.pick([0n, 1n, 255n, 65535n]));
    else if (r < 0.5) ops[i] = pkLong1(v, rng.pick([0, 8, 9, 255]));
    else ops[i] = pkLong1(v);
  } else if (kind === 3) {
    // Strings and globals: storage types, devices, keys, rebuild functions, unsafe names.
    const at = of([0x58, 0x8c, 0x55, 0x63, 0x54]);
    if (!at.length) return;
    const i = rng.pick(at);
    if (ops[i][0] === 0x63) ops[i] = Buffer.concat([Buffer.from([0x63]), Buffer.from(rng.pick(PK_GLOBALS), 'utf8')]);
    else if (rng.chance(0.15)) {
      const out = Buffer.from(ops[i]);
      if (out[0] === 0x58 || out[0] === 0x54) out.writeUInt32LE(Number(BigInt.asUintN(32, rng.pick(EXTREMES))), 1);
      else out[1] = rng.pick([0, 255]);
      ops[i] = out;
    } else ops[i] = pkUnicode(rng.pick(PK_STRINGS));
  } else if (kind === 4) {
    // An opcode replaced by another (its argument rebuilt).
    const i = rng.int(ops.length);
    const swaps = [
      Buffer.from([rng.pick([...PK_NOARG])]),
      pkFixed(0x4a, 4, rng.pick(PK_INTS)),
      pkFixed(0x68, 1, BigInt(rng.int(256))),
      pkFixed(0x71, 1, BigInt(rng.int(256))),
      pkUnicode(rng.pick(PK_STRINGS)),
      Buffer.concat([Buffer.from([0x63]), Buffer.from(rng.pick(PK_GLOBALS), 'utf8')]),
      Buffer.from([rng.int(256)]),
    ];
    ops[i] = rng.pick(swaps);
  } else if (kind === 5) {
    // Stack structure: an op deleted, duplicated, moved, or a stack op inserted.
    const i = rng.int(ops.length);
    const r = rng.float();
    const structural = of([0x28, 0x74, 0x85, 0x86, 0x87, 0x52, 0x62, 0x51, 0x75, 0x65, 0x73, 0x61, 0x81, 0x93]);
    const j = structural.length && rng.chance(0.7) ? rng.pick(structural) : i;
    if (r < 0.3) ops.splice(j, 1);
    else if (r < 0.5) ops.splice(j, 0, ops[j]);
    else if (r < 0.7) ops.splice(rng.int(ops.length), 0, ...ops.splice(j, 1));
    else ops.splice(i, 0, Buffer.from([rng.pick([0x28, 0x30, 0x31, 0x32, 0x52, 0x62, 0x51, 0x74, 0x29, 0x65, 0x75, 0x2e])]));
  } else if (kind === 6) {
    // Deep nesting: MARKs, lists in lists, tuples of tuples, or a value reduced many times.
    const depth = rng.pick([100, 10000, 10001, 100000]);
    const i = rng.int(ops.length);
    const r = rng.float();
    /** @type {Buffer} */
    let deep;
    if (r < 0.3) deep = Buffer.alloc(depth, 0x28);
    else if (r < 0.55)
      deep = Buffer.concat([Buffer.alloc(depth, 0x5d), Buffer.alloc(depth - 1, 0x61)]); // [[[…]]]
    else if (r < 0.8)
      deep = Buffer.concat([Buffer.from([0x29]), Buffer.alloc(depth, 0x85)]); // ((((),),),)
    else deep = Buffer.concat([Buffer.from([0x5d]), Buffer.alloc(depth, 0x32), Buffer.alloc(depth, 0x61)]); // a list appended to itself
    ops.splice(i, 0, deep);
  } else {
    // STOP removed or the pickle cut short; or two ops swapped.
    const r = rng.float();
    if (r < 0.3 && ops.length && ops[ops.length - 1][0] === 0x2e) ops.pop();
    else if (r < 0.5) ops.splice(rng.int(ops.length));
    else {
      const a = rng.int(ops.length);
      const b = Math.min(ops.length - 1, a + 1 + rng.int(3));
      [ops[a], ops[b]] = [ops[b], ops[a]];
    }
  }
}

/**
 * Edits a buffer holding one pickle (data.pkl): 1 to 3 opcode-level edits; a generic mutation
 * when it does not parse.
 * @param {Rng} rng
 * @param {Buffer} buf
 */
function mutatePickleBytes(rng, buf) {
  const split = splitPickle(buf, 0);
  if (!split) return generic(rng, buf);
  const ops = split.ops;
  for (let n = rng.range(1, 3); n > 0; n--) editPickleOps(rng, ops);
  return Buffer.concat([...ops, buf.subarray(split.end)]);
}

/**
 * Edits a torch.save zip's members with correct CRCs: data.pkl's opcodes mostly, else a storage's
 * bytes (cut, grown), the version or byteorder record, or the member records themselves.
 * @type {Mutation}
 */
export const torchZipPickle = zipMembers(
  'torchZipPickle',
  (name) => name.endsWith('.pkl'),
  (rng, name, data) => {
    if (name.endsWith('.pkl')) return mutatePickleBytes(rng, data);
    if (/(^|\/)(version|byteorder|\.format_version|\.storage_alignment)$/.test(name))
      return Buffer.from(rng.pick(['0', '1', '3', '99', '-1', 'big', 'little', 'middle', '', '1\n2', '\u202e']), 'utf8');
    const r = rng.float();
    if (r < 0.4) return data.subarray(0, rng.int(data.length));
    if (r < 0.6) return Buffer.concat([data, data]);
    return generic(rng, data);
  },
);

/**
 * Edits one of the pickles of a legacy torch.save stream (magic number, protocol version, sys_info,
 * the object, the storage keys), mostly the object pickle; the raw storages after them are kept.
 * @type {Mutation}
 */
export function legacyPickle(rng, buf) {
  /** @type {{ start: number, end: number }[]} */
  const pickles = [];
  let at = 0;
  for (let k = 0; k < 5 && at < buf.length; k++) {
    const split = splitPickle(buf, at);
    if (!split) break;
    pickles.push({ start: at, end: split.end });
    at = split.end;
  }
  if (!pickles.length) return generic(rng, buf);
  const k = pickles.length >= 4 && rng.chance(0.7) ? 3 : rng.int(pickles.length);
  const { start, end } = pickles[k];
  const edited = mutatePickleBytes(rng, buf.subarray(start, end));
  return Buffer.concat([buf.subarray(0, start), edited, buf.subarray(end)]);
}

/**
 * A NumPy .npz: one member's header dict edited (its length rewritten) or its data cut, and the
 * zip written again with correct CRCs; or the member records themselves edited.
 * @type {Mutation}
 */
export const npzMember = zipMembers(
  'npzMember',
  (name) => name.endsWith('.npy'),
  (rng, name, data) => {
    if (data.subarray(0, 6).equals(NPY_MAGIC) && rng.chance(0.8)) return npyHeaderAt(rng, data, 0, false);
    return rng.chance(0.5) ? data.subarray(0, rng.int(data.length)) : generic(rng, data);
  },
);

// ---------------------------------------------------------------- TF.js manifests

/**
 * A TF.js model.json's weightsManifest edited as records: shard paths reordered, deleted,
 * duplicated, moved to another group or pointed elsewhere; weight entries reordered, deleted,
 * duplicated or given another shape, dtype or quantization; groups deleted or duplicated.
 * @type {Mutation}
 */
export function tfjsManifest(rng, buf) {
  let doc;
  try {
    doc = JSON.parse(buf.toString('utf8'));
  } catch {
    return generic(rng, buf);
  }
  const groups = doc && Array.isArray(doc.weightsManifest) ? doc.weightsManifest : null;
  if (!groups || !groups.length) return generic(rng, buf);
  for (let n = rng.range(1, 2); n > 0; n--) {
    const g = rng.pick(groups);
    if (!g || typeof g !== 'object') continue;
    const paths = Array.isArray(g.paths) ? g.paths : null;
    const weights = Array.isArray(g.weights) ? g.weights : null;
    const op = rng.int(10);
    const i = (/** @type {unknown[]} */ a) => rng.int(a.length);
    if (op === 0 && paths && paths.length > 1) paths.reverse();
    else if (op === 1 && paths && paths.length) paths.splice(i(paths), 1);
    else if (op === 2 && paths && paths.length) paths.splice(i(paths), 0, paths[i(paths)]);
    else if (op === 3 && paths && paths.length)
      paths[i(paths)] = rng.pick([
        'model.json',
        'missing.bin',
        '../model.json',
        '/etc/passwd',
        '',
        '.',
        'a/../../x.bin',
        'x'.repeat(300),
        7,
      ]);
    else if (op === 4 && weights && weights.length > 1) weights.splice(i(weights), 0, ...weights.splice(i(weights), 1));
    else if (op === 5 && weights && weights.length) weights.splice(i(weights), 1);
    else if (op === 6 && weights && weights.length) weights.splice(i(weights), 0, structuredClone(weights[i(weights)]));
    else if (op === 7 && weights && weights.length) {
      const w = weights[i(weights)];
      if (w && typeof w === 'object') {
        const field = rng.pick(['shape', 'dtype', 'quantization', 'name']);
        if (field === 'shape') w.shape = rng.pick([[], [0], [-1], [2 ** 31, 2 ** 31], [1e300], Array(65).fill(1), [3.5], 'x', null]);
        else if (field === 'dtype') w.dtype = rng.pick(['float32', 'int32', 'bool', 'complex64', 'string', 'float16', 'uint8', '', 5]);
        else if (field === 'quantization')
          w.quantization = rng.pick([
            { dtype: 'uint8', scale: 0.1, min: -1 },
            { dtype: 'uint16', scale: 1e-300, min: 0 },
            { dtype: 'float16' },
            { dtype: 'int8', scale: 'x' },
            null,
            [],
          ]);
        else w.name = rng.pick(HOSTILE_STRINGS);
      }
    } else if (op === 8 && groups.length > 1) {
      const other = rng.pick(groups);
      if (paths && other && Array.isArray(other.paths) && other.paths.length) paths.push(other.paths[0]);
    } else if (groups.length) {
      if (rng.chance(0.5)) groups.splice(i(groups), 1);
      else groups.splice(i(groups), 0, structuredClone(groups[i(groups)]));
    }
  }
  return Buffer.from(JSON.stringify(doc), 'utf8');
}

// ---------------------------------------------------------------- time and memory cases

/** @type {{ raw: Buffer, size: number, crc: number } | undefined} */
let bombCache;

/**
 * A raw deflate stream of 900 MiB of zeros (about 0.9 MB), made once per process: 1 MiB of zeros
 * compressed with a sync flush (byte-aligned, not final) repeated, then an empty final block.
 */
function zeroBomb() {
  if (!bombCache) {
    const chunk = Buffer.alloc(1 << 20);
    const block = deflateRawSync(chunk, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    const count = 900;
    let crc = 0;
    for (let i = 0; i < count; i++) crc = crc32(chunk, crc);
    bombCache = { raw: Buffer.concat([...Array(count).fill(block), Buffer.from([0x03, 0x00])]), size: count << 20, crc };
  }
  return bombCache;
}

/**
 * A zip member (data.pkl, a storage, an .npy) replaced by a deflated one that inflates to 900 MiB,
 * with its true size and CRC: the reader must refuse it or stream it, not inflate it whole.
 * @type {Mutation}
 */
export function zipBomb(rng, buf) {
  const members = readZip(buf);
  if (!members || !members.length) return generic(rng, buf);
  const i = rng.int(members.length);
  const bomb = zeroBomb();
  return writeZip(members.map((m, j) => (j === i ? { ...m, method: 8, data: Buffer.alloc(0), raw: bomb } : m)));
}

/**
 * An integer as BININT when it fits, else LONG1.
 * @param {bigint} v
 */
function pkInt(v) {
  return v >= -(2n ** 31n) && v < 2n ** 31n ? pkFixed(0x4a, 4, v) : pkLong1(v);
}

/**
 * A torch.save zip whose data.pkl gives one tensor a huge size over its small storage ([16384,
 * 16384] and more), with strides of 0, 1 or the row length: the view is refused or read by
 * windows, never materialised. Sizes and strides are the 2-tuples of integers that follow each
 * other in _rebuild_tensor_v2's arguments.
 * @type {Mutation}
 */
export const hugeView = zipMembers(
  'hugeView',
  (name) => name.endsWith('.pkl'),
  (rng, name, data) => {
    const split = name.endsWith('.pkl') ? splitPickle(data, 0) : null;
    if (!split) return generic(rng, data);
    const ops = split.ops;
    const isInt = (/** @type {Buffer} */ o) => [0x4a, 0x4b, 0x4d, 0x8a].includes(o[0]);
    /** @type {number[]} */
    const tuples = [];
    for (let i = 2; i < ops.length; i++) if (ops[i][0] === 0x86 && isInt(ops[i - 1]) && isInt(ops[i - 2])) tuples.push(i);
    if (tuples.length < 2) return generic(rng, data);
    const k = rng.int(tuples.length - 1);
    const [size, stride] = [tuples[k], tuples[k + 1]];
    const big = rng.pick([16384n, 65536n, 2n ** 31n, 2n ** 62n]);
    const strides = rng.pick([
      [0n, 0n],
      [0n, 1n],
      [big, 1n],
      [1n, big],
      [-1n, 1n],
    ]);
    ops.splice(stride - 2, 2, pkInt(strides[0]), pkInt(strides[1]));
    ops.splice(size - 2, 2, pkInt(big), pkInt(rng.chance(0.7) ? big : 1n));
    return Buffer.concat([...ops, data.subarray(split.end)]);
  },
);

/**
 * A safetensors file of tens of thousands of tensors (one or a few elements each, each its own
 * bytes or all over the same ones), one time in eight; else a header edit.
 * @type {Mutation}
 */
export function manyTensors(rng, buf) {
  // Reports of these take seconds: made for one pick in eight, a header edit otherwise.
  if (!rng.chance(0.125)) return safetensorsHeader(rng, buf);
  const n = rng.pick([10000, 20000, 40000]);
  const shared = rng.chance(0.3);
  const shape = rng.pick([[1], [1, 1], [2, 2], []]);
  const elems = shape.reduce((a, b) => a * b, 1);
  /** @type {Record<string, unknown>} */
  const header = { __metadata__: { format: 'pt' } };
  for (let i = 0; i < n; i++) {
    const at = shared ? 0 : 4 * elems * i;
    header[`layers.${i}.weight`] = { dtype: 'F32', shape, data_offsets: [at, at + 4 * elems] };
  }
  const text = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(text.length));
  const body = Buffer.alloc(shared ? 4 * elems : 4 * elems * n);
  for (let i = 0; i < body.length; i += 4) if (rng.chance(0.5)) body.writeFloatLE(1, i);
  return Buffer.concat([len, text, body]);
}
