/**
 * Rows of cells as aligned lines, the first row a header with a rule of dashes under it: columns
 * two spaces apart, those `numeric` says so right-aligned, trailing spaces trimmed.
 */
export function alignedTable(rows: readonly (readonly string[])[], numeric: (column: number) => boolean = () => false): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  const lines = rows.map((row) =>
    row
      .map((cell, i) => (numeric(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
      .join('  ')
      .trimEnd(),
  );
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return lines;
}
