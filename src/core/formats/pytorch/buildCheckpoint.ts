import type { Checkpoint, SkippedTensor, TensorEntry } from '../../checkpoint';
import { roleByName } from '../../roles/rolesByName';
import { layoutOf, stripWrapperPrefix, type Leaf } from './checkpointLayout';
import { PyClass, PyObject } from './pickle/values';
import { effectiveWeight, NotAnalysed, resolveTensor, type ResolvedTensor, type StorageLocator } from './tensorViews';

/**
 * From the unpickled root object to a Checkpoint: finds the model's tensors, strips wrapper
 * prefixes, merges pruning pairs into effective weights and resolves every tensor view.
 */
export async function buildCheckpoint(root: unknown, locator: StorageLocator, metadata: Record<string, string>): Promise<Checkpoint> {
  const path = locator.file.path;
  const layout = layoutOf(root, path);
  Object.assign(metadata, layout.metadata);
  const model = uniqueNames(stripWrapperPrefix(layout.model, metadata), metadata);
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
      const product =
        orig instanceof NotAnalysed || mask instanceof NotAnalysed
          ? new NotAnalysed('its orig or mask cannot be read')
          : await effectiveWeight(orig, mask, locator.file, locator.budget);
      if (product instanceof NotAnalysed) {
        skipped.push({ name: pair.base, reason: `pruned weight not analysed: ${product.reason}` });
      } else {
        const shape = (orig as ResolvedTensor).shape;
        const part = (name: string, t: ResolvedTensor) => ({ name, dtype: t.dtype, stored: t.stored });
        tensors.push({
          name: pair.base,
          dtype: product.dtype,
          shape,
          source: { kind: 'inline', bytes: product.bytes },
          stored: {
            kind: 'derived',
            op: 'prunePair',
            orig: part(pair.orig, orig as ResolvedTensor),
            mask: part(pair.mask, mask as ResolvedTensor),
          },
          ...roleByName(pair.base, shape),
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
    tensors.push({
      name: leaf.name,
      dtype: r.dtype,
      shape: r.shape,
      source: r.source,
      stored: r.stored,
      ...roleByName(leaf.name, r.shape),
    });
  }
  for (const { leaf, reason } of layout.apart) skipped.push({ name: leaf.name, reason });
  if (tensors.length === 0 && skipped.length === 0) metadata['note'] = 'no tensors found in the pickled object';
  return { file: path, format: 'pytorch', tensors, metadata, skipped };
}

/**
 * Flattened names can collide (a key "a.b" beside a nested {"a": {"b": …}}, keys 1 and "1"):
 * later ones get a "#2", "#3" … suffix so that no tensor hides another.
 */
function uniqueNames(leaves: Leaf[], metadata: Record<string, string>): Leaf[] {
  const taken = new Set(leaves.map((l) => l.name));
  const seen = new Set<string>();
  let renamed = 0;
  const out = leaves.map((leaf) => {
    if (!seen.has(leaf.name)) {
      seen.add(leaf.name);
      return leaf;
    }
    let n = 2;
    while (taken.has(`${leaf.name}#${n}`)) n++;
    const name = `${leaf.name}#${n}`;
    taken.add(name);
    renamed++;
    return { name, value: leaf.value };
  });
  if (renamed > 0)
    metadata['duplicate names'] =
      `${renamed} tensor${renamed === 1 ? '' : 's'} shared a name with an earlier one and got a "#2"-style suffix`;
  return out;
}

async function resolveLeaf(leaf: Leaf, locator: StorageLocator): Promise<ResolvedTensor | NotAnalysed> {
  if (leaf.value instanceof PyObject) {
    const [func] = leaf.value.args;
    if (leaf.value.className === 'torch._tensor._rebuild_from_type_v2' && func instanceof PyClass) {
      return new NotAnalysed(`a tensor subclass rebuilt by ${func.qualifiedName}, which is not read`);
    }
    return new NotAnalysed(`a tensor kind that is not read (${leaf.value.className})`);
  }
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
