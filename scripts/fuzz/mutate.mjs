// Mutations of one file's bytes, chosen by a seeded generator: generic byte-level ones (bit flips,
// 0x00/0xFF runs, truncation, integer extremes at aligned offsets, duplicated and deleted ranges)
// and cheap format-aware ones (safetensors header JSON, NumPy header dict, JSON manifests, zip
// records, protobuf fields). Each takes a Buffer and returns a new one; none throws on odd input
// (a format-aware mutation that finds nothing to edit falls back to a generic one).

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
    else out.writeUInt16LE(rng.pick([0, 1, 0xffff, hlen + 16]), at + 8);
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
