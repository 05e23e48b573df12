import * as path from 'node:path';
import { CheckpointError } from '../../errors';
import { withFile } from '../../randomAccessFile';
import type { StoredOnnxField } from '../../storedTensor';
import { resolveFileBesideModel } from '../shared/fileBesideModel';
import { writePieces, type BytePatch, type Piece } from '../shared/patchedCopy';
import type { CheckpointWriter, StoredEdit } from '../writer';
import { MAX_GRAPH_DEPTH } from './limits';
import { ProtobufWalker, Wire } from './protobufWalker';

/** ModelProto.metadata_props: repeated StringStringEntryProto { key = 1, value = 2 }. */
const METADATA_PROPS = 14;
const ENTRY = { key: 1, value: 2 } as const;
const TENSOR_DATA_LOCATION = 14;
const DATA_LOCATION_EXTERNAL = 1n;

/**
 * The messages that can hold a TensorProto, by the onnx.proto numbers of the fields leading to
 * one: initializers, sparse initializers, attribute tensors (Constant values), subgraphs (If /
 * Loop / Scan bodies) and model-local functions. Only these are walked to find external data
 * locations; every other field is copied as it is.
 */
type MessageKind = 'model' | 'function' | 'graph' | 'node' | 'attribute' | 'sparseTensor' | 'tensor' | 'entry';
const CHILDREN: Readonly<Record<Exclude<MessageKind, 'entry'>, Readonly<Partial<Record<number, MessageKind>>>>> = {
  model: { 7: 'graph', 25: 'function' },
  function: { 7: 'node' },
  graph: { 1: 'node', 5: 'tensor', 15: 'sparseTensor' },
  node: { 5: 'attribute' },
  attribute: { 5: 'tensor', 6: 'graph', 10: 'tensor', 11: 'graph', 22: 'sparseTensor', 23: 'sparseTensor' },
  sparseTensor: { 1: 'tensor', 2: 'tensor' },
  tensor: { 13: 'entry' },
};

/**
 * Writes an ONNX model with edited initializer bytes. Embedded payloads (raw_data, float_data,
 * double_data) are patched in a copy of the model, same size, so every other byte stays; the
 * provenance replaces any `metadata_props` entries of the same keys (onnx.checker refuses
 * duplicate keys) and is appended after the model's last field. External data files are copied,
 * patched, beside the output under names derived from it (`<output>.data`, or `<output>.<i>.data`
 * when the model uses several), and the model's external_data locations renamed to match: only the
 * messages enclosing a location are re-encoded, with new lengths; the offsets stay valid since
 * the data files are copied whole. Files are created, never overwritten, so the input's files are
 * never written; on failure the caller removes `request.folder`.
 */
export const writeOnnx: CheckpointWriter = async (request) => {
  const modelPath = request.checkpoint.file;
  const outputName = path.basename(request.output);
  return withFile(modelPath, async (model) => {
    const walker = new ProtobufWalker(model);
    // A first walk collects the external data locations, in first-reference order.
    const locations = new Set<string>();
    await rewritten(walker, 'model', 0, model.size, { rename: (location) => void locations.add(location), dropKeys: new Set() });
    const { copyNames, newLocations } = await dataFileCopies(modelPath, locations, outputName);
    const patches = patchesByFile(request.edits, modelPath, copyNames);

    for (const [dataFile, name] of copyNames) {
      await withFile(dataFile, (data) =>
        writePieces(data, [{ from: 0, to: data.size }], patches.get(dataFile) ?? [], path.join(request.folder, name), request.signal),
      );
    }
    const body = await rewritten(walker, 'model', 0, model.size, {
      rename: (location) => newLocations.get(location),
      dropKeys: new Set(Object.keys(request.provenance)),
    });
    const provenance = Object.entries(request.provenance).flatMap(([key, value]) =>
      lengthDelimited(METADATA_PROPS, [...lengthDelimited(ENTRY.key, [utf8(key)]), ...lengthDelimited(ENTRY.value, [utf8(value)])]),
    );
    const pieces = [...(body ?? [{ from: 0, to: model.size }]), ...provenance];
    await writePieces(model, pieces, patches.get(modelPath) ?? [], path.join(request.folder, outputName), request.signal);
    return [...copyNames.values(), outputName];
  });
};

/**
 * The external data files `locations` (in first-reference order) name, by resolved path, with
 * the name of each one's copy; and each location's new value (two spellings can name one file).
 */
async function dataFileCopies(
  modelPath: string,
  locations: ReadonlySet<string>,
  outputName: string,
): Promise<{ copyNames: Map<string, string>; newLocations: Map<string, string> }> {
  const fileOf = new Map<string, string>();
  for (const location of locations) {
    const resolved = await resolveFileBesideModel(modelPath, location, `external data location ${JSON.stringify(location)}`);
    fileOf.set(location, resolved.path);
  }
  const files = [...new Set(fileOf.values())];
  const copyNames = new Map(files.map((file, i) => [file, files.length === 1 ? `${outputName}.data` : `${outputName}.${i + 1}.data`]));
  const newLocations = new Map([...fileOf].map(([location, file]) => [location, copyNames.get(file)!]));
  return { copyNames, newLocations };
}

/** What `rewritten` changes: external data locations (`rename` gives the new one, or undefined), and top-level metadata entries to drop. */
interface Rewrite {
  readonly rename: (location: string) => string | undefined;
  readonly dropKeys: ReadonlySet<string>;
}

/**
 * The message of `kind` in [start, end) with `rewrite` applied, as pieces, or undefined when
 * nothing in it changes. Unchanged fields are copied as they are; a field holding a change is
 * re-encoded with its new length.
 */
async function rewritten(
  walker: ProtobufWalker,
  kind: MessageKind,
  start: number,
  end: number,
  rewrite: Rewrite,
  graphDepth = 0,
): Promise<Piece[] | undefined> {
  if (kind === 'entry') return renamedLocation(walker, start, end, rewrite.rename);
  if (kind === 'tensor' && !(await isExternal(walker, start, end))) return undefined;
  if (kind === 'graph' && graphDepth > MAX_GRAPH_DEPTH) throw walker.corrupt(`subgraphs nested deeper than ${MAX_GRAPH_DEPTH}`, start);
  const pieces: Piece[] = [];
  let changed = false;
  let copiedTo = start;
  let fieldStart = start;
  for await (const f of walker.fields(start, end)) {
    const child = f.wire === Wire.Len ? CHILDREN[kind][f.no] : undefined;
    const drop =
      kind === 'model' &&
      f.no === METADATA_PROPS &&
      f.wire === Wire.Len &&
      rewrite.dropKeys.size > 0 &&
      rewrite.dropKeys.has(await entryKey(walker, f.start, f.end));
    const inner = child && (await rewritten(walker, child, f.start, f.end, rewrite, graphDepth + (child === 'graph' ? 1 : 0)));
    if (drop || inner) {
      if (copiedTo < fieldStart) pieces.push({ from: copiedTo, to: fieldStart });
      if (inner) pieces.push(...lengthDelimited(f.no, inner));
      copiedTo = f.end;
      changed = true;
    }
    fieldStart = f.end;
  }
  if (!changed) return undefined;
  if (copiedTo < end) pieces.push({ from: copiedTo, to: end });
  return pieces;
}

/** Whether a TensorProto's data is external (data_location EXTERNAL): only then is its location read (as onnx does). */
async function isExternal(walker: ProtobufWalker, start: number, end: number): Promise<boolean> {
  let external = false;
  for await (const f of walker.fields(start, end)) {
    if (f.no === TENSOR_DATA_LOCATION && f.wire === Wire.Varint) external = f.varint === DATA_LOCATION_EXTERNAL;
  }
  return external;
}

async function entryKey(walker: ProtobufWalker, start: number, end: number): Promise<string> {
  let key = '';
  for await (const f of walker.fields(start, end)) if (f.no === ENTRY.key && f.wire === Wire.Len) key = await walker.string(f);
  return key;
}

/** An external_data entry with its `location` value renamed, or undefined when it is another key or kept. */
async function renamedLocation(
  walker: ProtobufWalker,
  start: number,
  end: number,
  rename: Rewrite['rename'],
): Promise<Piece[] | undefined> {
  if ((await entryKey(walker, start, end)) !== 'location') return undefined;
  let newName: string | undefined;
  for await (const f of walker.fields(start, end))
    if (f.no === ENTRY.value && f.wire === Wire.Len) newName = rename(await walker.string(f));
  if (newName === undefined) return undefined;
  const pieces: Piece[] = [];
  let fieldStart = start;
  for await (const f of walker.fields(start, end)) {
    if (f.no === ENTRY.value && f.wire === Wire.Len) pieces.push(...lengthDelimited(ENTRY.value, [utf8(newName)]));
    else pieces.push({ from: fieldStart, to: f.end });
    fieldStart = f.end;
  }
  return pieces;
}

/**
 * Each edit as patches of the file holding it (the model, or an external data file by its
 * resolved path), sorted; an edit split over several fields is spread over them in order.
 */
function patchesByFile(edits: readonly StoredEdit[], modelPath: string, dataFiles: ReadonlyMap<string, string>): Map<string, BytePatch[]> {
  const byFile = new Map<string, BytePatch[]>();
  for (const { target, bytes } of edits) {
    if (target.kind !== 'onnxField') throw new Error(`an ONNX model's edits are ONNX fields, not ${target.kind}`);
    if (bytes.length !== target.length) throw new Error(`an edit of ${target.length} bytes comes with ${bytes.length}`);
    const file = target.external ? target.file : modelPath;
    if (target.external ? !dataFiles.has(file) : path.resolve(target.file) !== path.resolve(modelPath)) {
      throw new Error(`an edit targets ${target.file}, which the model does not hold or name`);
    }
    if (!byFile.has(file)) byFile.set(file, []);
    byFile.get(file)!.push(...patchesOf(target, bytes, modelPath));
  }
  return byFile;
}

function patchesOf(target: StoredOnnxField, bytes: Uint8Array, modelPath: string): BytePatch[] {
  if (target.encoding === 'varint') {
    throw new CheckpointError(
      modelPath,
      'unsupported',
      `writing ${target.field} (varint-encoded values) is not supported; only raw_data, float_data and double_data are written`,
    );
  }
  if (!target.fields) return [{ offset: target.offset, bytes }];
  const { starts, ends } = target.fields;
  const patches: BytePatch[] = [];
  for (let i = 0, used = 0; i < starts.length; used += ends[i] - starts[i], i++) {
    patches.push({ offset: starts[i], bytes: bytes.subarray(used, used + ends[i] - starts[i]) });
  }
  return patches;
}

/** A length-delimited field (wire type 2) of `no` holding `pieces`: its tag and length, then them. */
function lengthDelimited(no: number, pieces: readonly Piece[]): Piece[] {
  const length = pieces.reduce((sum, p) => sum + (p instanceof Uint8Array ? p.length : p.to - p.from), 0);
  return [Uint8Array.from([...varint(no * 8 + Wire.Len), ...varint(length)]), ...pieces];
}

function varint(value: number): number[] {
  const bytes: number[] = [];
  for (; value >= 0x80; value = Math.floor(value / 0x80)) bytes.push((value % 0x80) | 0x80);
  bytes.push(value);
  return bytes;
}

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
