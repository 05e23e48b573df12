import type { Checkpoint } from '../../checkpoint';
import type { DerivedBytesBudget } from '../../derivedBytes';
import { CheckpointError } from '../../errors';
import type { RandomAccessFile } from '../../randomAccessFile';
import { memberSource, METHOD_STORED, readZipDirectory, readZipMember, storedZipMember, type ZipEntry } from '../shared/zip';
import { buildCheckpoint } from './buildCheckpoint';
import { MAX_PICKLE_BYTES } from './pickle/limits';
import { unpickle } from './pickle/unpickler';
import { storageRefOf } from './storageIds';
import type { StorageBytes, StorageLocator } from './tensorViews';
import { resolveTorchGlobal, type StorageRef } from './torchGlobals';

/**
 * torch.save's default format (torch ≥ 1.6): a zip whose records sit under one folder, with the
 * object pickle in `data.pkl` and each storage's raw bytes in `data/<key>`. Stored records become
 * file ranges at their data offset; deflated ones (zips rewritten by other tools) are read into
 * memory within the checkpoint's DerivedBytesBudget.
 */
export async function readPyTorchZip(file: RandomAccessFile, budget: DerivedBytesBudget): Promise<Checkpoint> {
  const path = file.path;
  const entries = await readZipDirectory(file);
  // torch.save puts every record under one folder, named after the file (or "archive").
  const first = entries[0]?.name ?? '';
  let prefix = first.includes('/') ? first.slice(0, first.indexOf('/') + 1) : '';
  const byName = new Map(entries.map((e) => [e.name, e]));
  let dataPkl = byName.get(`${prefix}data.pkl`);
  if (!dataPkl) {
    // An archive rewritten by another tool may list some other member first.
    dataPkl = entries.find((e) => /^[^/]*\/data\.pkl$/.test(e.name));
    if (!dataPkl)
      throw new CheckpointError(path, 'unknown-format', 'a zip archive without data.pkl: not a checkpoint written by torch.save');
    prefix = dataPkl.name.slice(0, -'data.pkl'.length);
  }
  const metadata: Record<string, string> = { 'pytorch format': 'zip', 'record prefix': prefix.replace(/\/$/, '') };
  if (byName.has(`${prefix}constants.pkl`) || entries.some((e) => e.name.startsWith(`${prefix}code/`))) {
    metadata['pytorch format'] = 'zip (TorchScript)';
  }
  const version = byName.get(`${prefix}version`) ?? byName.get(`${prefix}.data/version`);
  if (version) metadata['archive version'] = new TextDecoder().decode(await readZipMember(file, version, 64)).trim();
  const byteorderEntry = byName.get(`${prefix}byteorder`);
  const byteorder = byteorderEntry ? new TextDecoder().decode(await readZipMember(file, byteorderEntry, 16)).trim() : 'little';
  if (byteorder !== 'little' && byteorder !== 'big') {
    throw new CheckpointError(path, 'corrupt', `the byteorder record says "${byteorder}", neither "little" nor "big"`);
  }
  metadata['byteorder'] = byteorder;

  const pickle = await readZipMember(file, dataPkl, MAX_PICKLE_BYTES);
  const what = `${prefix}data.pkl`;
  const { value } = unpickle(pickle, 0, {
    file: path,
    what,
    fileOffset: dataPkl.method === METHOD_STORED ? dataPkl.dataOffset : undefined,
    resolveGlobal: resolveTorchGlobal,
    persistentLoad: (pid) => storageRefOf(pid, path, what, false),
  });
  return buildCheckpoint(value, new ZipStorages(file, prefix, byName, byteorder === 'big', budget), metadata);
}

class ZipStorages implements StorageLocator {
  /** Each record is located (and, when deflated, inflated and charged to the budget) once. */
  private readonly located = new Map<string, Promise<StorageBytes>>();

  constructor(
    readonly file: RandomAccessFile,
    private readonly prefix: string,
    private readonly entries: ReadonlyMap<string, ZipEntry>,
    readonly bigEndian: boolean,
    readonly budget: DerivedBytesBudget,
  ) {}

  describe(ref: StorageRef): string {
    return `${this.prefix}data/${ref.key}`;
  }

  async locate(ref: StorageRef): Promise<StorageBytes> {
    const name = this.describe(ref);
    const entry = this.entries.get(name);
    if (!entry) throw new CheckpointError(this.file.path, 'corrupt', `data.pkl refers to storage record ${name}, which the archive lacks`);
    let located = this.located.get(name);
    if (!located) {
      located = memberSource(this.file, entry, this.budget).then((bytes) =>
        bytes.kind === 'skipped' ? bytes : { ...bytes, stored: storedZipMember(this.file.path, entry) },
      );
      this.located.set(name, located);
    }
    return located;
  }
}
