import * as nodePath from 'node:path';
import { formatBytes, MAX_TENSOR_RANK, type Checkpoint, type CheckpointFormat, type TensorEntry } from '../checkpoint';
import { CheckpointError } from '../errors';
import { withFile, type RandomAccessFile } from '../randomAccessFile';
import { looksLikeNpy, readNumpy } from './numpy/reader';
import { readOnnx } from './onnx/reader';
import { readPyTorch, sniffPyTorch } from './pytorch/reader';
import { looksLikeSafetensors } from './safetensors/reader';
import { readSafetensorsOrShardSet } from './safetensors/shards';
import { readJsonCheckpoint } from './jsonCheckpoint';

/** How sure a file's first bytes make a format: `certain` wins over the file's extension, `plausible` is used only when no extension matches. */
export type SniffResult = 'certain' | 'plausible' | 'no';

/** One format the core reads: its file name extensions, how its first bytes look, and its reader. */
export interface FormatEntry {
  readonly format: CheckpointFormat;
  /** File name extensions, lower case with the dot (".onnx"). */
  readonly extensions: readonly string[];
  /** Judges the first (up to 16) bytes of the file, given its size. */
  readonly sniff: (head: Uint8Array, fileSize: number) => SniffResult;
  /** Reads the opened file's headers into a Checkpoint (tensor bytes stay on disk). */
  readonly read: (file: RandomAccessFile) => Promise<Checkpoint>;
}

/** Every format the core reads, each listed once. A new format is one more entry here. */
export const FORMATS: readonly FormatEntry[] = [
  {
    format: 'safetensors',
    extensions: ['.safetensors'],
    sniff: (head, size) => (looksLikeSafetensors(head, size) ? 'certain' : 'no'),
    read: readSafetensorsOrShardSet,
  },
  // ONNX has no magic number; a ModelProto normally starts with ir_version (field 1, varint).
  { format: 'onnx', extensions: ['.onnx'], sniff: (head) => (head[0] === 0x08 ? 'plausible' : 'no'), read: (file) => readOnnx(file) },
  // .npz is a zip like PyTorch's .pt, so a zip is recognised as .npz by its extension only.
  {
    format: 'numpy',
    extensions: ['.npy', '.npz'],
    sniff: (head) => (looksLikeNpy(head) ? 'certain' : 'no'),
    read: (file) => readNumpy(file),
  },
  // JSON has no magic: a TF.js model.json or a sharded safetensors index, told apart by content.
  { format: 'tfjs', extensions: ['.json'], sniff: () => 'no', read: readJsonCheckpoint },
  // The legacy torch.save magic is certain; a zip is only plausible (it may be an .npz), and the reader requires data.pkl.
  {
    format: 'pytorch',
    extensions: ['.pt', '.pth', '.bin', '.ckpt'],
    sniff: (head) => sniffPyTorch(head),
    read: (file) => readPyTorch(file),
  },
];

/** File name extensions the core opens, for the faces' file filters. */
export const CHECKPOINT_EXTENSIONS: readonly string[] = FORMATS.flatMap((f) => f.extensions);

/** How many first bytes of a file the formats' sniff functions look at. */
const HEAD_BYTES = 16;

/**
 * The format to read a file with: one its first bytes make certain, else one its extension
 * names, else one its first bytes make plausible; undefined when none fits.
 */
export function formatFor(path: string, head: Uint8Array, fileSize: number): FormatEntry | undefined {
  const ext = nodePath.extname(path).toLowerCase();
  return (
    FORMATS.find((f) => f.sniff(head, fileSize) === 'certain') ??
    FORMATS.find((f) => f.extensions.includes(ext)) ??
    FORMATS.find((f) => f.sniff(head, fileSize) === 'plausible')
  );
}

/**
 * Opens a checkpoint: the format is chosen by magic bytes first, then by extension. Only headers
 * are read here; tensor bytes stay on disk until a kernel reads them.
 */
export async function openCheckpoint(path: string): Promise<Checkpoint> {
  return withFile(path, async (file) => {
    if (file.size === 0) throw new CheckpointError(path, 'empty', 'the file is empty');
    const head = await file.read(0, Math.min(file.size, HEAD_BYTES));
    const entry = formatFor(path, head, file.size);
    if (!entry) {
      throw new CheckpointError(
        path,
        'unknown-format',
        `not a checkpoint format Sparsity Lens reads (${CHECKPOINT_EXTENSIONS.join(', ')})`,
      );
    }
    return withBoundedScan(withSaneShapes(await entry.read(file)));
  });
}

/**
 * Largest dimension of a linear or conv weight: the kernels keep per-neuron and per-input
 * counters sized from the shape, and no real layer comes near it.
 */
const MAX_WEIGHT_DIMENSION = 2 ** 31;

/**
 * Moves tensors whose shapes no real model has to `skipped`: more than MAX_TENSOR_RANK axes (the
 * kernels refuse them), an element count that is not a
 * safe integer once empty axes are left out (a hostile [2^40, 2^40, 0] has 0 elements), or a
 * weight with a dimension past MAX_WEIGHT_DIMENSION. A reader's own checks come first; this one
 * guards every format the same way.
 */
function withSaneShapes(checkpoint: Checkpoint): Checkpoint {
  const skipped = [...checkpoint.skipped];
  const tensors = checkpoint.tensors.filter((t) => {
    const nonEmpty = t.shape.filter((d) => d !== 0).reduce((a, d) => a * d, 1);
    let reason: string | undefined;
    if (t.shape.length > MAX_TENSOR_RANK) reason = `it has ${t.shape.length} axes; at most ${MAX_TENSOR_RANK} are analysed`;
    else if (t.shape.some((d) => !Number.isSafeInteger(d) || d < 0) || !Number.isSafeInteger(nonEmpty))
      reason = `shape [${t.shape.join(', ')}] is too large to be real`;
    else if (t.layout && t.shape.some((d) => d > MAX_WEIGHT_DIMENSION))
      reason = `a weight dimension of shape [${t.shape.join(', ')}] is larger than ${MAX_WEIGHT_DIMENSION}`;
    if (reason) skipped.push({ name: t.name, reason });
    return !reason;
  });
  return tensors.length === checkpoint.tensors.length ? checkpoint : { ...checkpoint, tensors, skipped };
}

/** Times over its distinct bytes a checkpoint may make the kernels read; real files stay near 1 (tied weights: 2). */
const MAX_SCAN_REPEATS = 16;
/** Bytes a checkpoint may always make the kernels read, however it repeats them. */
const SCAN_ALLOWANCE = 64 << 20;

/**
 * A small file can name the same bytes again and again (80,000 names for one storage, ONNX
 * initializers over one external range): its scan would read terabytes. The tensors that would
 * take the bytes scanned past MAX_SCAN_REPEATS times the distinct bytes all tensors cover (plus
 * SCAN_ALLOWANCE) are listed apart, in file order, so a report costs time in proportion to the data.
 */
export function withBoundedScan(checkpoint: Checkpoint): Checkpoint {
  const limit = MAX_SCAN_REPEATS * distinctBytes(checkpoint.tensors) + SCAN_ALLOWANCE;
  let scanned = 0;
  const skipped = [...checkpoint.skipped];
  const tensors = checkpoint.tensors.filter((t) => {
    const bytes = t.source.kind === 'file' ? t.source.length : t.source.bytes.length;
    if (scanned + bytes <= limit) {
      scanned += bytes;
      return true;
    }
    skipped.push({
      name: t.name,
      reason: `the file names the same bytes many times; scanning them all would read more than ${formatBytes(limit)}`,
    });
    return false;
  });
  return tensors.length === checkpoint.tensors.length ? checkpoint : { ...checkpoint, tensors, skipped };
}

/** Bytes the tensors' sources cover, each byte of a file counted once. */
function distinctBytes(tensors: readonly TensorEntry[]): number {
  const ranges = new Map<string, [number, number][]>();
  let inline = 0;
  for (const { source } of tensors) {
    if (source.kind === 'inline') inline += source.bytes.length;
    else if (source.length > 0) {
      const list = ranges.get(source.path) ?? [];
      list.push([source.offset, source.offset + source.length]);
      ranges.set(source.path, list);
    }
  }
  let covered = inline;
  for (const list of ranges.values()) {
    list.sort((a, b) => a[0] - b[0]);
    let end = -Infinity;
    for (const [from, to] of list) {
      covered += Math.max(0, to - Math.max(from, end));
      end = Math.max(end, to);
    }
  }
  return covered;
}
