// The contract of `sparsity-lens prune FILE -o OUT --force --json` on the files, for the fuzzer's
// `--command prune` (run.mjs, runner.mjs, minimize.mjs): where OUT goes, the inputs' hashes taken
// before the run, and the breaks found on disk after it. The contract:
//
//   exit 0: stdout is JSON whose `written` (a non-empty list of paths) all exist; the input's
//           files are byte-identical to before; no `.sparsity-lens-*` staging folder is left in
//           OUT's folder;
//   exit 2: one printable line `error: …` on stderr (checked by the callers, with the report's
//           line checks), NO file at OUT nor anything else new in OUT's folder (shards, external
//           data), no staging folder, and the input's files unchanged.
//
// Anything else is a break (exit 1 included: "the written file did not verify" is a bug). Kinds
// found here: bad-json, missing-written (a `written` path that is not there), input-changed,
// staging-left, output-left (OUT, or another new file, after a failure).
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';

/** The prefix of the CLI's staging folders (src/core/prune/stagedOutput.ts). */
export const STAGING_PREFIX = '.sparsity-lens-';

/**
 * A fresh output path beside `target` with its extension: `<dir>/pruned<ext>`, or
 * `<dir>/pruned.safetensors.index.json` for a shard index (`pruned-1<ext>`… when taken).
 * @param {string} target
 * @param {string[]} files every file of the input's set
 */
export function pruneOutputPath(target, files) {
  const ext = target.toLowerCase().endsWith('.safetensors.index.json') ? '.safetensors.index.json' : extname(target);
  const dir = dirname(target);
  const taken = new Set(files.map((f) => basename(f)));
  for (let n = 0; ; n++) {
    const name = `pruned${n ? `-${n}` : ''}${ext}`;
    if (!taken.has(name) && !existsSync(join(dir, name))) return join(dir, name);
  }
}

/**
 * SHA-256 of each file, read in 1 MiB chunks (no whole file in memory); '' for a file that cannot be read.
 * @param {string[]} files
 * @returns {Record<string, string>}
 */
export function hashFiles(files) {
  /** @type {Record<string, string>} */
  const out = {};
  const buf = Buffer.alloc(1 << 20);
  for (const f of files) {
    const hash = createHash('sha256');
    let fd;
    try {
      fd = openSync(f, 'r');
      for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0;) hash.update(buf.subarray(0, n));
      out[f] = hash.digest('hex');
    } catch {
      out[f] = '';
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  return out;
}

/**
 * Removes what a run left in OUT's folder (everything but the input's files), so that the next
 * run of the same input (a recheck, a minimizer step) starts clean.
 * @param {string} out
 * @param {string[]} files
 */
export function cleanOutputs(out, files) {
  const dir = dirname(out);
  const keep = new Set(files.map((f) => basename(f)));
  for (const name of readdirSync(dir)) if (!keep.has(name)) rmSync(join(dir, name), { recursive: true, force: true });
}

/**
 * The breaks of one prune run found on disk (and in its JSON, on exit 0). The error line of a
 * failure is the caller's to check.
 * @param {{ code: number | null, stdout: string, out: string, files: string[], hashes: Record<string, string> }} run
 * @returns {string[]}
 */
export function pruneBreaks({ code, stdout, out, files, hashes }) {
  /** @type {string[]} */
  const kinds = [];
  const dir = dirname(out);
  const inputs = new Set(files.map((f) => basename(f)));
  const entries = existsSync(dir) ? readdirSync(dir) : [];
  const staging = entries.some((n) => n.startsWith(STAGING_PREFIX));
  if (code === 0) {
    /** @type {unknown} */
    let written;
    try {
      written = JSON.parse(stdout).written;
    } catch {
      kinds.push('bad-json');
    }
    if (!kinds.length) {
      if (!Array.isArray(written) || written.length === 0 || !written.every((w) => typeof w === 'string')) kinds.push('bad-json');
      else if (!written.every((w) => existsSync(w))) kinds.push('missing-written');
    }
  } else if (existsSync(out) || entries.some((n) => !inputs.has(n) && !n.startsWith(STAGING_PREFIX))) kinds.push('output-left');
  const now = hashFiles(files);
  if (files.some((f) => now[f] !== hashes[f])) kinds.push('input-changed');
  if (staging) kinds.push('staging-left');
  return kinds;
}
