import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { closeSync, ftruncateSync, openSync, writeFileSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { CLI, makeTempDir, REPO } from '../../helpers/fixtures';

/**
 * A 1 GiB safetensors file must be reported without reading it into memory: the file is made
 * sparse (holes read as zeros), a few weights are written, and the CLI's peak memory is measured.
 */
describe('a 1 GiB safetensors checkpoint', function () {
  this.timeout(300_000);
  const rows = 16384;
  const cols = 16384; // float32: exactly 1 GiB of tensor data
  let tmp: ReturnType<typeof makeTempDir>;
  let file: string;

  before(() => {
    tmp = makeTempDir();
    file = path.join(tmp.dir, 'big.safetensors');
    let header = JSON.stringify({ 'big.weight': { dtype: 'F32', shape: [rows, cols], data_offsets: [0, rows * cols * 4] } });
    header += ' '.repeat((8 - (header.length % 8)) % 8);
    const fd = openSync(file, 'w');
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(header.length));
    writeSync(fd, prefix, 0, 8, 0);
    writeSync(fd, Buffer.from(header), 0, header.length, 8);
    const dataStart = 8 + header.length;
    ftruncateSync(fd, dataStart + rows * cols * 4);
    // Row r gets r % 3 + 1 non-zeros at its start; the last row also one at its very end.
    const one = Buffer.alloc(4);
    one.writeFloatLE(0.25);
    for (let r = 0; r < rows; r += 1024) {
      for (let k = 0; k <= r % 3; k++) writeSync(fd, one, 0, 4, dataStart + (r * cols + k) * 4);
    }
    writeSync(fd, one, 0, 4, dataStart + (rows * cols - 1) * 4);
    closeSync(fd);
    writeFileSync(
      path.join(tmp.dir, 'peak.js'),
      "process.on('exit', () => process.stderr.write(`maxRSS=${process.resourceUsage().maxRSS}\\n`));",
    );
  });
  after(() => tmp.remove());

  it('is reported with the right figures in bounded memory', () => {
    const r = spawnSync(process.execPath, ['--require', path.join(tmp.dir, 'peak.js'), CLI, 'report', file, '--json'], {
      cwd: REPO,
      encoding: 'utf8',
      maxBuffer: 1 << 26,
    });
    assert.equal(r.status, 0, r.stderr);
    const layer = JSON.parse(r.stdout).layers[0];
    let expectedNnz = 1;
    let violations = 0;
    for (let row = 0; row < rows; row += 1024) {
      expectedNnz += (row % 3) + 1;
      if (row % 3 === 2) violations++; // 3 non-zeros in the row's first group of 4
    }
    assert.equal(layer.numel, rows * cols);
    assert.equal(layer.nnz, expectedNnz);
    assert.equal(layer.fanIn.zeroNeurons, rows - 17, '16 rows with a few weights, plus the last row');
    assert.equal(layer.fanIn.max, 3);
    assert.equal(layer.nm.groups, (rows * cols) / 4);
    assert.equal(violations, 5);
    assert.equal(layer.nm.compliant, (rows * cols) / 4 - violations);
    const maxRssKiB = Number(/maxRSS=(\d+)/.exec(r.stderr)?.[1]);
    assert.ok(maxRssKiB > 0);
    assert.ok(maxRssKiB < 300 * 1024, `peak memory ${Math.round(maxRssKiB / 1024)} MiB for a 1024 MiB file`);
  });
});
