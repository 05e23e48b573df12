import { CheckpointError } from '../../errors';
import { describeValue, PyClass } from './pickle/values';
import { StorageType, type StorageRef } from './torchGlobals';

/**
 * Decodes torch's persistent ids. The zip format uses
 * `('storage', storage_type, key, location, numel)`; the legacy format adds `view_metadata`
 * (`(view_key, offset, numel)` or None) and also saves module classes as
 * `('module', class, source_file, source)`.
 */
export function storageRefOf(pid: unknown, file: string, what: string, legacy: boolean): unknown {
  const bad = (detail: string) => new CheckpointError(file, 'corrupt', `${what}: ${detail}`);
  if (!Array.isArray(pid) || pid.length === 0) throw bad('a persistent id that is not a tuple');
  const kind = pid[0] instanceof Uint8Array ? new TextDecoder('latin1').decode(pid[0]) : pid[0];
  if (legacy && kind === 'module') {
    // The class of a pickled nn.Module, with its source for torch's "source changed" warning.
    const cls = pid[1];
    if (!(cls instanceof PyClass)) throw bad('a module persistent id without a class');
    return cls;
  }
  if (kind !== 'storage') throw bad(`unknown persistent id type ${JSON.stringify(describeValue(kind, 60))}`);
  if (pid.length !== (legacy ? 6 : 5)) throw bad(`a storage persistent id of ${pid.length} fields (expected ${legacy ? 6 : 5})`);
  const [, type, key, location, numel] = pid;
  if (!(type instanceof StorageType)) {
    const name = type instanceof PyClass ? type.qualifiedName : typeof type;
    throw new CheckpointError(file, 'unsupported', `${what}: storage type ${name} is not one torch.save writes`);
  }
  if (typeof key !== 'string' && typeof key !== 'number') throw bad('a storage key that is not a string');
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0)
    throw bad(`storage ${String(key)} has an element count that is not a non-negative integer`);
  // torch writes the device as a string ('cpu', 'cuda:0').
  if (typeof location !== 'string')
    throw bad(`storage ${String(key)} has a location that is not a string (${describeValue(location, 40)})`);
  const ref: StorageRef = { key: String(key), type, numel, location };
  const view = legacy ? pid[5] : null;
  if (view === null || view === undefined) return ref;
  if (!Array.isArray(view) || view.length !== 3) throw bad(`storage ${ref.key} has view metadata that is not (key, offset, size)`);
  const [viewKey, offset, size] = view;
  if (typeof viewKey !== 'string' && typeof viewKey !== 'number') throw bad(`storage ${ref.key} has a view key that is not a string`);
  if (
    typeof offset !== 'number' ||
    typeof size !== 'number' ||
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(size) ||
    offset < 0 ||
    size < 0 ||
    offset + size > numel
  ) {
    throw bad(
      `storage view ${String(viewKey)} (offset ${describeValue(offset, 30)}, ${describeValue(size, 30)} elements) does not fit its root storage of ${numel}`,
    );
  }
  return { ...ref, numel: size, view: { key: String(viewKey), offset, numel: size } } satisfies StorageRef;
}
