import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { nativePaths } from '../../../src/kernels/createKernels';
import { createNativeKernels, type NativeKernels } from '../../../src/kernels/native/nativeKernels';
import { JobKilledError, KernelCrashError } from '../../../src/kernels/native/workerProcess';
import { createReferenceKernels } from '../../../src/kernels/reference/referenceKernels';
import { REPO } from '../../helpers/fixtures';

/** 1 + 2 + … + n: the synthetic job's checksum after n steps, worked out apart from it. */
const triangle = (n: number) => (n * (n + 1)) / 2;

const inline = (values: number[]) => ({
  source: { kind: 'inline' as const, bytes: new Uint8Array(new Float32Array(values).buffer) },
  dtype: 'float32' as const,
});

describe('jobs: long work as sessions of short steps', function () {
  this.timeout(60_000);
  const paths = nativePaths(REPO);
  let native: NativeKernels;

  before(function () {
    if (!existsSync(paths.addon) && process.env.SPARSITY_LENS_ALLOW_NO_NATIVE === '1') this.skip();
    native = createNativeKernels(paths.workerScript, paths.addon, 300);
  });
  after(async () => native?.dispose());

  it('reports progress each step and runs to the end', async () => {
    const session = await native.openJob('synthetic', { steps: 20, stepMs: 1 });
    const seen: number[] = [];
    const outcome = await session.run({ onProgress: (p) => seen.push(p.step) });
    assert.equal(outcome.status, 'done');
    assert.equal(outcome.steps, 20);
    assert.deepEqual(
      seen,
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    assert.deepEqual(outcome.state, { stepsDone: 20, checksum: triangle(20) });
    await session.close();
  });

  it('a cancel stops the job at a step boundary and returns its last consistent state; it can run on', async () => {
    const session = await native.openJob('synthetic', { steps: 10_000, stepMs: 5 });
    const abort = new AbortController();
    let progressed = 0;
    const outcome = await session.run({
      signal: abort.signal,
      onProgress: () => {
        if (++progressed === 10) abort.abort();
      },
    });
    assert.equal(outcome.status, 'cancelled');
    const n = outcome.state.stepsDone;
    assert.ok(n >= 10 && n < 10_000, `stopped after ${n} steps`);
    assert.equal(outcome.state.checksum, triangle(n), 'the state is the one after a whole step');
    assert.deepEqual(await session.read(), outcome.state);
    const more = await session.run({ maxSteps: 5 });
    assert.equal(more.status, 'paused');
    assert.deepEqual(more.state, { stepsDone: n + 5, checksum: triangle(n + 5) });
    await session.close();
  });

  it('scans are answered while a job runs: the job has a worker of its own', async () => {
    const session = await native.openJob('synthetic', { steps: 400, stepMs: 5 });
    let progressed = 0;
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    const run = session.run({ onProgress: () => ++progressed === 1 && started() });
    await running;
    const scan = await native.scan({ ...inline([1, 0, -0, 2]), shape: [4] });
    assert.equal(scan.nnz, 2);
    const heatmap = await native.heatmap({
      ...inline([1, 0, 0, 2]),
      shape: [2, 2],
      layout: { outAxis: 0, inAxis: 1 },
      rowStart: 0,
      rowEnd: 2,
      colStart: 0,
      colEnd: 2,
      width: 2,
      height: 2,
    });
    assert.deepEqual(Array.from(heatmap.density), [1, 0, 0, 1]);
    assert.ok(progressed < 400, `the job was still running (${progressed} of 400 steps) when the scan and heatmap were answered`);
    assert.equal((await run).status, 'done');
    await session.close();
  });

  it('a crash in the job kills only the job worker: the scan worker lives on', async () => {
    await native.scan({ ...inline([1]), shape: [1] });
    const scanStarts = native.worker.starts;
    const session = await native.openJob('synthetic', { steps: 10, stepMs: 1, crashAtStep: 3 });
    await assert.rejects(session.run(), (e: unknown) => e instanceof KernelCrashError && /runJob/.test(e.message));
    assert.equal((await native.scan({ ...inline([3, 0]), shape: [2] })).nnz, 1);
    assert.equal(native.worker.starts, scanStarts, 'the scan worker was not restarted');
    const next = await native.openJob('synthetic', { steps: 3, stepMs: 0 });
    assert.equal((await next.run()).state.stepsDone, 3, 'a new job worker starts');
  });

  it('a step that outlasts the grace period after a cancel gets its worker killed', async () => {
    const session = await native.openJob('synthetic', { steps: 3, stepMs: 5000 });
    const abort = new AbortController();
    const started = Date.now();
    setTimeout(() => abort.abort(), 100);
    await assert.rejects(session.run({ signal: abort.signal }), JobKilledError);
    assert.ok(Date.now() - started < 3000, 'killed after the grace period, not after the step');
  });

  it('the reference runs jobs in process with the same outcomes', async () => {
    const kernels = createReferenceKernels();
    const session = await kernels.openJob('synthetic', { steps: 1000, stepMs: 1 });
    const abort = new AbortController();
    const outcome = await session.run({ signal: abort.signal, onProgress: (p) => p.step === 7 && abort.abort() });
    assert.deepEqual(outcome, { status: 'cancelled', steps: 7, state: { stepsDone: 7, checksum: triangle(7) } });
    assert.deepEqual(await session.run({ maxSteps: 2 }), { status: 'paused', steps: 2, state: { stepsDone: 9, checksum: triangle(9) } });
  });
});
