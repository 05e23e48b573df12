/**
 * Training benchmark, run by kernels.bench.ts (`npm run bench`, `--quick` for fewer steps,
 * `--only=train` for this section alone). Every time is the median of many calls after untimed
 * warm-up calls, each call timed on its own; ours and the baselines run in the same bench run:
 *  - one training step (forward, cross-entropy on labels, backward, SGD lr 0.01 momentum 0.9) at
 *    batch 128 of the shared digits MLP 64-256-128-10 (its ONNX file made a program by
 *    buildTrainingProgram) and of a 784-3072-768-10 MLP (a program built here: Gemm transB=1 +
 *    Relu, nn.Linear's initialisation), each dense and at 90 % constant fan-in: every hidden
 *    weight masked with k = ⌊0.1 · in⌋ random inputs per row (seeded), the last layer (→ 10
 *    classes) dense. Ours: the addon's TrainingSession with 2 threads, called in this process;
 *  - the same steps in PyTorch (bench/baselines/train_torch.py under Debian's /usr/bin/python3,
 *    timed in its own process, reported as JSON): dense nn.Linear MLPs, and for reference the
 *    90 % mask the way users apply it (weight * mask in forward: a dense product over zeros). Each
 *    step is timed in two environments (default, OMP_WAIT_POLICY=PASSIVE: see TORCH_ENVS) and the
 *    faster taken;
 *  - one step of the full-width ResNet-18 (/tmp/resnet18_full.onnx, 3×32×32, 10 classes, BN fused
 *    into the convs) at batch 16, lr 0.001, against the same fused network in PyTorch;
 *  - the condensed forward of a 3072→768 layer at 90 % (k = 307) at batch 1, 1 and 2 threads,
 *    against onnxruntime-node's dense product of the same weight (Gemm transB=1 or MatMul + Add,
 *    whichever is faster) and PyTorch's dense F.linear (as nn.Linear runs it) and torch.addmv (the
 *    fastest PyTorch call of that product here) at the same thread counts.
 * Goals (printed with the rows): dense step >= 1x PyTorch dense; 90 %-sparse step >= 3x PyTorch
 * dense; condensed batch-1 forward >= 3.4x dense (SRigL's figure).
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { loadavg } from 'node:os';
import * as path from 'node:path';
import { openCheckpoint } from '../src/core/formats/registry';
import { readOnnxGraph } from '../src/core/formats/onnx/graph';
import { withFile } from '../src/core/randomAccessFile';
import { buildTrainingProgram } from '../src/core/train/trainingProgram';
import { runSteps } from '../src/kernels/jobs/job';
import type { TrainSpec } from '../src/kernels/jobs/jobTypes';
import { openTrainJob } from '../src/kernels/jobs/trainJob';
import { nativePaths } from '../src/kernels/createKernels';
import type { NativeAddon } from '../src/kernels/native/nativeAddon';
import type {
  NativeTrainingAddon,
  NativeTrainingSession,
  OptimizerSettings,
  ProgramNode,
  ProgramParam,
  TrainingProgram,
} from '../src/kernels/native/bindings/training';
import { lenField, ONNX_DTYPE, onnxInlineTensor, onnxNode, varintField } from '../test/helpers/protobuf';
import { seededRandom } from '../test/helpers/random';

const PYTHON = '/usr/bin/python3';
const THREADS = 2;
const BATCH = 128;
const DENSITY = 0.1;
const LR = 0.01;
/** Without BatchNormalization (fused) the ResNet diverges on a repeated batch at 0.01 (in PyTorch alike): inf / NaN would time other paths. */
const RESNET_LR = 0.001;
const RESNET_ONNX = '/tmp/resnet18_full.onnx';
const RESNET_BATCH = 16;
const SGD: OptimizerSettings = { kind: 'sgd', momentum: 0.9, nesterov: false, weightDecay: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
const GOAL_DENSE = '(goal: >= 1x)';
const GOAL_SPARSE = '(goal: >= 3x)';
const GOAL_CONDENSED = '(goal: >= 3.4x)';

export interface TrainBenchOptions {
  readonly root: string;
  readonly quick: boolean;
  /** Adds a row to the summary table (times in ms; the ratio is baseline / ours). */
  readonly addRow: (what: string, ms: number, baselineName: string, baselineMs: number, goal?: string) => void;
}

interface Timing {
  readonly median_ms: number;
  readonly min_ms: number;
  readonly steps: number;
}

/** A case of train_torch.py (see its docstring). */
interface TorchCase {
  readonly name: string;
  readonly kind: 'mlp_step' | 'linear_forward' | 'resnet18_step';
  readonly threads: number;
  readonly steps: number;
  readonly warmup: number;
  readonly [key: string]: unknown;
}

/** Times `fn` call by call: the median (and min) over `steps` calls after `warmup` untimed ones. */
async function timed(steps: number, warmup: number, fn: () => unknown): Promise<Timing> {
  // A synchronous call is not awaited: a microtask per call would weigh on the ~10 µs forwards.
  const call = async () => {
    const r = fn();
    if (r instanceof Promise) await r;
  };
  for (let i = 0; i < warmup; i++) await call();
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = process.hrtime.bigint();
    const r = fn();
    if (r instanceof Promise) await r;
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  const median = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
  return { median_ms: median, min_ms: times[0], steps };
}

const fmt = (t: Timing) =>
  `${t.median_ms.toFixed(t.median_ms < 1 ? 4 : 2)} ms (min ${t.min_ms.toFixed(t.min_ms < 1 ? 4 : 2)}, ${t.steps} calls)`;

/** Whether Debian's python3 imports every module. */
function pythonHas(...modules: string[]): boolean {
  return existsSync(PYTHON) && spawnSync(PYTHON, ['-c', modules.map((m) => `import ${m}`).join('; ')], { stdio: 'ignore' }).status === 0;
}

/**
 * The environments PyTorch's steps are timed in; a row takes the faster. Debian's torch runs its
 * own ops on OpenMP threads that spin while they wait (GOMP's default) and its matrix products on
 * OpenBLAS's own pthreads: 4 busy threads on 2 cores. OMP_WAIT_POLICY=PASSIVE makes the OpenMP
 * threads sleep: the 784-3072-768-10 step is much faster so, the digits MLP and the ResNet-18
 * (oneDNN convolutions on OpenMP) slower.
 */
const TORCH_ENVS: readonly { readonly name: string; readonly env: Record<string, string> }[] = [
  { name: 'default env', env: {} },
  { name: 'OMP_WAIT_POLICY=PASSIVE', env: { OMP_WAIT_POLICY: 'PASSIVE' } },
];

/** A PyTorch case's timing in the faster environment, with every environment's for the console. */
interface TorchTiming {
  readonly best: Timing;
  readonly env: string;
  readonly all: string;
}

/** Runs train_torch.py on `cases` with `env` added to this process's environment: its timings by case name. */
function runTorch(
  root: string,
  cases: readonly TorchCase[],
  env: Record<string, string>,
): { version: string; blas: string | null; results: Record<string, Timing> } {
  const script = path.join(root, 'bench', 'baselines', 'train_torch.py');
  const r = spawnSync(PYTHON, ['-B', script, JSON.stringify({ cases })], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
    env: { ...process.env, ...env },
  });
  if (r.status !== 0) throw new Error(`train_torch.py failed (${r.status ?? r.signal}): ${r.stderr || r.error?.message}`);
  const parsed = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as {
    torch: string;
    blas: string | null;
    results: Record<string, Timing>;
  };
  return { version: parsed.torch, blas: parsed.blas, results: parsed.results };
}

/** 1 at k random inputs of every row of an [out, in] weight (partial Fisher–Yates per row). */
function fanInMask(outF: number, inF: number, k: number, rnd: () => number): Uint8Array {
  const mask = new Uint8Array(outF * inF);
  const cols = new Int32Array(inF);
  for (let o = 0; o < outF; o++) {
    for (let i = 0; i < inF; i++) cols[i] = i;
    for (let j = 0; j < k; j++) {
      const pick = j + Math.floor(rnd() * (inF - j));
      [cols[j], cols[pick]] = [cols[pick], cols[j]];
      mask[o * inF + cols[j]] = 1;
    }
  }
  return mask;
}

/**
 * The program of an MLP with layer sizes `sizes`: Gemm (transB=1, weight [out, in]) + Relu, no
 * Relu after the last layer; weights and biases uniform in ±1/√in (nn.Linear's default); layers
 * listed in `masked` get a constant fan-in mask at DENSITY (inactive weights 0).
 */
function mlpProgram(sizes: readonly number[], masked: ReadonlySet<number>, seed: number): TrainingProgram {
  const rnd = seededRandom(seed);
  const nodes: ProgramNode[] = [];
  const params: ProgramParam[] = [];
  let valueCount = 1; // 0: the input
  let x = 0;
  for (let l = 0; l + 1 < sizes.length; l++) {
    const [inF, outF] = [sizes[l], sizes[l + 1]];
    const bound = 1 / Math.sqrt(inF);
    const mask = masked.has(l) ? fanInMask(outF, inF, Math.floor(inF * DENSITY), rnd) : undefined;
    const weight = Float32Array.from({ length: outF * inF }, (_, i) => (mask && !mask[i] ? 0 : (rnd() * 2 - 1) * bound));
    const bias = Float32Array.from({ length: outF }, () => (rnd() * 2 - 1) * bound);
    const [w, b, y] = [valueCount++, valueCount++, valueCount++];
    params.push({ value: w, name: `fc${l + 1}.weight`, shape: [outF, inF], data: weight, trainable: true, ...(mask ? { mask } : {}) });
    params.push({ value: b, name: `fc${l + 1}.bias`, shape: [outF], data: bias, trainable: true });
    nodes.push({ op: 'Gemm', name: `fc${l + 1}`, inputs: [x, w, b], outputs: [y], ints: { transB: 1 } });
    x = y;
    if (l + 2 < sizes.length) {
      const r = valueCount++;
      nodes.push({ op: 'Relu', name: `relu${l + 1}`, inputs: [x], outputs: [r] });
      x = r;
    }
  }
  return { valueCount, input: 0, output: x, sampleShape: [sizes[0]], nodes, params };
}

/** An ONNX file made a program; with `sparseHidden`, every 2-D trainable weight but the last masked at DENSITY. */
async function onnxProgram(file: string, sparseHidden: boolean, seed: number): Promise<TrainingProgram> {
  const graph = await withFile(file, readOnnxGraph);
  const checkpoint = await openCheckpoint(file);
  try {
    const plain = await buildTrainingProgram(graph, checkpoint);
    if (!sparseHidden) return plain.program;
    const rnd = seededRandom(seed);
    const weights = plain.trainable.filter((t) => t.shape.length === 2).slice(0, -1);
    const masks = new Map(weights.map((t) => [t.name, fanInMask(t.shape[0], t.shape[1], Math.floor(t.shape[1] * DENSITY), rnd)]));
    return (await buildTrainingProgram(graph, checkpoint, { masks })).program;
  } finally {
    await checkpoint.release?.();
  }
}

/** Times one training step of `program` on a fixed seeded batch; logs how the session trains and the loss. */
async function timeSteps(
  addon: NativeAddon,
  program: TrainingProgram,
  batch: number,
  lr: number,
  steps: number,
  warmup: number,
): Promise<Timing> {
  const rnd = seededRandom(99);
  const sampleSize = program.sampleShape.reduce((a, d) => a * d, 1);
  const x = Float32Array.from({ length: batch * sampleSize }, () => rnd() * 2 - 1);
  const classes = 10;
  const labels = Int32Array.from({ length: batch }, () => Math.floor(rnd() * classes));
  const session: NativeTrainingSession = new addon.TrainingSession(program, SGD, THREADS);
  try {
    const losses: number[] = [];
    const t = await timed(steps, warmup, () => losses.push(session.step(x, batch, { labels }, lr, false)));
    const kinds = Object.entries(session.describe())
      .filter(([, how]) => how !== 'dense')
      .map(([name, how]) => `${name} ${how}`);
    if (!losses.every(Number.isFinite))
      throw new Error(`a step returned a loss that is not finite: ${losses.find((l) => !Number.isFinite(l))}`);
    console.log(
      `    loss (same batch each step) ${losses[0].toFixed(4)} -> ${losses[losses.length - 1].toFixed(4)}; ${kinds.length ? kinds.join(', ') : 'all parameters dense'}`,
    );
    return t;
  } finally {
    session.close();
  }
}

/** A float32 [dims] graph input or output (ValueInfoProto). */
function valueInfo(name: string, dims: readonly number[]): Buffer {
  const shape = Buffer.concat(dims.map((d) => lenField(1, varintField(1, d))));
  const tensorType = Buffer.concat([varintField(1, ONNX_DTYPE.float), lenField(2, shape)]);
  return Buffer.concat([lenField(1, name), lenField(2, lenField(1, tensorType))]);
}

/** One dense layer y = x · Wᵀ + b at batch 1, as Gemm transB=1 (W [out, in]) or MatMul by Wᵀ [in, out] + Add. */
function denseLayerModel(op: 'Gemm' | 'MatMul', weight: Float32Array, bias: Float32Array, outF: number, inF: number): Buffer {
  const bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let nodes: Buffer[];
  let w: Buffer;
  if (op === 'Gemm') {
    nodes = [onnxNode('Gemm', ['x', 'W', 'b'], ['y'], { transB: 1 })];
    w = onnxInlineTensor('W', ONNX_DTYPE.float, [outF, inF], bytes(weight));
  } else {
    const wt = new Float32Array(inF * outF);
    for (let o = 0; o < outF; o++) for (let i = 0; i < inF; i++) wt[i * outF + o] = weight[o * inF + i];
    nodes = [onnxNode('MatMul', ['x', 'W'], ['xw']), onnxNode('Add', ['xw', 'b'], ['y'])];
    w = onnxInlineTensor('W', ONNX_DTYPE.float, [inF, outF], bytes(wt));
  }
  const graph = Buffer.concat([
    ...nodes.map((n) => lenField(1, n)),
    lenField(2, 'dense'),
    lenField(5, w),
    lenField(5, onnxInlineTensor('b', ONNX_DTYPE.float, [outF], bytes(bias))),
    lenField(11, valueInfo('x', [1, inF])),
    lenField(12, valueInfo('y', [1, outF])),
  ]);
  return Buffer.concat([
    varintField(1, 8),
    lenField(2, 'sparsity-lens-bench'),
    lenField(7, graph),
    lenField(8, Buffer.concat([lenField(1, ''), varintField(2, 13)])),
  ]);
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/** The condensed batch-1 forward of a 3072→768 layer at 90 % against onnxruntime's and PyTorch's dense products. */
async function benchCondensedForward(
  root: string,
  addon: NativeAddon,
  calls: number,
  torch: ReadonlyMap<string, TorchTiming>,
  addRow: TrainBenchOptions['addRow'],
): Promise<void> {
  const [inF, outF] = [3072, 768];
  const k = Math.floor(inF * DENSITY);
  const rnd = seededRandom(7);
  const mask = fanInMask(outF, inF, k, rnd);
  const weight = Float32Array.from(mask, (m) => (m ? rnd() * 2 - 1 || 0.5 : 0));
  const bias = Float32Array.from({ length: outF }, () => rnd() * 2 - 1);
  const x = Float32Array.from({ length: inF }, () => rnd() * 2 - 1);
  const layer = addon.condense(weight, outF, inF);
  const ort = createRequire(path.join(root, 'bench', 'package.json'))('onnxruntime-node') as typeof import('onnxruntime-node');
  const feeds = { x: new ort.Tensor('float32', x, [1, inF]) };
  const warmup = Math.max(20, calls >> 3);
  console.log(`\n  condensed forward ${inF}->${outF} at 90 % (k = ${k}), batch 1; median of ${calls} calls`);
  for (const threads of [1, 2]) {
    const ours = await timed(calls, warmup, () => addon.condensedForward(layer, bias, x, 1, threads));
    const yOurs = addon.condensedForward(layer, bias, x, 1, threads);
    let ortBest: { op: string; t: Timing } | undefined;
    for (const op of ['Gemm', 'MatMul'] as const) {
      const session = await ort.InferenceSession.create(denseLayerModel(op, weight, bias, outF, inF), {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        graphOptimizationLevel: 'all',
      });
      try {
        const yOrt = (await session.run(feeds)).y.data as Float32Array;
        if (maxDiff(yOrt, yOurs) > 1e-3) throw new Error(`condensed forward and onnxruntime ${op} disagree (${maxDiff(yOrt, yOurs)})`);
        const t = await timed(calls, warmup, () => session.run(feeds));
        console.log(`    onnxruntime dense ${op}, ${threads} thread${threads > 1 ? 's' : ''}: ${fmt(t)}`);
        if (!ortBest || t.median_ms < ortBest.t.median_ms) ortBest = { op, t };
      } finally {
        await session.release();
      }
    }
    const torchLinear = torch.get(`linear_forward_t${threads}`)?.best;
    const torchAddmv = torch.get(`linear_forward_t${threads}_addmv`)?.best;
    if (torchLinear && torchAddmv)
      console.log(`    torch dense F.linear(x [1, in]): ${fmt(torchLinear)}; torch.addmv(b, W, x [in]): ${fmt(torchAddmv)}`);
    console.log(`    ours condensed, ${threads} thread${threads > 1 ? 's' : ''}: ${fmt(ours)}`);
    const name = `condensed fwd ${inF}->${outF} k=${k} batch 1, ${threads} thread${threads > 1 ? 's' : ''}`;
    addRow(name, ours.median_ms, `onnxruntime dense ${ortBest!.op} (${threads}t)`, ortBest!.t.median_ms, GOAL_CONDENSED);
    if (torchLinear) addRow(name, ours.median_ms, `torch F.linear dense (${threads}t)`, torchLinear.median_ms, GOAL_CONDENSED);
    if (torchAddmv) addRow(name, ours.median_ms, `torch addmv dense (${threads}t)`, torchAddmv.median_ms, GOAL_CONDENSED);
  }
}

/** The ResNet-18 ONNX file, written by the fixture script if missing; undefined (with a note) when it cannot be. */
function resnetFile(root: string, haveTorch: boolean): string | undefined {
  if (existsSync(RESNET_ONNX)) return RESNET_ONNX;
  if (!haveTorch || !pythonHas('onnx')) {
    console.log(`  note: ${RESNET_ONNX} is missing and ${PYTHON} lacks torch or onnx to write it: the ResNet-18 step is skipped`);
    return undefined;
  }
  // The fixture script also rewrites test/fixtures/train/ (deterministic: the same bytes).
  console.log(`  writing ${RESNET_ONNX} with scripts/fixtures/make_train_fixtures.py --resnet18-full ...`);
  const script = path.join(root, 'scripts', 'fixtures', 'make_train_fixtures.py');
  const r = spawnSync(PYTHON, ['-B', script, '--resnet18-full', RESNET_ONNX], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0 || !existsSync(RESNET_ONNX)) {
    console.log(`  note: the fixture script failed (${r.status ?? r.signal}): the ResNet-18 step is skipped\n${r.stderr}`);
    return undefined;
  }
  return RESNET_ONNX;
}

export async function benchTrain({ root, quick, addRow }: TrainBenchOptions): Promise<void> {
  const addon = require(nativePaths(root).addon) as NativeAddon;
  const haveEngine = typeof addon.TrainingSession === 'function';
  const haveTorch = pythonHas('torch');
  const small = { steps: quick ? 50 : 300, warmup: quick ? 10 : 30 };
  const large = { steps: quick ? 8 : 40, warmup: quick ? 2 : 5 };
  const resnet = { steps: quick ? 3 : 15, warmup: quick ? 1 : 3 };
  const forwardCalls = quick ? 500 : 4000;
  console.log(
    `\ntrain: median ms per call after warm-up; ratios are baseline / ours (above 1: ours faster). Ours: ${THREADS} threads, SGD momentum 0.9, lr ${LR}, batch ${BATCH}.`,
  );
  console.log(
    '  goals: dense step >= 1x PyTorch dense; 90 %-sparse step >= 3x PyTorch dense; condensed batch-1 forward >= 3.4x dense (SRigL)',
  );
  console.log('  90 %: constant fan-in k = floor(0.1 * in) per row on every hidden weight; the last layer (-> 10 classes) stays dense');
  const load = loadavg()[0];
  console.log(
    `  load average (1 min) at the start: ${load.toFixed(2)}${load > 1 ? `: other processes share the ${THREADS} cores, figures are noisier` : ''}`,
  );
  if (!haveTorch) console.log(`  note: ${PYTHON} has no torch: the PyTorch rows are skipped`);
  if (!haveEngine)
    console.log('  note: the addon has no TrainingSession (the training engine is not built): the training steps are skipped');

  // The shared data folder, as the tests find it (test/helpers/onnxAccuracy.ts).
  const digitsOnnx = path.join(process.env.SPARSITY_LENS_SHARED_DATA ?? path.join(root, '..', 'shared', 'data'), 'digits_mlp.onnx');
  if (!existsSync(digitsOnnx)) console.log(`  note: ${digitsOnnx} is missing: the digits MLP is skipped`);
  const mlps = [
    ...(existsSync(digitsOnnx) ? [{ label: 'digits MLP 64-256-128-10', sizes: [64, 256, 128, 10], file: digitsOnnx, ...small }] : []),
    { label: 'MLP 784-3072-768-10', sizes: [784, 3072, 768, 10], file: undefined, ...large },
  ];
  const hidden = (sizes: readonly number[]) => Array.from({ length: sizes.length - 2 }, (_, i) => i);
  const key = (label: string, variant: string) => `${label} ${variant}`;
  const resnetPath = haveEngine || haveTorch ? resnetFile(root, haveTorch) : undefined;

  // PyTorch first, in its own processes, so that the two never share the cores.
  const torch = new Map<string, TorchTiming>();
  if (haveTorch) {
    const cases: TorchCase[] = [];
    for (const m of mlps) {
      const common = {
        kind: 'mlp_step' as const,
        sizes: m.sizes,
        batch: BATCH,
        lr: LR,
        threads: THREADS,
        steps: m.steps,
        warmup: m.warmup,
      };
      cases.push({ name: key(m.label, 'dense'), ...common });
      cases.push({ name: key(m.label, 'masked'), ...common, masked_layers: hidden(m.sizes), density: DENSITY });
    }
    for (const threads of [1, 2])
      cases.push({
        name: `linear_forward_t${threads}`,
        kind: 'linear_forward',
        in: 3072,
        out: 768,
        batch: 1,
        density: DENSITY,
        threads,
        steps: forwardCalls,
        warmup: Math.max(20, forwardCalls >> 3),
      });
    if (resnetPath)
      cases.push({
        name: 'resnet18',
        kind: 'resnet18_step',
        width: 64,
        classes: 10,
        batch: RESNET_BATCH,
        lr: RESNET_LR,
        threads: THREADS,
        ...resnet,
      });
    const t0 = Date.now();
    // The batch-1 forwards are OpenBLAS calls on the Python thread: the default environment only.
    const runs = TORCH_ENVS.map((e, i) => ({
      ...e,
      out: runTorch(root, i === 0 ? cases : cases.filter((c) => c.kind !== 'linear_forward'), e.env),
    }));
    for (const name of Object.keys(runs[0].out.results)) {
      const timings = runs.filter((r) => r.out.results[name]).map((r) => ({ env: r.name, t: r.out.results[name] }));
      const best = timings.reduce((a, b) => (b.t.median_ms < a.t.median_ms ? b : a));
      torch.set(name, { best: best.t, env: best.env, all: timings.map((x) => `${x.env} ${fmt(x.t)}`).join('; ') });
    }
    console.log(
      `  PyTorch ${runs[0].out.version} (${PYTHON}; torch.set_num_threads and OpenBLAS's threads as stated; ${runs[0].out.blas ?? 'BLAS not OpenBLAS'}): steps timed in ${TORCH_ENVS.map((e) => e.name).join(' and ')}, the faster taken; ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );
  }

  for (const m of mlps) {
    console.log(
      `\n  ${m.label}, batch ${BATCH}: ${m.file ? path.basename(m.file) : 'random init'}; median of ${m.steps} steps after ${m.warmup}`,
    );
    const torchDense = torch.get(key(m.label, 'dense'));
    const torchMasked = torch.get(key(m.label, 'masked'));
    if (torchDense) console.log(`    torch dense: ${torchDense.all}`);
    if (torchMasked) console.log(`    torch masked dense (weight * mask in forward): ${torchMasked.all}`);
    if (!haveEngine) continue;
    for (const sparse of [false, true]) {
      const program = m.file ? await onnxProgram(m.file, sparse, 5) : mlpProgram(m.sizes, new Set(sparse ? hidden(m.sizes) : []), 5);
      const ours = await timeSteps(addon, program, BATCH, LR, m.steps, m.warmup);
      const what = `train step ${m.label} b${BATCH} ${sparse ? '90% fan-in' : 'dense'}`;
      console.log(`    ours ${sparse ? '90 % fan-in' : 'dense'}: ${fmt(ours)}`);
      if (torchDense)
        addRow(what, ours.median_ms, `torch dense (${torchDense.env})`, torchDense.best.median_ms, sparse ? GOAL_SPARSE : GOAL_DENSE);
      if (sparse && torchMasked) addRow(what, ours.median_ms, `torch masked dense w*mask (${torchMasked.env})`, torchMasked.best.median_ms);
    }
  }

  if (resnetPath && (haveEngine || torch.has('resnet18'))) {
    console.log(
      `\n  ResNet-18 full width (${path.basename(resnetPath)}, BN fused), 3x32x32, batch ${RESNET_BATCH}, lr ${RESNET_LR}; median of ${resnet.steps} steps after ${resnet.warmup}`,
    );
    const torchT = torch.get('resnet18');
    if (torchT) console.log(`    torch (the same fused network, random init): ${torchT.all}`);
    // The engine refuses a graph it cannot train when the session is built: a note, not a failed bench.
    const ours = haveEngine
      ? await timeSteps(addon, await onnxProgram(resnetPath, false, 5), RESNET_BATCH, RESNET_LR, resnet.steps, resnet.warmup).catch(
          (e: Error) => {
            console.log(`    note: ours skipped: ${e.message}`);
            return undefined;
          },
        )
      : undefined;
    if (ours) {
      console.log(`    ours: ${fmt(ours)}`);
      if (torchT)
        addRow(
          `train step ResNet-18 3x32x32 b${RESNET_BATCH} dense`,
          ours.median_ms,
          `torch dense, fused BN (${torchT.env})`,
          torchT.best.median_ms,
          '(no goal)',
        );
    }
  }

  if (haveEngine) await benchSriglRun(addon, quick, torch.get(key('MLP 784-3072-768-10', 'dense')), addRow);
  await benchCondensedForward(root, addon, forwardCalls, torch, addRow);
}

/**
 * A whole training run as `train` runs it (the train job, one step at a time, in this process):
 * the 784-3072-768-10 MLP on seeded random data, dense against SRigL at 90 % (both hidden
 * weights, k = ⌊0.1 · in⌋; ΔT from the default of 35 updates; each update costs a dense weight
 * gradient and the update itself), the same steps. PyTorch: its dense step's median × steps.
 * Goal: the SRigL run at least 2x faster than the dense one.
 */
async function benchSriglRun(
  addon: NativeAddon,
  quick: boolean,
  torchDense: TorchTiming | undefined,
  addRow: TrainBenchOptions['addRow'],
): Promise<void> {
  const sizes = [784, 3072, 768, 10];
  const steps = quick ? 144 : 720;
  const rnd = seededRandom(11);
  const count = 1024;
  const train = {
    x: Float32Array.from({ length: count * sizes[0] }, () => rnd() * 2 - 1),
    count,
    sampleShape: [sizes[0]],
    y: Int32Array.from({ length: count }, () => Math.floor(rnd() * 10)),
  };
  const schedule = { totalSteps: steps, deltaT: Math.max(1, Math.floor((0.75 * steps) / 36)), alpha: 0.3, tEndFraction: 0.75 };
  const run = async (sparse: boolean) => {
    const program = mlpProgram(sizes, new Set(sparse ? [0, 1] : []), 5);
    const layers = program.params
      .filter((p) => p.mask)
      .map((p) => ({ name: p.name, shape: p.shape, layout: { outAxis: 0, inAxis: 1 }, sparsity: 1 - DENSITY, gammaSal: 0.3 }));
    const spec: TrainSpec = {
      program,
      optimizer: SGD,
      schedule: { kind: 'constant', lr: LR, warmup: 0, totalSteps: steps },
      train,
      batch: BATCH,
      steps,
      seed: 0,
      threads: THREADS,
      ...(sparse ? { srigl: { schedule, layers, gradAccumulation: 1, resetOptimizerState: false, liveMasks: false } } : {}),
    };
    const job = openTrainJob(spec, addon as unknown as NativeTrainingAddon);
    try {
      const t0 = performance.now();
      const outcome = await runSteps(job);
      const ms = performance.now() - t0;
      const last = outcome.state.maskUpdates[outcome.state.maskUpdates.length - 1];
      return { ms, updates: outcome.state.maskUpdates.length, last };
    } finally {
      job.close();
    }
  };
  console.log(`\n  whole run, MLP 784-3072-768-10, batch ${BATCH}, ${steps} steps (the train job in this process, no evaluation)`);
  const dense = await run(false);
  const srigl = await run(true);
  console.log(`    ours dense: ${dense.ms.toFixed(0)} ms (${(dense.ms / steps).toFixed(2)} ms/step)`);
  console.log(
    `    ours SRigL 90 %: ${srigl.ms.toFixed(0)} ms (${(srigl.ms / steps).toFixed(2)} ms/step), ${srigl.updates} mask updates every ${schedule.deltaT} steps; last: ${srigl.last?.layers.map((l) => `${l.name} k ${l.k}, ${l.ablated.length} ablated`).join('; ')}`,
  );
  addRow(`train run ${steps} steps MLP 784-3072-768-10 SRigL 90%`, srigl.ms, 'ours dense, same steps', dense.ms, '(goal: >= 2x)');
  if (torchDense)
    addRow(
      `train run ${steps} steps MLP 784-3072-768-10 SRigL 90%`,
      srigl.ms,
      `torch dense step x ${steps} (${torchDense.env})`,
      torchDense.best.median_ms * steps,
    );
}
