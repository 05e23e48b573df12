/**
 * The order samples are visited in an epoch: a Fisher–Yates shuffle driven by a seeded
 * SplitMix32, so a seed gives the same batches on every machine and run.
 */
export function epochOrder(count: number, seed: number, epoch: number): Uint32Array {
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  let state = (Math.imul(seed >>> 0, 0x9e3779b9) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0;
  const next = () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor((next() / 0x100000000) * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}
