// The base files the fuzzer mutates, per format, and how one input is derived from
// (seed, format, index): the PyTorch-written checkpoints of ../shared/data beside the repository
// (when present) and the committed fixtures under test/fixtures. A seed set is one file, or a
// folder copied whole (TF.js model.json and shards, safetensors shard sets, ONNX external data) of
// which one member is mutated.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as m from './mutate.mjs';
import { Rng } from './prng.mjs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FORMATS = ['onnx', 'safetensors', 'shards', 'pytorch', 'numpy', 'tfjs'];

/**
 * @typedef {{ name: string, dir: string, files: string[], target: string }} SeedSet
 *   name: the path shown in reports; dir: the folder holding `files` (basenames); target: the one
 *   the CLI is given
 */

/** The shared data folder ($SPARSITY_LENS_SHARED_DATA, else ../shared/data beside this checkout), when it is there. */
export function sharedDataDir() {
  const dir = resolve(process.env.SPARSITY_LENS_SHARED_DATA || join(ROOT, '..', 'shared', 'data'));
  return existsSync(join(dir, 'README.md')) ? dir : undefined;
}

/**
 * Files under a folder, recursively, sorted, whose name passes a test.
 * @param {string} dir
 * @param {(name: string) => boolean} test
 * @returns {string[]}
 */
function walk(dir, test) {
  if (!existsSync(dir)) return [];
  /** @type {string[]} */
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = join(dir, entry.name);
    // test/fixtures/fuzz holds the inputs that once broke the contract: regression fixtures, not seeds.
    if (entry.isDirectory() && p === join(ROOT, 'test', 'fixtures', 'fuzz')) continue;
    if (entry.isDirectory()) out.push(...walk(p, test));
    else if (test(entry.name)) out.push(p);
  }
  return out;
}

/**
 * A single-file seed set.
 * @param {string} file
 * @returns {SeedSet}
 */
function single(file) {
  return { name: relative(ROOT, file), dir: dirname(file), files: [basename(file)], target: basename(file) };
}

/**
 * A folder seed set: every file beside `target`.
 * @param {string} target
 * @returns {SeedSet}
 */
function folder(target) {
  const dir = dirname(target);
  const files = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => e.name)
    .sort();
  return { name: relative(ROOT, target), dir, files, target: basename(target) };
}

/**
 * The seed sets of every format, in a fixed order.
 * @returns {Record<string, SeedSet[]>}
 */
export function seedSets() {
  const fx = join(ROOT, 'test', 'fixtures');
  const shared = sharedDataDir();
  /** @param {RegExp} re */
  const fromShared = (re) => (shared ? walk(shared, (n) => re.test(n) && n !== 'digits.npz') : []);
  const ext =
    (/** @type {string[]} */ ...exts) =>
    (/** @type {string} */ n) =>
      exts.includes(extname(n));
  const isExternal = (/** @type {string} */ f) => basename(dirname(f)) === 'external';
  const onnx = walk(fx, ext('.onnx'));
  return {
    onnx: [...fromShared(/\.onnx$/), ...onnx.filter((f) => !isExternal(f))].map(single).concat(onnx.filter(isExternal).map(folder)),
    safetensors: [...fromShared(/\.safetensors$/), ...walk(fx, ext('.safetensors')).filter((f) => !/model-\d+-of-\d+/.test(f))].map(single),
    shards: walk(fx, (n) => n.endsWith('.safetensors.index.json')).map(folder),
    pytorch: [...fromShared(/\.pt$/), ...walk(fx, ext('.pt', '.pth', '.ckpt'))].map(single),
    numpy: [...fromShared(/\.npz$/), ...walk(fx, ext('.npy', '.npz'))].map(single),
    tfjs: walk(join(fx), (n) => n === 'model.json').map(folder),
  };
}

/**
 * The format-aware mutations of one file of a format.
 * @param {string} format
 * @param {string} file
 * @param {Buffer} bytes
 * @returns {import('./mutate.mjs').Mutation[]}
 */
function awareMutations(format, file, bytes) {
  if (file.endsWith('.json'))
    return format === 'tfjs'
      ? [m.jsonFile(/paths|weights|shape|dtype|quantization|name/), m.tfjsManifest]
      : [m.jsonFile(/weight_map|total_size/)];
  if (file.endsWith('.safetensors')) return [m.safetensorsHeader, m.safetensorsHeader, m.safetensorsHeader, m.manyTensors];
  if (file.endsWith('.npy')) return [m.npyHeader];
  if (file.endsWith('.npz')) return [m.npyHeader, m.zipField, m.npzMember, m.npzMember, m.npzMember, m.zipBomb];
  if (format === 'onnx' && file.endsWith('.onnx')) return [m.protobufField, m.protobufField, m.protobufNesting];
  if (format === 'pytorch') {
    // Zip (torch.save's default) or the legacy stream of pickles.
    return bytes[0] === 0x50 && bytes[1] === 0x4b
      ? [m.zipField, m.torchZipPickle, m.torchZipPickle, m.torchZipPickle, m.hugeView, m.zipBomb]
      : [m.legacyPickle];
  }
  return [];
}

/**
 * Derives one input from (seed, format, index) alone and writes its files into `outDir` (which
 * must exist). Returns the target file to give the CLI, the seed set and what was done.
 * @param {Record<string, SeedSet[]>} sets
 * @param {number} seed
 * @param {string} format
 * @param {number} index
 * @param {string} outDir
 */
export function makeInput(sets, seed, format, index, outDir) {
  const rng = Rng.forInput(seed, format, index);
  const set = rng.pick(sets[format]);
  // Multi-file sets: mutate the entry file about half the time, else another member.
  const others = set.files.filter((f) => f !== set.target);
  const member = others.length && rng.chance(0.5) ? rng.pick(others) : set.target;
  /** @type {Buffer} */
  let bytes = readFileSync(join(set.dir, member));
  const aware = awareMutations(format, member, bytes);
  /** @type {string[]} */
  const applied = [];
  for (let n = rng.range(1, 3); n > 0; n--) {
    const mutation = aware.length && rng.chance(0.5) ? rng.pick(aware) : rng.pick(m.GENERIC);
    try {
      bytes = mutation(rng, bytes);
      applied.push(mutation.name || 'json');
    } catch (e) {
      // A mutator's own bug must not end a long run: the input keeps the bytes so far, and says so.
      applied.push(`${mutation.name || 'json'} (threw ${e instanceof Error ? e.message : String(e)})`);
    }
  }
  for (const f of set.files) {
    writeFileSync(join(outDir, f), f === member ? bytes : readFileSync(join(set.dir, f)));
  }
  return {
    target: join(outDir, set.target),
    files: set.files.map((f) => join(outDir, f)),
    seedSet: set.name,
    member,
    mutations: applied,
    multiFile: set.files.length > 1,
  };
}
