import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { REPO } from '../../helpers/fixtures';

describe('fuzzing: a short fixed-seed run keeps the CLI contract', function () {
  this.timeout(300_000);
  it('150 mutated checkpoints (25 per format, seed 7, two persistent runners): exit 0 with JSON or exit 2 with one printable line naming the file', () => {
    const r = spawnSync(process.execPath, [path.join(REPO, 'scripts', 'fuzz', 'run.mjs'), '--seed', '7', '--per-format', '25'], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 280_000,
    });
    const last = r.stdout.trimEnd().split('\n').pop() ?? '';
    assert.equal(r.status, 0, `${last}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
    assert.match(last, /^150 inputs, 0 broke the contract/);
  });
});
