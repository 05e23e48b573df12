import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { removeStaleStaging } from '../../../src/core/prune/stagedOutput';
import { makeTempDir } from '../../helpers/fixtures';

/** When a process started, in clock ticks after boot: field 22 of /proc/PID/stat. */
const startOf = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
};

/** The pid of a process that has ended and been reaped. */
const deadPid = () => spawnSync('true').pid;

describe('staging folders left by a killed writer', () => {
  let temp: ReturnType<typeof makeTempDir>;
  beforeEach(() => (temp = makeTempDir()));
  afterEach(() => temp.remove());

  const staging = (pid: number, start: number, files: Record<string, string> = {}) => {
    const folder = path.join(temp.dir, `.sparsity-lens-${pid}-${start}-abc123`);
    mkdirSync(folder);
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(folder, name), text);
    return folder;
  };

  it('are removed when their process is dead, kept while it lives, and removed when its pid was reused', async () => {
    const live = spawn('sleep', ['30']);
    try {
      await sleep(50);
      const ofLive = staging(live.pid!, startOf(live.pid!), { 'out.onnx': 'partial' });
      const reused = staging(live.pid!, startOf(live.pid!) + 1);
      const dead = staging(deadPid()!, 12345);
      await removeStaleStaging(temp.dir);
      assert.ok(existsSync(ofLive), "a live writer's folder is kept");
      assert.ok(!existsSync(reused), 'the folder of an earlier process with the same pid is removed');
      assert.ok(!existsSync(dead));
      live.kill('SIGKILL');
      await new Promise((resolve) => live.once('exit', resolve));
      await removeStaleStaging(temp.dir);
      assert.deepEqual(readdirSync(temp.dir), [], 'once the writer is dead, its folder goes');
    } finally {
      live.kill('SIGKILL');
    }
  });

  it('a kill between the renames of several files is undone: the files moved go when the main file never came', async () => {
    const files = ['out-00001-of-00002.safetensors', 'out-00002-of-00002.safetensors', 'out.safetensors.index.json'];
    const publishing = JSON.stringify(files);
    // Killed after the first rename: the first shard is in place, the rest still staged.
    writeFileSync(path.join(temp.dir, files[0]), 'shard 1');
    writeFileSync(path.join(temp.dir, 'unrelated.txt'), 'mine');
    staging(deadPid()!, 1, { '.sparsity-lens-publishing.json': publishing, [files[1]]: 'shard 2', [files[2]]: '{}' });
    await removeStaleStaging(temp.dir);
    assert.deepEqual(readdirSync(temp.dir), ['unrelated.txt']);

    // Killed after the last rename (before the folder was removed): the output is whole and stays.
    for (const f of files) writeFileSync(path.join(temp.dir, f), f);
    staging(deadPid()!, 1, { '.sparsity-lens-publishing.json': publishing });
    await removeStaleStaging(temp.dir);
    assert.deepEqual(readdirSync(temp.dir).sort(), [...files, 'unrelated.txt'].sort());

    // A list naming files elsewhere is not followed.
    staging(deadPid()!, 1, { '.sparsity-lens-publishing.json': JSON.stringify(['../outside.txt', 'last']), last: '' });
    writeFileSync(path.join(path.dirname(temp.dir), 'outside.txt'), 'keep');
    try {
      await removeStaleStaging(temp.dir);
      assert.ok(existsSync(path.join(path.dirname(temp.dir), 'outside.txt')));
    } finally {
      rmSync(path.join(path.dirname(temp.dir), 'outside.txt'), { force: true });
    }
  });
});
