import type { DuckDBConnection } from '@duckdb/node-api';
import type { ColumnDef, TableRecord } from './catalog.ts';
import { quoteIdent } from './sql.ts';
import { toJsonValue, type JsonValue } from './values.ts';

export interface ColumnProfile {
  name: string;
  type: string;
  null_count: number;
  distinct_count: number;
  min: JsonValue;
  max: JsonValue;
  avg: JsonValue;
  std: JsonValue;
  q25: JsonValue;
  q50: JsonValue;
  q75: JsonValue;
}

/** Up to this many rows `distinct_count` is exact; above it, HyperLogLog (§12: within 5%). */
export const EXACT_DISTINCT_ROWS = 100_000;

const NUMERIC = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL\(\d+,\d+\))$/;
/** Types approx_quantile takes as they are (DECIMAL goes through DOUBLE: approx_quantile drops its scale). */
const QUANTILE = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|DATE|TIME|TIMESTAMP|TIMESTAMP_S|TIMESTAMP_MS|TIMESTAMP_NS|TIMESTAMP WITH TIME ZONE)$/;

function quartile(column: ColumnDef, q: string): string {
  const name = quoteIdent(column.name);
  if (column.type.startsWith('DECIMAL(')) return `CAST(approx_quantile(${name}::DOUBLE, ${q}) AS ${column.type})`;
  if (QUANTILE.test(column.type)) return `approx_quantile(${name}, ${q})`;
  return 'NULL';
}

/**
 * The §12 profile of an attached table in one statement (one scan, like SUMMARIZE, whose
 * results are text; here every min, max and quartile keeps the column's type and goes
 * through the §7 value mapping). Quartiles are approximate and, as in SUMMARIZE, given for
 * numeric and temporal columns only; avg and std for numeric columns only.
 */
export async function profileTable(c: DuckDBConnection, alias: string, table: TableRecord): Promise<{ rowCount: number; columns: ColumnProfile[] }> {
  const data = `${quoteIdent(alias)}.main.data`;
  const exact = table.rowCount <= EXACT_DISTINCT_ROWS;
  const parts = ['count(*)'];
  for (const column of table.columns) {
    const name = quoteIdent(column.name);
    const numeric = NUMERIC.test(column.type);
    parts.push(
      `count(${name})`,
      exact ? `count(DISTINCT ${name})` : `approx_count_distinct(${name})`,
      `min(${name})`,
      `max(${name})`,
      numeric ? `avg(${name})::DOUBLE` : 'NULL',
      numeric ? `stddev_samp(${name})::DOUBLE` : 'NULL',
      quartile(column, '0.25'),
      quartile(column, '0.5'),
      quartile(column, '0.75'),
    );
  }
  const reader = await c.runAndReadAll(`SELECT ${parts.join(', ')} FROM ${data}`);
  const row = reader.getRows()[0]!;
  const types = reader.columnTypes();
  const rowCount = Number(row[0]);
  const value = (i: number) => toJsonValue(row[i]!, types[i]);
  const columns = table.columns.map((column, index): ColumnProfile => {
    const at = 1 + index * 9;
    return {
      name: column.name,
      type: column.type,
      null_count: rowCount - Number(row[at]),
      distinct_count: Number(row[at + 1]),
      min: value(at + 2),
      max: value(at + 3),
      avg: value(at + 4),
      std: value(at + 5),
      q25: value(at + 6),
      q50: value(at + 7),
      q75: value(at + 8),
    };
  });
  return { rowCount, columns };
}
