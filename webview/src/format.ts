/** Number formatting for the editor: fixed English grouping so figures line up in tables. */

import { formatCount as count } from '../../src/core/checkpoint';

export { count };

/** "1 tensor", "6 tensors": a count with its noun. */
export function plural(n: number, noun: string): string {
  return `${count(n)} ${noun}${n === 1 ? '' : 's'}`;
}

/** 50826 → "50.8 K", 6738415616 → "6.74 B". */
export function compact(n: number): string {
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [size, unit] of units) {
    if (Math.abs(n) >= size) {
      const v = n / size;
      return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${unit}`;
    }
  }
  return String(n);
}

/** 0.49612 → "49.6%"; keeps "100%" and "0%" exact and never rounds a non-zero/non-full value onto them. */
export function percent(fraction: number, digits = 1): string {
  if (!Number.isFinite(fraction)) return '—';
  const p = fraction * 100;
  if (p === 0 || p === 100) return `${p}%`;
  let text = p.toFixed(digits);
  if (Number(text) === 100) text = (100 - 10 ** -digits).toFixed(digits);
  if (Number(text) === 0) text = `<${(10 ** -digits).toFixed(digits)}`;
  return `${text}%`;
}

export function shape(dims: readonly number[]): string {
  return dims.length === 0 ? 'scalar' : dims.join(' × ');
}

/** Fan-in means: integers stay integers, others get one decimal. */
export function mean(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toFixed(1);
}

/** A weight value: short but exact enough to tell small from zero. */
export function weight(v: number): string {
  if (v === 0) return Object.is(v, -0) ? '−0' : '0';
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  const text = a >= 1e-3 && a < 1e4 ? v.toPrecision(4) : v.toExponential(3);
  return text.replace('-', '−');
}

export function range(start: number, endExclusive: number): string {
  return endExclusive - start <= 1 ? String(start) : `${start}–${endExclusive - 1}`;
}

export function basename(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}
