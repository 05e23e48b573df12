export { readValues } from '../../core/tensorBytes';

/**
 * Ranks weights for pruning: larger |w| first, NaN above everything, ties broken by the lower
 * storage index, so masks are deterministic.
 */
export function ranksBefore(values: Float64Array, a: number, b: number): number {
  const ma = Math.abs(values[a]);
  const mb = Math.abs(values[b]);
  const nanA = Number.isNaN(ma);
  const nanB = Number.isNaN(mb);
  if (nanA !== nanB) return nanA ? -1 : 1;
  if (!nanA && ma !== mb) return ma > mb ? -1 : 1;
  return a - b;
}
