import type { Checkpoint, SkippedTensor, TensorEntry } from '../../checkpoint';
import { roleByName } from '../rolesByName';
import { layoutOf, stripWrapperPrefix, type Leaf } from './checkpointLayout';
import { PyObject } from './pickle';
import { effectiveWeight, NotAnalysed, resolveTensor, type ResolvedTensor, type StorageLocator } from './tensorViews';

/**
 * From the unpickled root object to a Checkpoint: finds the model's tensors, strips wrapper
 * prefixes, merges pruning pairs into effective weights and resolves every tensor view.
 */
export async function buildCheckpoint(root: unknown, locator: StorageLocator, metadata: Record<string, string>): Promise<Checkpoint> {
  const path = locator.file.path;
  const layout = layoutOf(root, path);
  Object.assign(metadata, layout.metadata);
  const model = stripWrapperPrefix(layout.model, metadata);
  const tensors: TensorEntry[] = [];
  const skipped: SkippedTensor[] = [];

  const resolved = new Map<string, ResolvedTensor | NotAnalysed>();
  for (const leaf of model) resolved.set(leaf.name, await resolveLeaf(leaf, locator));
  const pairs = pruningPairs(model);

  for (const leaf of model) {
    const pair = pairs.get(leaf.name);
    if (pair?.role === 'mask') continue;
    if (pair) {
      const orig = resolved.get(pair.orig)!;
      const mask = resolved.get(pair.mask)!;
      const leafName = pair.base.slice(pair.base.lastIndexOf('.') + 1);
      const product = orig instanceof NotAnalysed || mask instanceof NotAnalysed ? new NotAnalysed('its orig or mask cannot be read') : await effectiveWeight(orig, mask, locator.file);
      if (product instanceof NotAnalysed) {
        skipped.push({ name: pair.base, reason: `pruned weight not analysed: ${product.reason}` });
      } else {
        const shape = (orig as ResolvedTensor).shape;
        tensors.push({
          name: pair.base,
          dtype: product.dtype,
          shape,
          source: { kind: 'inline', bytes: product.bytes },
          ...roleByName(pair.base, shape),
          note: `effective weight = ${leafName}_orig × ${leafName}_mask`,
        });
      }
      const reason = `pruning pair, analysed as ${pair.base} = ${leafName}_orig × ${leafName}_mask`;
      skipped.push({ name: pair.orig, reason }, { name: pair.mask, reason });
      continue;
    }
    const r = resolved.get(leaf.name)!;
    if (r instanceof NotAnalysed) {
      skipped.push({ name: leaf.name, reason: r.reason });
      continue;
    }
    tensors.push({ name: leaf.name, dtype: r.dtype, shape: r.shape, source: r.source, ...roleByName(leaf.name, r.shape), ...(r.note ? { note: r.note } : {}) });
  }
  for (const { leaf, reason } of layout.apart) skipped.push({ name: leaf.name, reason });
  if (tensors.length === 0 && skipped.length === 0) metadata['note'] = 'no tensors found in the pickled object';
  return { file: path, format: 'pytorch', tensors, metadata, skipped };
}

async function resolveLeaf(leaf: Leaf, locator: StorageLocator): Promise<ResolvedTensor | NotAnalysed> {
  if (leaf.value instanceof PyObject) return new NotAnalysed(`a tensor kind that is not read (${leaf.value.className})`);
  return resolveTensor(leaf.name, leaf.value, locator);
}

interface PairPart {
  readonly role: 'orig' | 'mask';
  readonly base: string;
  readonly orig: string;
  readonly mask: string;
}

/** `X_orig` + `X_mask` left by torch.nn.utils.prune (when `X` itself is not in the state). */
function pruningPairs(model: readonly Leaf[]): Map<string, PairPart> {
  const names = new Set(model.map((l) => l.name));
  const pairs = new Map<string, PairPart>();
  for (const name of names) {
    if (!name.endsWith('_orig')) continue;
    const base = name.slice(0, -'_orig'.length);
    const mask = `${base}_mask`;
    if (!names.has(mask) || names.has(base)) continue;
    pairs.set(name, { role: 'orig', base, orig: name, mask });
    pairs.set(mask, { role: 'mask', base, orig: name, mask });
  }
  return pairs;
}
