import { constants } from 'node:buffer';
import * as nodePath from 'node:path';
import type { CheckpointKey } from '../../kernels/checkpointKernels';
import type { WeightRef } from '../../kernels/kernels';
import type { MaskKernels } from '../../kernels/maskKernels';
import type { ScanKernels } from '../../kernels/scanKernels';
import { analyseCheckpoint, type LayerReport } from '../analysis/report';
import { formatBytes, numelOf, type Checkpoint, type TensorEntry } from '../checkpoint';
import { DTYPE_BITS } from '../dtype';
import { printable } from '../errors';
import type { StoredEdit } from '../formats/writer';
import { writerFor } from '../formats/writers';
import { applyRoleOverrides } from '../roles/roleOverrides';
import { chunkPairs } from '../tensorBytes';
import { checkMask } from './maskRules';
import { provenanceOf } from './provenance';
import { checkNothingElseChanges } from './sharedBytes';
import { isPrunedCopy } from './signedZeros';
import { PruneError, ruleText, type LayerToPrune, type PruneRule, type SkippedLayer } from './pruneSelection';
import { checkOutputs, inputFiles, writeVerified } from './stagedOutput';
import { prunedEdits } from './storedEdits';

/** The largest buffer Node allocates (4 GiB in Node 20). */
const MAX_LENGTH = constants.MAX_LENGTH;

export interface PruneRequest extends CheckpointKey {
  /** The main output file; other files (shards, external data) are named after it, beside it. */
  readonly output: string;
  /** Replace existing output files. */
  readonly force: boolean;
  readonly layers: readonly LayerToPrune[];
  /** Layers the selection left as they are, with the reason: reported, and kept in the provenance. */
  readonly skipped: readonly SkippedLayer[];
  /** What was asked, for the provenance ("2:4, NVIDIA ASP m4n2_1d"). */
  readonly method: string;
  readonly toolVersion: string;
}

export interface PrunedLayer {
  readonly name: string;
  readonly displayName?: string;
  readonly shape: readonly number[];
  readonly rule: string;
  readonly nnzBefore: number;
  readonly nnzAfter: number;
  readonly numel: number;
}

/** The JSON of `sparsity-lens prune`: keys may be added, never changed. */
export interface PruneResult {
  readonly input: string;
  /** The files written, the main one last. */
  readonly written: readonly string[];
  readonly method: string;
  readonly layers: readonly PrunedLayer[];
  readonly skipped: readonly SkippedLayer[];
  /** Weights that were non-zero and are now zero. */
  readonly removed: number;
  /** Pruned weights are zeros of their own sign (-0.0 where negative), as `w * mask` leaves them. */
  readonly zeros: 'signed';
  readonly inputSha256: string;
}

export type PruneProgress = {
  readonly phase: 'masks' | 'writing' | 'verifying';
  readonly done: number;
  readonly total: number;
  readonly name?: string;
};

export interface PruneOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: PruneProgress) => void;
}

/** The output is written in the input's format, so it takes the input's extension (a shard index: a .safetensors name too). */
function checkOutputName(input: string, output: string): void {
  const ext = (f: string) => nodePath.extname(f).toLowerCase();
  const index = input.toLowerCase().endsWith('.safetensors.index.json');
  const ok = index ? /\.safetensors(\.index\.json)?$/i.test(output) : ext(output) === ext(input);
  if (!ok)
    throw new PruneError(
      `the output is written in the input's format, so it must end in ${index ? '.safetensors.index.json' : ext(input) || 'no extension'}, like the input: ${nodePath.basename(output)}`,
    );
}

function tensorBytes(t: TensorEntry): number {
  return (numelOf(t.shape) * DTYPE_BITS[t.dtype]) / 8;
}

function weightOf(checkpoint: Checkpoint, name: string): TensorEntry & WeightRef {
  const t = checkpoint.tensors.find((x) => x.name === name);
  if (!t?.layout) throw new PruneError(`${checkpoint.file} has no linear or conv weight named "${name}"`);
  return t as TensorEntry & WeightRef;
}

/** Layers that cannot be pruned as asked, refused before any work: an ambiguous name, a tensor too large to hold. */
function refuseUnprunable(checkpoint: Checkpoint, layers: readonly LayerToPrune[]): void {
  const names = checkpoint.tensors.map((t) => t.name);
  const twice = layers.find((l) => names.indexOf(l.name) !== names.lastIndexOf(l.name));
  if (twice) throw new PruneError(`${checkpoint.file} holds two tensors named "${printable(twice.name)}": which one to prune is ambiguous`);
  const tooLarge = layers.map((l) => weightOf(checkpoint, l.name)).find((t) => tensorBytes(t) > MAX_LENGTH);
  if (tooLarge)
    throw new PruneError(
      `${tooLarge.name} takes ${formatBytes(tensorBytes(tooLarge))}: a pruned tensor is held in memory whole, up to ${formatBytes(MAX_LENGTH)} (leave it out with --exclude)`,
    );
}

function maskOf(kernels: MaskKernels, weight: WeightRef, rule: PruneRule, signal?: AbortSignal): Promise<Uint8Array> {
  if (rule.kind === 'fanIn') return kernels.fanInMask(weight, rule.k, signal);
  return rule.transposable ? kernels.transposableMask(weight, signal) : kernels.nmMask(weight, rule, signal);
}

/**
 * Prunes the requested layers of an opened checkpoint and writes it in its own format: masks from
 * the kernels, only the pruned tensors' stored bytes changed, the output staged beside its final
 * place, re-opened and checked (every other tensor identical, every pruned one following its rule
 * with its kept weights bit for bit), and only then renamed into place. The input is never written.
 */
export async function pruneCheckpoint(
  checkpoint: Checkpoint,
  request: PruneRequest,
  kernels: ScanKernels & MaskKernels,
  options: PruneOptions = {},
): Promise<PruneResult> {
  const { signal, onProgress } = options;
  writerFor(checkpoint); // refuses a format with no writer before any work
  checkOutputName(checkpoint.file, request.output);
  const inputs = inputFiles(checkpoint);
  await checkOutputs([request.output], inputs, request.force);
  refuseUnprunable(checkpoint, request.layers);
  const edits: { layer: string; edit: StoredEdit }[] = [];
  const masks = new Map<string, Uint8Array>();
  for (const [i, layer] of request.layers.entries()) {
    signal?.throwIfAborted();
    onProgress?.({ phase: 'masks', done: i, total: request.layers.length, name: layer.name });
    const weight = weightOf(checkpoint, layer.name);
    const mask = await maskOf(kernels, weight, layer.rule, signal);
    masks.set(layer.name, mask);
    edits.push(...(await prunedEdits(weight, mask)).map((edit) => ({ layer: layer.name, edit })));
  }
  checkNothingElseChanges(checkpoint, edits);
  const provenance = {
    ...(await provenanceOf(checkpoint.file, request.toolVersion)),
    'sparsity_lens.method': request.method,
    'sparsity_lens.pruned': JSON.stringify(Object.fromEntries(request.layers.map((l) => [l.name, ruleText(l.rule)]))),
    'sparsity_lens.zeros': 'signed: a pruned weight is -0.0 where it was negative, +0.0 elsewhere',
  };
  const inputSha256 = provenance['sparsity_lens.input_sha256'];
  const { paths, verified: layers } = await writeVerified({
    checkpoint,
    edits: edits.map((e) => e.edit),
    provenance,
    output: request.output,
    force: request.force,
    reopen: (written) => applyRoleOverrides(written, request.roles),
    verify: (written) => verifyPruned(checkpoint, written, request.layers, masks, kernels, signal),
    onPhase: (phase) => onProgress?.({ phase, done: 0, total: 1 }),
    signal,
  });
  return {
    input: checkpoint.file,
    written: paths,
    method: request.method,
    layers,
    skipped: request.skipped,
    removed: layers.reduce((s, l) => s + l.nnzBefore - l.nnzAfter, 0),
    zeros: 'signed',
    inputSha256,
  };
}

/** A check of the written file failed: a bug, never a user's mistake; the file is not kept. */
export class VerificationError extends Error {}

/**
 * Re-reads the written checkpoint: the same tensors (names, dtypes, shapes); each untouched one
 * byte-identical to the input; each pruned one ±0 where its mask prunes and bit-identical
 * elsewhere, and its scan showing the rule met (N:M groups all compliant, fan-in at most k; a
 * transposable mask's columns checked too).
 */
async function verifyPruned(
  input: Checkpoint,
  output: Checkpoint,
  layers: readonly LayerToPrune[],
  masks: ReadonlyMap<string, Uint8Array>,
  kernels: ScanKernels,
  signal?: AbortSignal,
): Promise<PrunedLayer[]> {
  const fail = (what: string) => {
    throw new VerificationError(`the written file did not verify: ${what}; it was not kept`);
  };
  if (output.tensors.length !== input.tensors.length) fail(`it holds ${output.tensors.length} tensors, not ${input.tensors.length}`);
  // A .npy array is named after its file (and its role guessed from that name): the output's one
  // array is the input's, under another name.
  const byName = !(input.format === 'numpy' && input.file.toLowerCase().endsWith('.npy'));
  const counterpart = (t: TensorEntry, i: number): TensorEntry | undefined =>
    byName ? output.tensors.find((u) => u.name === t.name) : { ...output.tensors[i], name: t.name, role: t.role, layout: t.layout };
  const written = new Map(input.tensors.map((t, i) => [t.name, counterpart(t, i)]));
  for (const a of input.tensors) {
    const b = written.get(a.name);
    if (!b || b.dtype !== a.dtype || b.shape.join() !== a.shape.join()) fail(`tensor "${a.name}" is missing or changed type or shape`);
    else if (!(await sameOrPruned(a, b!, masks.get(a.name), signal))) fail(`tensor "${a.name}" holds other values than it should`);
  }
  const original = new Map(input.tensors.map((t) => [t.name, t]));
  // One scan of the pruned layers on each side (a request's N:M layers share one pattern).
  const rule = layers[0]?.rule;
  const nm = rule?.kind === 'nm' ? { n: rule.n, m: rule.m } : undefined;
  const scan = async (from: Checkpoint, tensors: Map<string, TensorEntry | undefined>) => {
    const pruned = layers.map((l) => tensors.get(l.name)!);
    const { report } = await analyseCheckpoint({ ...from, tensors: pruned }, kernels, { nm, signal });
    return new Map(report.layers.map((l) => [l.name, l]));
  };
  const [after, before] = [await scan(output, written), await scan(input, original)];
  const results: PrunedLayer[] = [];
  for (const { name, rule } of layers) {
    // The scan shows rows meeting N:M or k; a transposable rule's columns are checked on the mask,
    // which the output follows exactly (sameOrPruned above).
    const columns = rule.kind === 'nm' && rule.transposable ? checkMask(masks.get(name)!, written.get(name)!, rule) : undefined;
    const problem = columns ?? ruleBroken(after.get(name)!, rule);
    if (problem) fail(`${name}: ${problem}`);
    const b = before.get(name)!;
    results.push({
      name,
      ...(b.displayName ? { displayName: b.displayName } : {}),
      shape: b.shape,
      rule: ruleText(rule),
      nnzBefore: b.nnz,
      nnzAfter: after.get(name)!.nnz,
      numel: b.numel,
    });
  }
  return results;
}

/** What the scan of a pruned layer shows against its rule, or undefined when it is met. */
function ruleBroken(after: LayerReport, rule: PruneRule): string | undefined {
  if (rule.kind === 'fanIn')
    return after.fanIn && after.fanIn.max <= rule.k ? undefined : `its fan-in reaches ${after.fanIn?.max}, over k = ${rule.k}`;
  const nm = after.nm;
  return nm && nm.compliant === nm.groups && nm.partial === 0
    ? undefined
    : `${nm ? nm.groups - nm.compliant : '?'} groups break ${rule.n}:${rule.m}`;
}

/** Whether `b` equals `a` byte for byte, or with `keep` given: ±0 where keep is 0 and `a`'s bytes elsewhere. */
async function sameOrPruned(a: TensorEntry, b: TensorEntry, keep: Uint8Array | undefined, signal?: AbortSignal): Promise<boolean> {
  const size = DTYPE_BITS[a.dtype] / 8;
  for await (const [x, y] of chunkPairs(a, b, numelOf(a.shape), signal)) {
    const same = keep
      ? isPrunedCopy(x.bytes, y.bytes, size, keep.subarray(x.first, x.first + x.count))
      : Buffer.compare(x.bytes, y.bytes) === 0;
    if (!same) return false;
  }
  return true;
}
