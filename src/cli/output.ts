import Table from 'cli-table3';

/** A value as one table cell: NULL as `NULL`, lists and objects as JSON. */
export function cell(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Rows as an aligned table with a header; `columns` picks and orders the fields. */
export function renderTable(columns: string[], rows: readonly object[], headings: string[] = columns): string {
  const table = new Table({
    head: headings,
    style: { head: [], border: [], compact: true },
    wordWrap: false,
  });
  for (const row of rows) table.push(columns.map((column) => cell((row as Record<string, unknown>)[column])));
  return table.toString();
}

/** One object as `key  value` lines, aligned. */
export function renderObject(object: object, fields: string[] = Object.keys(object)): string {
  const width = Math.max(...fields.map((field) => field.length));
  return fields.map((field) => `${field.padEnd(width)}  ${cell((object as Record<string, unknown>)[field])}`).join('\n');
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${UNITS[unit]}`;
}
