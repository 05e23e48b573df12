/** The active columns of each row of a [rows, cols] row-major mask. */
export function rowsOf(mask: ArrayLike<number>, cols: number): number[][] {
  const rows: number[][] = [];
  for (let r = 0; r < mask.length / cols; r++) {
    const active: number[] = [];
    for (let c = 0; c < cols; c++) if (mask[r * cols + c]) active.push(c);
    rows.push(active);
  }
  return rows;
}
