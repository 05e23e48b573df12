import type { LayerReport } from './report';

/**
 * The module a tensor belongs to, from its name: the name without its last part
 * (`layer1.0.conv1.weight` → `layer1.0.conv1`), or the name a user knows for an ONNX weight
 * (`onnx::Conv_241` shown as `layer4.0.conv2`). '' for a name with no module.
 */
export function moduleOf(layer: Pick<LayerReport, 'name' | 'displayName' | 'role'>): string {
  if (layer.displayName && layer.role !== 'other') return layer.displayName;
  const name = layer.displayName ?? layer.name;
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : '';
}

/** `items` grouped by module, groups in the order their first item comes, items in theirs. */
export function byModule<T>(
  items: readonly T[],
  layerOf: (item: T) => Pick<LayerReport, 'name' | 'displayName' | 'role'>,
): [string, T[]][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const module = moduleOf(layerOf(item));
    let group = groups.get(module);
    if (!group) groups.set(module, (group = []));
    group.push(item);
  }
  return [...groups];
}
