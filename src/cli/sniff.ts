// `tables create --from-csv`: the columns and types of a local CSV file, found by DuckDB's
// own CSV sniffer on an in-memory instance (nothing is sent anywhere).
import type { ColumnInput } from '../client/index.ts';
import { UsageError } from './errors.ts';

const COLUMN_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export interface SniffOptions {
  delimiter?: string;
  header?: boolean;
}

export async function sniffCsvColumns(path: string, options: SniffOptions = {}): Promise<ColumnInput[]> {
  // Loaded only here: the native bindings cost time every other command need not pay.
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const connection = await instance.connect();
  try {
    const named: string[] = [];
    const params: Record<string, string | boolean> = { path };
    if (options.delimiter !== undefined) {
      named.push('delim := $delim');
      params.delim = options.delimiter;
    }
    if (options.header !== undefined) {
      named.push('header := $header');
      params.header = options.header;
    }
    const sql = `SELECT Columns FROM sniff_csv(${['$path', ...named].join(', ')})`;
    let rows: Record<string, unknown>[];
    try {
      rows = (await connection.runAndReadAll(sql, params)).getRowObjectsJson() as Record<string, unknown>[];
    } catch (error) {
      throw new UsageError(`Cannot read ${path} as CSV: ${(error as Error).message}`);
    }
    const columns = (rows[0]?.Columns ?? []) as { name: string; type: string }[];
    if (!columns.length) throw new UsageError(`${path}: the sniffer found no columns`);
    const invalid = columns.filter((c) => !COLUMN_NAME.test(c.name)).map((c) => c.name);
    if (invalid.length) {
      throw new UsageError(
        `${path}: these header names are not valid column names (1-64 of A-Z, a-z, 0-9, _, starting with a letter or _): ${invalid.map((n) => JSON.stringify(n)).join(', ')}`,
      );
    }
    return columns.map((c) => ({ name: c.name, type: c.type, nullable: true }));
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
