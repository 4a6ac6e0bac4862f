import { StatementType, type DuckDBConnection } from '@duckdb/node-api';

/**
 * The statement check of the SQL sandboxes. It works on DuckDB's own parse of the text,
 * never on keywords: `extractStatements` says how many statements there are, the prepared
 * statement says which kind each is, and `json_serialize_sql` gives the tree of a
 * SELECT-like statement, in which every table reference and function call is checked
 * against an allow-list. A refusal is a `GateError` (the caller answers 400 `invalid_query`).
 */
export class GateError extends Error {}

/** Bucket names SQL itself reserves as schema or catalog names; never shown as schemas. */
export const RESERVED_SCHEMAS = new Set(['main', 'temp', 'system', 'information_schema', 'pg_catalog']);

export function isReservedSchema(name: string): boolean {
  return RESERVED_SCHEMAS.has(name.toLowerCase());
}

/** Table functions a query may call: they compute rows, they read nothing. */
const TABLE_FUNCTIONS = new Set(['range', 'generate_series', 'unnest', 'json_each', 'json_tree']);

/**
 * Scalar and aggregate functions refused by name or prefix: settings, the catalog and its
 * files (`duckdb_*`, `pragma_*`), SQL given as a string (`query`), file readers of any
 * kind. Everything else DuckDB offers is a computation on values.
 */
const DENIED_FUNCTIONS = new Set([
  'current_setting', 'getenv', 'query', 'query_table', 'glob', 'sniff_csv', 'which_secret',
  'json_execute_serialized_sql', 'json_serialize_plan', 'checkpoint', 'force_checkpoint', 'enable_logging',
  'disable_logging', 'truncate_duckdb_logs', 'current_database', 'current_catalog', 'current_schemas',
]);
const DENIED_PREFIXES = ['duckdb_', 'pragma_', 'read_', 'parquet_', 'sqlite_', 'postgres_', 'mysql_', 'iceberg_', 'delta_', 'icu_', 'load_', 'install_', 'test_'];

function deniedFunction(name: string): boolean {
  const lower = name.toLowerCase();
  return DENIED_FUNCTIONS.has(lower) || DENIED_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

/** Kinds of FROM items the check knows; any other kind is refused. */
const TABLE_REF_TYPES = new Set(['BASE_TABLE', 'JOIN', 'SUBQUERY', 'TABLE_FUNCTION', 'EXPRESSION_LIST', 'EMPTY', 'PIVOT', 'SHOW_REF']);

/** What a statement may name. */
export interface GateScope {
  /** Whether `schema.table` is a table the caller may read (schema: a bucket name). */
  isStorageTable(schema: string, table: string): boolean;
  /**
   * Whether an unqualified name (or one in schema `main`) is a table of the workspace.
   * Absent for read-only queries, which have no tables of their own.
   */
  isLocalTable?(table: string): boolean;
  /** Names of the system's own views and tables (lowercase): a CTE may not take one. */
  systemNames: ReadonlySet<string>;
}

/** A storage table a statement names. */
export interface TableRef {
  schema: string;
  table: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function str(value: Json | undefined): string {
  return typeof value === 'string' ? value : '';
}

/** Walks the serialized tree; CTE names are in scope in the node that defines them and below it. */
function walk(node: Json, ctes: readonly string[], scope: GateScope, refs: TableRef[]): void {
  if (Array.isArray(node)) {
    for (const item of node) walk(item, ctes, scope, refs);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  let inScope = ctes;
  const cteMap = node.cte_map as { map?: { key?: string }[] } | undefined;
  if (cteMap && Array.isArray(cteMap.map) && cteMap.map.length) {
    const names = cteMap.map.map((entry) => str(entry.key as Json).toLowerCase());
    for (const name of names) {
      if (scope.systemNames.has(name)) throw new GateError(`A common table expression may not be named ${name}: that is the name of a system view`);
    }
    inScope = [...ctes, ...names];
  }
  const type = str(node.type);
  // FROM items carry a `sample` field (query nodes too, with their `modifiers`); expressions a `class`.
  if ('sample' in node && !('modifiers' in node) && type && !TABLE_REF_TYPES.has(type)) throw new GateError(`This kind of FROM item is not allowed: ${type}`);
  if (type === 'BASE_TABLE') checkTable(node, inScope, scope, refs);
  if (type === 'SHOW_REF' && (node.query === null || node.query === undefined)) throw new GateError('Only DESCRIBE or SUMMARIZE of a table or query are allowed');
  if (type === 'TABLE_FUNCTION') {
    const fn = (node.function ?? {}) as Record<string, Json>;
    const name = str(fn.function_name).toLowerCase();
    if (str(fn.catalog) || (str(fn.schema) && str(fn.schema) !== 'main') || !TABLE_FUNCTIONS.has(name)) {
      throw new GateError(`Table function ${name || '(unnamed)'} is not allowed; queries read only the project's tables`);
    }
    walk(fn.children ?? [], inScope, scope, refs);
    for (const [key, value] of Object.entries(node)) if (key !== 'function') walk(value, inScope, scope, refs);
    return;
  }
  if ((node.class === 'FUNCTION' || node.class === 'WINDOW' || node.class === 'AGGREGATE') && typeof node.function_name === 'string') {
    const name = node.function_name;
    const schema = str(node.schema);
    if (str(node.catalog) || (schema && schema !== 'main') || deniedFunction(name)) throw new GateError(`Function ${name} is not allowed`);
  }
  for (const value of Object.values(node)) walk(value, inScope, scope, refs);
}

function checkTable(node: Record<string, Json>, ctes: readonly string[], scope: GateScope, refs: TableRef[]): void {
  const catalog = str(node.catalog_name);
  const schema = str(node.schema_name);
  const table = str(node.table_name);
  const shown = [catalog, schema, table].filter(Boolean).join('.');
  if (catalog) throw new GateError(`Table ${shown} does not exist; name tables as bucket.table`);
  const lower = table.toLowerCase();
  if (!schema) {
    if (ctes.includes(lower)) return;
    if (!scope.systemNames.has(lower) && scope.isLocalTable?.(table)) return;
    throw new GateError(`Table ${shown} does not exist; name tables as bucket.table`);
  }
  if (schema.toLowerCase() === 'main' && scope.isLocalTable?.(table) && !scope.systemNames.has(lower)) return;
  if (isReservedSchema(schema) || !scope.isStorageTable(schema, table)) throw new GateError(`Table ${shown} does not exist`);
  refs.push({ schema, table });
}

async function serialize(c: DuckDBConnection, sql: string): Promise<{ ok: true; statements: Json[] } | { ok: false; message: string }> {
  const reader = await c.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR)', [sql]);
  const parsed = JSON.parse(String(reader.getRows()[0]![0])) as { error: boolean; error_message?: string; statements?: Json[] };
  if (parsed.error) return { ok: false, message: parsed.error_message ?? 'not a SELECT statement' };
  return { ok: true, statements: parsed.statements ?? [] };
}

/** Leading whitespace and comments, as the tokenizer skips them. */
const SKIP = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/;

/** The statement after `EXPLAIN [ANALYZE|ANALYSE] [VERBOSE]`, or undefined when the text does not start so. */
function explained(sql: string): { inner: string; analyze: boolean } | undefined {
  let rest = sql.replace(SKIP, '');
  const word = (w: RegExp) => {
    const m = w.exec(rest);
    if (!m) return false;
    rest = rest.slice(m[0].length).replace(SKIP, '');
    return true;
  };
  if (!word(/^explain\b/i)) return undefined;
  const analyze = word(/^analy[sz]e\b/i);
  word(/^verbose\b/i);
  return { inner: rest, analyze };
}

export interface CheckedStatement {
  /** The tree of the SELECT-like statement (the one inside EXPLAIN for an EXPLAIN). */
  tree: Json;
  explain: boolean;
  /** Storage tables the statement names. */
  refs: TableRef[];
}

/**
 * Checks that `sql` is exactly one statement that only reads: a SELECT-like statement
 * (SELECT, WITH, VALUES, DESCRIBE, SUMMARIZE, PIVOT … IN) or EXPLAIN [ANALYZE] of one, whose
 * every table reference and function passes the allow-list. `c` is any connection: nothing
 * is bound or run here (the sandbox checks the statement type again when it prepares it).
 */
export async function checkReadStatement(c: DuckDBConnection, sql: string, scope: GateScope): Promise<CheckedStatement> {
  // Anything the parser cannot split into statements is a fault of the statement.
  const extracted = await c.extractStatements(sql).catch((error: Error) => {
    throw new GateError(sql.trim() === '' ? 'The query contains no statement' : error.message.replace(/^Failed to extract statements: /, ''));
  });
  if (extracted.count !== 1) throw new GateError(extracted.count === 0 ? 'The query contains no statement' : `Exactly one statement is allowed; the query contains ${extracted.count}`);
  let explain = false;
  let serialized = await serialize(c, sql);
  if (!serialized.ok) {
    const inner = explained(sql);
    if (!inner) throw new GateError('Only SELECT, WITH, VALUES, DESCRIBE, SUMMARIZE and EXPLAIN of those are allowed');
    const innerExtracted = await c.extractStatements(inner.inner).catch(() => undefined);
    serialized = innerExtracted?.count === 1 ? await serialize(c, inner.inner) : { ok: false, message: '' };
    if (!serialized.ok) throw new GateError('EXPLAIN is allowed only of SELECT, WITH, VALUES, DESCRIBE or SUMMARIZE');
    explain = true;
  }
  if (serialized.statements.length !== 1) throw new GateError('Exactly one statement is allowed');
  const tree = serialized.statements[0]!;
  const refs: TableRef[] = [];
  walk(tree, [], scope, refs);
  return { tree, explain, refs };
}

/** Statement kinds a workspace query may run; the rest (ATTACH, SET, COPY, PRAGMA, CALL, …) are refused. */
export const WORKSPACE_STATEMENTS = new Set<StatementType>([
  StatementType.SELECT,
  StatementType.INSERT,
  StatementType.UPDATE,
  StatementType.DELETE,
  StatementType.EXPLAIN,
  StatementType.CREATE,
  StatementType.CREATE_FUNC,
  StatementType.DROP,
  StatementType.ALTER,
]);

/** The read-only query's statement kinds, as the prepared statement reports them. */
export const READ_STATEMENTS = new Set<StatementType>([StatementType.SELECT, StatementType.EXPLAIN]);

export function statementTypeName(type: StatementType): string {
  return (StatementType as unknown as Record<number, string>)[type] ?? String(type);
}

/**
 * Splits a multi-statement text at its top-level semicolons, skipping strings, quoted
 * identifiers, dollar-quoted strings and comments. The caller checks that each piece is
 * exactly one statement by DuckDB's own parser and that the count matches, so a split this
 * function gets wrong is refused rather than run.
 */
export function splitStatements(sql: string): string[] {
  const pieces: string[] = [];
  let start = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const ch = sql[i]!;
    const next = sql[i + 1];
    if (ch === "'" || ch === '"') {
      const backslash = ch === "'" && i > 0 && /[eE]/.test(sql[i - 1]!) && !/[A-Za-z0-9_]/.test(sql[i - 2] ?? '');
      i++;
      while (i < n) {
        if (backslash && sql[i] === '\\') i += 2;
        else if (sql[i] === ch) {
          if (sql[i + 1] === ch) i += 2;
          else break;
        } else i++;
      }
      i++;
    } else if (ch === '-' && next === '-') {
      while (i < n && sql[i] !== '\n') i++;
    } else if (ch === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth) {
        if (sql[i] === '/' && sql[i + 1] === '*') (depth++, (i += 2));
        else if (sql[i] === '*' && sql[i + 1] === '/') (depth--, (i += 2));
        else i++;
      }
    } else if (ch === '$' && !/[A-Za-z0-9_]/.test(sql[i - 1] ?? '')) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        i = end < 0 ? n : end + tag[0].length;
      } else i++;
    } else if (ch === ';') {
      pieces.push(sql.slice(start, i));
      start = ++i;
    } else i++;
  }
  pieces.push(sql.slice(start));
  return pieces.filter((piece) => piece.replace(SKIP, '').trim() !== '');
}
