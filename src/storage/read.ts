import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import type { PreparedStatements, ReadResult } from './prepared.ts';
import { integerLiteral, quoteIdent } from './sql.ts';
import { jsonRow, type JsonValue } from './values.ts';

/** Runs a query and maps every row to a JSON object by the §7 value mapping. */
export async function readJsonRows(c: DuckDBConnection, sql: string, params: DuckDBValue[] = []): Promise<Record<string, JsonValue>[]> {
  const reader = await c.runAndReadAll(sql, params);
  const names = reader.columnNames();
  const types = reader.columnTypes();
  return reader.getRows().map((row) => jsonRow(names, types, row));
}

/** Name of the extra column that carries the total row count in `readRowsWithTotal` queries. */
export const TOTAL = '"__total_row_count__"';

/**
 * Runs a query whose last column is a total count (named TOTAL) next to the rows: one
 * statement, so rows and count share a snapshot. The count column is not returned as data.
 */
export async function readRowsWithTotal(c: DuckDBConnection, sql: string, params: DuckDBValue[]): Promise<{ rows: Record<string, JsonValue>[]; total: number }> {
  const reader = await c.runAndReadAll(sql, params);
  return rowsWithTotal({ names: reader.columnNames(), types: reader.columnTypes(), rows: reader.getRows() });
}

function rowsWithTotal(result: ReadResult): { rows: Record<string, JsonValue>[]; total: number } {
  const { names, types } = result;
  const last = names.length - 1;
  let total = 0;
  const rows = result.rows.map((row) => {
    total = Number(row[last]);
    return jsonRow(names, types, row, last);
  });
  return { rows, total };
}

/**
 * Up to `limit` rows and the number of rows the query would return without the limit,
 * both from one snapshot (one transaction), so they agree even while a write commits.
 */
export async function readRowsAndCount(
  c: DuckDBConnection,
  rows: { sql: string; params: DuckDBValue[] },
  count: { sql: string; params: DuckDBValue[] },
  limit: number,
): Promise<{ rows: Record<string, JsonValue>[]; total: number }> {
  await c.run('BEGIN TRANSACTION');
  try {
    const page = await readJsonRows(c, rows.sql, rows.params);
    // Fewer rows than the limit: the page is every matching row, no count needed.
    const total = page.length < limit ? page.length : Number((await c.runAndReadAll(count.sql, count.params)).getRows()[0]![0]);
    await c.run('COMMIT');
    return { rows: page, total };
  } catch (error) {
    await c.run('ROLLBACK').catch(() => {});
    throw error;
  }
}

/**
 * The first `limit` rows of an attached table and its row count, in one statement (one
 * snapshot, so they agree even while an import commits). `limit` is a validated integer
 * written as a numeric literal. The statement is prepared once per connection and warm
 * attachment (`statements`): planning it costs as much as running it.
 */
export async function readPreview(c: DuckDBConnection, alias: string, limit: number, statements: PreparedStatements): Promise<{ rows: Record<string, JsonValue>[]; total: number }> {
  const data = `${quoteIdent(alias)}.main.data`;
  const sql = `SELECT *, (SELECT count(*) FROM ${data}) AS ${TOTAL} FROM ${data} LIMIT ${integerLiteral(limit)}`;
  return rowsWithTotal(await statements.readAll(c, alias, sql));
}
