// Models the harness shows: real reports from the CLI (`dist/cli.js report … --json`) with
// synthetic masks that agree with them, and a synthetic LLM-sized model built here whose report
// is computed from the same synthetic weights the mock host serves.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { analyse, summarizeFanIn } from './synth.mjs';

function numelOf(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

function totals(layers) {
  let numel = 0;
  let nnz = 0;
  for (const l of layers) {
    numel += l.numel;
    nnz += l.nnz;
  }
  return { numel, nnz, sparsity: numel === 0 ? 0 : 1 - nnz / numel };
}

/** A real report from the CLI plus LayerViews whose fan-in and masks follow the report. */
export function cliModel(root, file) {
  const cli = path.join(root, 'dist/cli.js');
  if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run `npm run build` first');
  const report = JSON.parse(execFileSync(process.execPath, [cli, 'report', file, '--json'], { cwd: root, encoding: 'utf8' }));
  const specs = [];
  const views = [];
  report.layers.forEach((l, index) => {
    if (!l.fanIn) {
      views.push({ index });
      return;
    }
    const cols = l.fanIn.dense;
    const rows = Math.round(l.numel / cols);
    const inDim = l.role === 'conv' ? l.shape[1] : cols;
    const density = l.nnz / l.numel;
    const nmClean = l.nm && l.nm.groups > 0 && l.nm.compliant === l.nm.groups && l.fanIn.constant && l.nm.partial === 0;
    const mode = l.sparsity === 0 ? 'dense' : nmClean ? 'nm' : 'random';
    const spec = { name: l.name, rows, cols, inDim, n: report.nm.n, m: report.nm.m, mode, density, seed: 17 + index };
    const { fanIn } = analyse(spec);
    specs.push(spec);
    views.push({ index, rows, cols, inDim, fanIn: Array.from(fanIn) });
  });
  return { report, specs, views };
}

/** An LLM-like checkpoint: one 16384×4096 2:4 layer with dead neurons, an unstructured one, convs. */
export function syntheticModel() {
  const nm = { n: 2, m: 4 };
  const tensors = [
    { name: 'model.embed_tokens.weight', shape: [32000, 1024], dtype: 'bfloat16', role: 'other' },
    { name: 'model.layers.0.input_layernorm.weight', shape: [1024], dtype: 'bfloat16', role: 'other' },
    { name: 'model.layers.0.self_attn.q_proj.weight', shape: [1024, 1024], dtype: 'bfloat16', role: 'linear', mode: 'nm' },
    { name: 'model.layers.0.self_attn.k_proj.weight', shape: [256, 1024], dtype: 'bfloat16', role: 'linear', mode: 'nm' },
    {
      name: 'model.layers.0.mlp.up_proj.weight',
      shape: [16384, 4096],
      dtype: 'bfloat16',
      role: 'linear',
      mode: 'nm',
      deadRows: Array.from({ length: 37 }, (_, i) => 101 + i * 431),
    },
    { name: 'model.layers.0.mlp.down_proj.weight', shape: [2048, 8192], dtype: 'bfloat16', role: 'linear', mode: 'banded', density: 0.45 },
    { name: 'model.layers.0.mlp.down_proj.bias', shape: [2048], dtype: 'float32', role: 'other' },
    { name: 'vision.patch_embed.conv.weight', shape: [64, 32, 3, 3], dtype: 'float16', role: 'conv', mode: 'nm', violationRate: 0.04 },
    { name: 'vision.stem.conv.weight', shape: [48, 6, 3, 3], dtype: 'float16', role: 'conv', mode: 'nm', density: 0.5 },
    { name: 'lm_head.weight', shape: [1000, 1024], dtype: 'bfloat16', role: 'linear', mode: 'dense' },
  ];
  const layers = [];
  const specs = [];
  const views = [];
  tensors.forEach((t, index) => {
    const numel = numelOf(t.shape);
    if (t.role === 'other') {
      const nnz = t.name.includes('embed') ? Math.round(numel * 0.97) : numel;
      layers.push({
        name: t.name,
        shape: t.shape,
        dtype: t.dtype,
        role: t.role,
        numel,
        nnz,
        sparsity: 1 - nnz / numel,
        negativeZeros: 0,
        fanIn: null,
        nm: null,
      });
      views.push({ index });
      return;
    }
    const rows = t.shape[0];
    const cols = numel / rows;
    const inDim = t.shape[1];
    const spec = {
      name: t.name,
      rows,
      cols,
      inDim,
      n: nm.n,
      m: nm.m,
      mode: t.mode,
      density: t.density ?? 0.5,
      seed: 1000 + index,
      deadRows: t.deadRows,
      violationRate: t.violationRate,
    };
    const a = analyse(spec);
    layers.push({
      name: t.name,
      shape: t.shape,
      dtype: t.dtype,
      role: t.role,
      numel,
      nnz: a.nnz,
      sparsity: 1 - a.nnz / numel,
      negativeZeros: 0,
      fanIn: summarizeFanIn(a.fanIn, cols),
      nm: a.nm,
    });
    specs.push(spec);
    views.push({ index, rows, cols, inDim, fanIn: Array.from(a.fanIn) });
  });
  const report = {
    file: '/home/user/models/llama-mini-2of4.safetensors',
    format: 'safetensors',
    nm,
    layers,
    total: totals(layers),
    weights: totals(layers.filter((l) => l.role !== 'other')),
    skipped: [{ name: 'model.rotary_emb.inv_freq', reason: 'dtype C64 is not supported' }],
    metadata: { format: 'pt' },
  };
  return { report, specs, views };
}
