import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { toJsonValue, type JsonValue } from './values.ts';

/** Runs a query and maps every row to a JSON object by the §7 value mapping. */
export async function readJsonRows(c: DuckDBConnection, sql: string, params: DuckDBValue[] = []): Promise<Record<string, JsonValue>[]> {
  const reader = await c.runAndReadAll(sql, params);
  const names = reader.columnNames();
  const types = reader.columnTypes();
  return reader.getRows().map((row) => {
    const out: Record<string, JsonValue> = {};
    for (let i = 0; i < names.length; i++) out[names[i]!] = toJsonValue(row[i]!, types[i]);
    return out;
  });
}
