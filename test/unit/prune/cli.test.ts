import { strict as assert } from 'node:assert';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { numelOf } from '../../../src/core/checkpoint';
import { DTYPE_BITS } from '../../../src/core/dtype';
import { openCheckpoint } from '../../../src/core/formats/registry';
import { readSpan } from '../../../src/core/tensorBytes';
import { CLI, fixture, makeTempDir, runCli } from '../../helpers/fixtures';
import { EXPECTED, maskBytes, prunedAsMasked, sha256 } from '../../helpers/prune';

/** The analysed bytes of every tensor of a file, by name. */
async function tensorsOf(file: string): Promise<Map<string, Uint8Array>> {
  const checkpoint = await openCheckpoint(file);
  try {
    const out = new Map<string, Uint8Array>();
    for (const t of checkpoint.tensors) out.set(t.name, await readSpan(t.source, 0, (numelOf(t.shape) * DTYPE_BITS[t.dtype]) / 8));
    return out;
  } finally {
    await checkpoint.release?.();
  }
}

const DIGITS_ONNX = fixture('digits_mlp.onnx');
const DIGITS_ST = fixture('digits_mlp.safetensors');

describe('prune CLI (dist/cli.js)', function () {
  this.timeout(60_000);
  let temp: ReturnType<typeof makeTempDir>;
  let dense: Map<string, Uint8Array>;
  before(async () => {
    assert.ok(existsSync(CLI), 'npm run build first');
    dense = await tensorsOf(DIGITS_ONNX);
  });
  beforeEach(() => (temp = makeTempDir()));
  afterEach(() => {
    // No run leaves a staging folder behind, whatever its outcome.
    const stale = readdirSync(temp.dir).filter((n) => n.startsWith('.sparsity-lens-'));
    temp.remove();
    assert.deepEqual(stale, [], 'no staging folder is left in the output folder');
  });

  /** Runs `prune` and returns its outcome, with the temp folder's listing after it. */
  const prune = (...args: string[]) => {
    const r = runCli(['prune', ...args]);
    return { ...r, listing: readdirSync(temp.dir).sort() };
  };
  const usageError = (r: ReturnType<typeof prune>, message: RegExp) => {
    assert.equal(r.code, 2, `exit code 2: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^error: /);
    assert.match(r.stderr, message);
  };

  it('exit 2 for a usage mistake, writing nothing: no -o, an existing output, the input itself, another extension', () => {
    const input = path.join(temp.dir, 'model.onnx');
    copyFileSync(DIGITS_ONNX, input);
    const digest = sha256(input);
    usageError(prune(input), /needs an output file: -o OUT/);
    const existing = path.join(temp.dir, 'existing.onnx');
    writeFileSync(existing, 'keep me');
    usageError(prune(input, '-o', existing), /exists; pass --force/);
    assert.equal(readFileSync(existing, 'utf8'), 'keep me');
    usageError(prune(input, '-o', input), /is a file of the input/);
    usageError(prune(input, '-o', input, '--force'), /is a file of the input/);
    const r = prune(input, '-o', path.join(temp.dir, 'out.safetensors'));
    usageError(r, /must end in \.onnx/);
    assert.deepEqual(r.listing, ['existing.onnx', 'model.onnx']);
    assert.equal(sha256(input), digest);
  });

  it('exit 2 for options that do not fit: --transposable with 1:4, --fan-in without a sparsity', () => {
    const output = path.join(temp.dir, 'out.onnx');
    usageError(prune(DIGITS_ONNX, '-o', output, '--nm', '1:4', '--transposable'), /--transposable takes the pattern 2:4/);
    usageError(prune(DIGITS_ONNX, '-o', output, '--fan-in'), /--sparsity S or --density D/);
    assert.deepEqual(readdirSync(temp.dir), []);
  });

  it('exit 2 for inputs that cannot be pruned: a TF.js model, int8 and quantized weights', () => {
    usageError(
      prune(fixture('tfjs', 'layers', 'model.json'), '-o', path.join(temp.dir, 'model.json')),
      /tfjs checkpoints are not writable yet/,
    );
    usageError(prune(fixture('numpy', 'w_i8.weight.npy'), '-o', path.join(temp.dir, 'w.npy')), /w_i8\.weight \(int8\): only float32/);
    usageError(prune(fixture('onnx_quant', 'dq_matmul_int8.onnx'), '-o', path.join(temp.dir, 'q.onnx')), /integer and quantized weights/);
    assert.deepEqual(readdirSync(temp.dir), []);
  });

  it('--json: written, layers {name, rule, nnzBefore, nnzAfter}, skipped {name, reason}; transposable skips fc3 for its 10 outputs', async () => {
    const output = path.join(temp.dir, 'out.safetensors');
    const r = prune(DIGITS_ST, '-o', output, '--transposable', '--json');
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout);
    assert.deepEqual(json.written, [output]);
    const masks = EXPECTED.digits_mlp.masks;
    // The dense model has no zero weight: before = numel, after = numpy's kept count.
    assert.deepEqual(
      json.layers.map((l: Record<string, unknown>) => [l.name, l.rule, l.nnzBefore, l.nnzAfter]),
      [
        ['fc1.weight', '2:4 transposable', 256 * 64, masks['fc1.weight']['transposable:2:4'].ones],
        ['fc2.weight', '2:4 transposable', 128 * 256, masks['fc2.weight']['transposable:2:4'].ones],
      ],
    );
    assert.equal(json.skipped.length, 1);
    assert.equal(json.skipped[0].name, 'fc3.weight');
    assert.match(json.skipped[0].reason, /\b10 output channels\b/);
    assert.deepEqual(r.listing, ['out.safetensors']);
  });

  it("--include 'fc2*' prunes fc2 alone, to numpy's 2:4 mask", async () => {
    const output = path.join(temp.dir, 'out.onnx');
    const r = prune(DIGITS_ONNX, '-o', output, '--include', 'fc2*', '--json');
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout);
    assert.deepEqual(
      json.layers.map((l: { name: string }) => l.name),
      ['fc2.weight'],
    );
    const after = await tensorsOf(output);
    for (const [name, bytes] of dense) {
      if (name === 'fc2.weight') {
        const problem = prunedAsMasked(bytes, after.get(name)!, 'float32', maskBytes(EXPECTED.digits_mlp.masks[name]['nm:2:4']));
        assert.equal(problem, undefined, problem);
      } else assert.ok(Buffer.from(after.get(name)!).equals(Buffer.from(bytes)), `${name} is unchanged`);
    }
  });

  it("--exclude 'fc1*' leaves fc1 byte-identical; the table's first line names input, output, size and rule", async () => {
    const output = path.join(temp.dir, 'out.onnx');
    const r = prune(DIGITS_ONNX, '-o', output, '--exclude', 'fc1*');
    assert.equal(r.code, 0, r.stderr);
    const size = `${(statSync(output).size / 1024).toFixed(1)} KiB`;
    assert.equal(
      r.stdout.split('\n')[0],
      `Pruned digits_mlp.onnx → out.onnx (${size}): 2:4, NVIDIA ASP m4n2_1d rule (the 2 largest |w| of every 4 inputs)`,
    );
    assert.match(r.stdout, /^ {2}fc2\.weight +\[128, 256\] +2:4 +32,768 → 16,384 +50\.0 %$/m);
    assert.doesNotMatch(r.stdout, /fc1\.weight/);
    const after = await tensorsOf(output);
    assert.ok(Buffer.from(after.get('fc1.weight')!).equals(Buffer.from(dense.get('fc1.weight')!)));
    assert.ok(!Buffer.from(after.get('fc2.weight')!).equals(Buffer.from(dense.get('fc2.weight')!)));
  });

  it("--fan-in --sparsity 0.9 --dense 'fc3*': fc3 untouched and listed as kept dense, the others at the plan's k", async () => {
    const output = path.join(temp.dir, 'out.onnx');
    const r = prune(DIGITS_ONNX, '-o', output, '--fan-in', '--sparsity', '0.9', '--dense', 'fc3*', '--json');
    assert.equal(r.code, 0, r.stderr);
    const json = JSON.parse(r.stdout);
    // ERK with fc3 forced dense, by hand: budget = Σ (numel − int(0.9 · numel)) over fc1, fc2 minus
    // int(0.9 · 1280) for dense fc3 = 1639 + 3277 − 1152 = 3764; Σ raw · numel = (64 + 256) +
    // (256 + 128) = 704; ε = 5.3466; density fc1 = 5.3466 · 320 / 16384 = 0.10443, fc2 = 0.06266;
    // k = int(numel · density) // out = 1710 // 256 = 6 and 2053 // 128 = 16.
    assert.deepEqual(
      json.layers.map((l: Record<string, unknown>) => [l.name, l.rule, l.nnzAfter]),
      [
        ['fc1.weight', 'constant fan-in k=6', 256 * 6],
        ['fc2.weight', 'constant fan-in k=16', 128 * 16],
      ],
    );
    assert.equal(json.skipped.length, 1);
    assert.equal(json.skipped[0].name, 'fc3.weight');
    assert.match(json.skipped[0].reason, /keeps it dense/);
    const after = await tensorsOf(output);
    for (const name of ['fc3.weight', 'fc3.bias', 'fc1.bias', 'fc2.bias'])
      assert.ok(Buffer.from(after.get(name)!).equals(Buffer.from(dense.get(name)!)), `${name} is unchanged`);
  });

  it('tied weights (one storage under two names) are refused: pruning one would change the other', () => {
    const output = path.join(temp.dir, 'out.pt');
    const r = prune(fixture('prune', 'tied.pt'), '-o', output);
    usageError(r, /"head\.weight" shares stored bytes with "embed\.weight".*leave it out with --exclude/);
    assert.deepEqual(r.listing, []);
  });
});
