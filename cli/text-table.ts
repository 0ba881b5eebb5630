/** One column of a table: its header and how a row shows in it. */
export interface Column<T> {
  header: string;
  value: (row: T) => string | number | boolean | undefined | null;
  align?: 'left' | 'right';
}

/** Text of a cell: "-" for nothing, yes/no for booleans. */
export function cell(value: string | number | boolean | undefined | null): string {
  if (value === undefined || value === null || value === '') return '-';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return String(value).replace(/\s*\n\s*/g, ' ');
}

/** Rows as an aligned plain-text table (two spaces between columns, upper-case headers, no trailing blanks). */
export function formatTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const grid = [
    columns.map((column) => column.header.toUpperCase()),
    ...rows.map((row) => columns.map((column) => cell(column.value(row)))),
  ];
  const widths = columns.map((_, i) => Math.max(...grid.map((line) => line[i]!.length)));
  return grid
    .map((line) =>
      line
        .map((text, i) => (columns[i]!.align === 'right' ? text.padStart(widths[i]!) : text.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
    .concat('\n');
}

/** A readable key/value block; a list value continues on the following lines, aligned under the first. */
export function formatKeyValue(
  pairs: readonly (readonly [string, string | number | boolean | readonly string[] | undefined | null])[],
): string {
  const width = Math.max(0, ...pairs.map(([key]) => key.length));
  const lines: string[] = [];
  for (const [key, value] of pairs) {
    const values = Array.isArray(value)
      ? value.length > 0
        ? value
        : ['-']
      : [cell(value as string | number | boolean | undefined | null)];
    for (const [i, text] of values.entries()) lines.push(`${(i === 0 ? key : '').padEnd(width)}  ${text}`.trimEnd());
  }
  return `${lines.join('\n')}\n`;
}

/** A 0–1 fraction as a percentage ("37%"). */
export function percent(fraction: number | undefined): string {
  if (fraction === undefined || !Number.isFinite(fraction)) return '-';
  return `${Math.round(fraction * 100)}%`;
}
