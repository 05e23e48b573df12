import { strict as assert } from 'node:assert';
import { createDeflateRaw, crc32 } from 'node:zlib';
import type { SparsityReport } from '../../../src/core/analysis/report';
import { CLI, makeTempDir, REPO } from '../../helpers/fixtures';
import { canMeasure, runNodeMeasured } from '../../helpers/processMemory';
import { npy, statePickle, storedZip, zipOf } from '../../helpers/writers';

/**
 * Values derived while opening (an inflated .npz member, a gathered strided view) are written to
 * an unlinked scratch file in 4 MiB pieces and scanned there: a small file that derives 900 MB
 * or 1 GiB of values costs no more memory than the pieces. Peak RSS is that of the largest
 * process of `sparsity-lens report` (the CLI or its kernel worker).
 */
const PEAK_BOUND_BYTES = 300 << 20;

/**
 * A deflated .npy of a float32 [rows, cols] array of zeros with 1.5 at every flat index that is a
 * multiple of `every` (0 for none), streamed: neither the array nor its deflated form is held whole.
 */
async function deflatedNpy(rows: number, cols: number, every: number): Promise<{ data: Buffer; size: number; crc: number }> {
  const header = npy(`{'descr': '<f4', 'fortran_order': False, 'shape': (${rows}, ${cols}), }`);
  const deflate = createDeflateRaw({ level: 6 });
  const out: Buffer[] = [];
  deflate.on('data', (c: Buffer) => out.push(c));
  const ended = new Promise((resolve) => deflate.on('end', resolve));
  let crc = 0;
  const write = async (bytes: Buffer) => {
    crc = crc32(bytes, crc);
    if (!deflate.write(bytes)) await new Promise((resolve) => deflate.once('drain', resolve));
  };
  await write(header);
  const PIECE = 1 << 20; // elements
  const numel = rows * cols;
  for (let first = 0; first < numel; first += PIECE) {
    const piece = Buffer.alloc(Math.min(PIECE, numel - first) * 4);
    if (every)
      for (let i = Math.ceil(first / every) * every; i < first + piece.length / 4; i += every) piece.writeFloatLE(1.5, (i - first) * 4);
    await write(piece);
  }
  deflate.end();
  await ended;
  return { data: Buffer.concat(out), size: header.length + numel * 4, crc };
}

async function report(file: string): Promise<{ report: SparsityReport; peakBytes: number }> {
  const run = await runNodeMeasured(CLI, ['report', file, '--json'], { cwd: REPO, childNames: ['kernelWorker.js'] });
  assert.equal(run.code, 0, run.stderr);
  const worker = run.childPeakBytes.get('kernelWorker.js');
  assert.ok(worker, 'the kernel worker was measured');
  return { report: JSON.parse(run.stdout) as SparsityReport, peakBytes: Math.max(run.peakBytes, worker) };
}

describe('derived values do not multiply memory', function () {
  this.timeout(120_000);
  let tmp: ReturnType<typeof makeTempDir>;
  before(function () {
    if (!canMeasure()) this.skip(); // the scratch file and /proc are Linux's
    tmp = makeTempDir();
  });
  after(() => tmp?.remove());

  it('a 300 MiB .npz member deflated 155 times is inflated piece by piece into the scratch file: exact figures, below the peak bound', async () => {
    const [rows, cols, every] = [10_240, 7_680, 97];
    const member = await deflatedNpy(rows, cols, every);
    const file = tmp.write(
      'inflates.npz',
      zipOf([{ name: 'fc.weight.npy', data: member.data, method: 8, uncompressedSize: member.size, crc: member.crc }]),
    );
    assert.ok(member.size / member.data.length < 500, "not a zip bomb by the reader's rule");
    const { report: r, peakBytes } = await report(file);
    const layer = r.layers.find((l) => l.name === 'fc.weight')!;
    assert.equal(layer.numel, rows * cols);
    assert.equal(layer.nnz, Math.ceil((rows * cols) / every));
    assert.ok(peakBytes < PEAK_BOUND_BYTES, `peak RSS ${(peakBytes / 2 ** 20).toFixed(0)} MiB`);
  });

  it('a 1 MB .npz whose member of zeros inflates to 900 MB (1,000 times) is listed apart as a likely zip bomb, at once', async () => {
    const member = await deflatedNpy(15_000, 15_000, 0);
    const file = tmp.write(
      'bomb.npz',
      zipOf([{ name: 'fc.weight.npy', data: member.data, method: 8, uncompressedSize: member.size, crc: member.crc }]),
    );
    assert.ok(member.data.length < 1_500_000, `${member.data.length} compressed bytes`);
    const { report: r, peakBytes } = await report(file);
    assert.deepEqual(r.layers, []);
    assert.match(r.skipped[0].reason, /^compressed zip member "fc\.weight\.npy" would inflate \d+ times, from .* \(a zip bomb\?\)$/);
    assert.ok(peakBytes < PEAK_BOUND_BYTES, `peak RSS ${(peakBytes / 2 ** 20).toFixed(0)} MiB`);
  });

  it('a .pt whose [16384, 16384] view has strides [1, 1] over 32,767 elements reports its exact figures, below the peak bound', async () => {
    const n = 16_384;
    const storage = new Float32Array(2 * n - 1).map((_, k) => (k % 7 === 0 ? 1 : 0));
    const pickle = statePickle([{ name: 'fc.weight', key: '0', numel: storage.length, offset: 0, size: [n, n], stride: [1, 1] }]);
    const file = tmp.write(
      'diagonal.pt',
      storedZip([
        ['diagonal/data.pkl', pickle],
        ['diagonal/data/0', new Uint8Array(storage.buffer)],
      ]),
    );
    // Element (i, j) is storage[i + j]: the sums s = i + j that are multiples of 7, each counted
    // as often as s splits into i + j with both below n.
    let nnz = 0;
    for (let s = 0; s <= 2 * n - 2; s += 7) nnz += s < n ? s + 1 : 2 * n - 1 - s;
    const { report: r, peakBytes } = await report(file);
    const layer = r.layers.find((l) => l.name === 'fc.weight')!;
    assert.equal(layer.numel, n * n);
    assert.equal(layer.nnz, nnz);
    assert.ok(peakBytes < PEAK_BOUND_BYTES, `peak RSS ${(peakBytes / 2 ** 20).toFixed(0)} MiB`);
  });
});
