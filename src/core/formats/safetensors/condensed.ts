import { numelOf, type Checkpoint, type SkippedTensor, type TensorEntry, type TensorSource } from '../../checkpoint';
import { DerivedBytesBudget, SCRATCH_PIECE_BYTES } from '../../derivedBytes';
import { alignedBytes, DTYPE_BITS, type DType } from '../../dtype';
import { CheckpointError, printable } from '../../errors';
import { isJsonObject } from '../../jsonValue';
import type { RandomAccessFile } from '../../randomAccessFile';
import { roleByName } from '../../roles/rolesByName';
import type { StoredTensor } from '../../storedTensor';

/**
 * SRigL's condensed layout in a safetensors file (`sparsity-lens condense`). Each constant fan-in
 * weight `<name>` [out, …] (dense fan-in D = the product of the other axes) is stored as
 *   `<name>.values`      [rows, k]  the weight's dtype: each active row's non-zeros, ascending column
 *   `<name>.indices`     [rows, k]  int16 (D ≤ 32,767) or int32: their columns (flat over every axis but the first, C order)
 *   `<name>.active_rows` [rows]     int32: the output rows that are not all zero, ascending
 * and `__metadata__["sparsity_lens.condensed"]` holds the manifest:
 *   {"version": 1, "layers": {"<name>": {"shape": [...], "dtype": "F32", "k": k, "denseFanIn": D, "removedRows": [...]}}}
 * with the dtype as safetensors names it and `removedRows` the all-zero rows (the complement of
 * active_rows). Readers present each layer as the one dense tensor `<name>`, zeros +0.0.
 */
export const CONDENSED_KEY = 'sparsity_lens.condensed';
export const CONDENSED_VERSION = 1;

/** The part tensors' names: `<name>.values`, `<name>.indices`, `<name>.active_rows`. */
export function condensedPartNames(name: string): { readonly values: string; readonly indices: string; readonly activeRows: string } {
  return { values: `${name}.values`, indices: `${name}.indices`, activeRows: `${name}.active_rows` };
}

/** Largest dense fan-in whose columns fit int16 indices; larger ones take int32. */
export const MAX_INT16_FAN_IN = 32_767;

export function indexDTypeFor(denseFanIn: number): 'int16' | 'int32' {
  return denseFanIn <= MAX_INT16_FAN_IN ? 'int16' : 'int32';
}

export interface CondensedManifestLayer {
  readonly shape: readonly number[];
  /** The safetensors dtype name ("F32", "BF16" …). */
  readonly dtype: string;
  readonly k: number;
  readonly denseFanIn: number;
  readonly removedRows: readonly number[];
}

export interface CondensedManifest {
  readonly version: typeof CONDENSED_VERSION;
  readonly layers: Readonly<Record<string, CondensedManifestLayer>>;
}

/** A manifest layer, checked, with its dtype as the project names it. */
interface ManifestLayer extends CondensedManifestLayer {
  readonly name: string;
  readonly type: DType;
}

const isSize = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

/** The manifest's layers, each checked for itself (shapes, k, removed rows); parts are checked against them later. */
function parseManifest(path: string, text: string, dtypes: Readonly<Record<string, DType>>): ManifestLayer[] {
  const bad = (what: string) => new CheckpointError(path, 'corrupt', `__metadata__["${CONDENSED_KEY}"] ${what}`, 8);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw bad(`is not valid JSON: ${(e as Error).message}`);
  }
  if (!isJsonObject(json)) throw bad('is not a JSON object');
  if (json.version !== CONDENSED_VERSION) {
    if (typeof json.version === 'number')
      throw new CheckpointError(
        path,
        'unsupported',
        `condensed layout version ${json.version} is not read (only version ${CONDENSED_VERSION})`,
      );
    throw bad('has no "version": 1');
  }
  if (!isJsonObject(json.layers)) throw bad('has no "layers" object');
  const layers: ManifestLayer[] = [];
  for (const [name, value] of Object.entries(json.layers)) {
    const wrong = (what: string) => new CheckpointError(path, 'corrupt', `condensed layer "${printable(name)}": ${what}`, 8);
    if (!isJsonObject(value)) throw wrong('its manifest entry is not an object');
    const { shape, dtype, k, denseFanIn, removedRows } = value;
    if (!Array.isArray(shape) || shape.length < 2 || !shape.every(isSize) || shape.some((d) => d === 0))
      throw wrong('"shape" is not a list of at least two positive integers');
    const out = shape[0] as number;
    const fanIn = numelOf(shape.slice(1) as number[]);
    if (!Number.isSafeInteger(numelOf(shape as number[]))) throw wrong(`shape [${shape.join(', ')}] is too large to be real`);
    const type = typeof dtype === 'string' && Object.prototype.hasOwnProperty.call(dtypes, dtype) ? dtypes[dtype] : undefined;
    if (!type) throw wrong(`"dtype" ${JSON.stringify(dtype)} is not a safetensors dtype`);
    if (DTYPE_BITS[type] % 8 !== 0 || type === 'float8_e8m0') throw wrong(`${type} weights are not stored condensed`);
    if (denseFanIn !== fanIn) throw wrong(`"denseFanIn" is ${JSON.stringify(denseFanIn)}, but shape [${shape.join(', ')}] gives ${fanIn}`);
    if (!isSize(k) || k < 1 || k > fanIn) throw wrong(`"k" is ${JSON.stringify(k)}, not an integer from 1 to the dense fan-in ${fanIn}`);
    if (!Array.isArray(removedRows) || !removedRows.every(isSize)) throw wrong('"removedRows" is not a list of row indices');
    for (let i = 0; i < removedRows.length; i++) {
      if ((removedRows[i] as number) >= out) throw wrong(`removed row ${removedRows[i]} is out of range for ${out} rows`);
      if (i > 0 && (removedRows[i] as number) <= (removedRows[i - 1] as number)) throw wrong('"removedRows" is not ascending');
    }
    layers.push({
      name,
      shape: shape as number[],
      dtype: dtype as string,
      type,
      k,
      denseFanIn: fanIn,
      removedRows: removedRows as number[],
    });
  }
  return layers;
}

/**
 * A safetensors checkpoint with its condensed layers (when its metadata lists any) presented as
 * the dense tensors they condense: each expanded into memory or, when large, the scratch file,
 * within one derived-bytes budget (a layer over it is skipped with the reason); the part tensors
 * are read as their layer, not listed apart. A manifest that does not match the parts is a 'corrupt' error naming the layer.
 */
export async function withCondensedLayers(
  file: RandomAccessFile,
  checkpoint: Checkpoint,
  dtypes: Readonly<Record<string, DType>>,
  budget = new DerivedBytesBudget(),
): Promise<Checkpoint> {
  const text = checkpoint.metadata[CONDENSED_KEY];
  if (text === undefined) return checkpoint;
  const layers = parseManifest(file.path, text, dtypes);
  return budget.keepingScratch(() => expandLayers(file, checkpoint, layers, budget));
}

async function expandLayers(file: RandomAccessFile, checkpoint: Checkpoint, layers: readonly ManifestLayer[], budget: DerivedBytesBudget) {
  const byName = new Map(checkpoint.tensors.map((t) => [t.name, t]));
  /** Part name → the layer it belongs to; layer name → its expanded entry (or undefined when skipped). */
  const partOf = new Map<string, string>();
  const expanded = new Map<string, TensorEntry | undefined>();
  const skipped: SkippedTensor[] = [...checkpoint.skipped];
  for (const layer of layers) {
    const wrong = (what: string) => new CheckpointError(file.path, 'corrupt', `condensed layer "${printable(layer.name)}": ${what}`);
    if (byName.has(layer.name)) throw wrong('the file also holds a tensor of that name');
    const names = condensedPartNames(layer.name);
    const parts = { values: byName.get(names.values), indices: byName.get(names.indices), activeRows: byName.get(names.activeRows) };
    for (const [key, part] of Object.entries(parts)) {
      const partName = names[key as keyof typeof names];
      if (!part) throw wrong(`its part "${printable(partName)}" is missing`);
      if (partOf.has(partName)) throw wrong(`its part "${printable(partName)}" also belongs to "${printable(partOf.get(partName)!)}"`);
      partOf.set(partName, layer.name);
    }
    const rows = layer.shape[0] - layer.removedRows.length;
    const expect = (t: TensorEntry, dtypes: readonly DType[], shape: readonly number[]) => {
      if (!dtypes.includes(t.dtype) || t.shape.join() !== shape.join())
        throw wrong(
          `"${printable(t.name)}" is ${t.dtype} [${t.shape.join(', ')}], not ${dtypes.join(' or ')} [${shape.join(', ')}] as the manifest gives`,
        );
    };
    expect(parts.values!, [layer.type], [rows, layer.k]);
    expect(parts.indices!, ['int16', 'int32'], [rows, layer.k]);
    expect(parts.activeRows!, ['int32'], [rows]);
    const size = DTYPE_BITS[layer.type] / 8;
    const refused = budget.reserve(numelOf(layer.shape) * size);
    if (refused) {
      expanded.set(layer.name, undefined);
      skipped.push({ name: layer.name, reason: `condensed layer not expanded: it ${refused}` });
      continue;
    }
    const source = await expand(file, layer, parts.values!, parts.indices!, parts.activeRows!, budget, wrong);
    const stored: StoredTensor = {
      kind: 'derived',
      op: 'condensed',
      k: layer.k,
      values: parts.values!.stored,
      indices: parts.indices!.stored,
      activeRows: parts.activeRows!.stored,
    };
    expanded.set(layer.name, {
      name: layer.name,
      dtype: layer.type,
      shape: layer.shape,
      source,
      stored,
      ...roleByName(layer.name, layer.shape),
    });
  }
  // Each layer takes the place of its first part, so the tensors keep the order they were condensed from.
  const tensors: TensorEntry[] = [];
  for (const t of checkpoint.tensors) {
    const layer = partOf.get(t.name);
    if (layer === undefined) tensors.push(t);
    else {
      // A part is analysed as its layer (whose note says it is condensed): not listed apart.
      const entry = expanded.get(layer);
      if (entry) tensors.push(entry);
      expanded.delete(layer);
    }
  }
  return { ...checkpoint, tensors, skipped };
}

function fileRange(t: TensorEntry): Extract<TensorSource, { kind: 'file' }> {
  if (t.source.kind !== 'file') throw new Error(`${t.name}: a safetensors tensor is a range of its file`);
  return t.source;
}

/**
 * The dense weight of a condensed layer: zeros, with each active row's values put at their
 * columns, produced a piece of rows at a time (in memory, or appended to the scratch file). The
 * active rows must be ascending, in range and the complement of the removed rows; each row's
 * indices ascending and below the dense fan-in.
 */
async function expand(
  file: RandomAccessFile,
  layer: ManifestLayer,
  values: TensorEntry,
  indices: TensorEntry,
  activeRows: TensorEntry,
  budget: DerivedBytesBudget,
  wrong: (what: string) => CheckpointError,
): Promise<TensorSource> {
  const out = layer.shape[0];
  const { k, denseFanIn: fanIn } = layer;
  const size = DTYPE_BITS[layer.type] / 8;
  const indexSize = DTYPE_BITS[indices.dtype] / 8;
  const rows = activeRows.shape[0];
  const active = new Int32Array(alignedBytes(await file.read(fileRange(activeRows).offset, rows * 4), 4).buffer, 0, rows);
  for (let a = 0; a < rows; a++) {
    if (active[a] < 0 || active[a] >= out) throw wrong(`active row ${active[a]} is out of range for ${out} rows`);
    if (a > 0 && active[a] <= active[a - 1]) throw wrong('"active_rows" is not ascending');
  }
  // The removed rows are the others: both lists ascending, so one walk over the rows checks it.
  for (let row = 0, a = 0, removed = 0; row < out; row++) {
    if (a < rows && active[a] === row) a++;
    else if (layer.removedRows[removed] === row) removed++;
    else throw wrong(`row ${row} is neither active nor in "removedRows"`);
  }
  const rowBytes = fanIn * size;
  const piece = Math.max(1, Math.floor(SCRATCH_PIECE_BYTES / rowBytes));
  const total = out * rowBytes;
  const scratch = await budget.scratchFor(total);
  const dense = scratch ? undefined : new Uint8Array(total);
  let offset = 0;
  for (let r0 = 0, a = 0; r0 < out; r0 += piece) {
    const r1 = Math.min(out, r0 + piece);
    let a1 = a;
    while (a1 < rows && active[a1] < r1) a1++;
    const bytes = dense ? dense.subarray(r0 * rowBytes, r1 * rowBytes) : new Uint8Array((r1 - r0) * rowBytes);
    if (a1 > a) {
      const n = (a1 - a) * k;
      const v = await file.read(fileRange(values).offset + a * k * size, n * size);
      const raw = alignedBytes(await file.read(fileRange(indices).offset + a * k * indexSize, n * indexSize), indexSize);
      const cols = indexSize === 2 ? new Int16Array(raw.buffer, raw.byteOffset, n) : new Int32Array(raw.buffer, raw.byteOffset, n);
      for (let i = a; i < a1; i++) {
        const base = (active[i] - r0) * rowBytes;
        for (let j = 0, t = (i - a) * k; j < k; j++, t++) {
          const col = cols[t];
          if (col < 0 || col >= fanIn) throw wrong(`row ${active[i]} has column index ${col}, out of range for the dense fan-in ${fanIn}`);
          if (j > 0 && col <= cols[t - 1]) throw wrong(`the column indices of row ${active[i]} are not ascending`);
          bytes.set(v.subarray(t * size, (t + 1) * size), base + col * size);
        }
      }
    }
    if (scratch) {
      const at = await scratch.append(bytes);
      if (r0 === 0) offset = at;
    }
    a = a1;
  }
  return dense ? { kind: 'inline', bytes: dense } : { kind: 'file', path: scratch!.path, offset, length: total };
}
