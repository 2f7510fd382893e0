/**
 * Plain aligned columns for terminal reports: the first row is the header, numbers are
 * right-aligned, two spaces between columns.
 */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  const numeric = /^[-+]?[\d.,]+(e[-+]?\d+)?%?$|^[-+]?∞$/;
  return rows
    .map((row, r) =>
      row
        .map((cell, i) => {
          const w = widths[i] ?? cell.length;
          return r > 0 && numeric.test(cell) ? cell.padStart(w) : cell.padEnd(w);
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A metric value for a table: 4 significant digits, no exponent for everyday magnitudes. */
export function formatMetric(value: number | undefined): string {
  if (value === undefined) return '-';
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e6)) return value.toExponential(3);
  return Number(value.toPrecision(4)).toString();
}
