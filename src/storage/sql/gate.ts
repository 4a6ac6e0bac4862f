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
  /**
   * Whether a table function is a table macro of the workspace (its body was checked when it
   * was made, and is checked again, expanded, in the bound plan). Absent for queries.
   */
  isLocalTableFunction?(name: string): boolean;
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
    const local = !str(fn.catalog) && (!str(fn.schema) || str(fn.schema) === 'main') && !scope.systemNames.has(name) && scope.isLocalTableFunction?.(name) === true;
    if (!local && (str(fn.catalog) || (str(fn.schema) && str(fn.schema) !== 'main') || !TABLE_FUNCTIONS.has(name))) {
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

async function serialize(c: DuckDBConnection, sql: string): Promise<{ ok: true; statements: Json[]; raw: string } | { ok: false; message: string }> {
  const reader = await c.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR)', [sql]);
  const raw = String(reader.getRows()[0]![0]);
  const parsed = JSON.parse(raw) as { error: boolean; error_message?: string; statements?: Json[] };
  if (parsed.error) return { ok: false, message: parsed.error_message ?? 'not a SELECT statement' };
  return { ok: true, statements: parsed.statements ?? [], raw };
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
  /**
   * DuckDB's own JSON of that tree, as it gave it (numbers beyond 2^53, such as literals and
   * "no position", survive only in this text), for `json_deserialize_sql`.
   */
  source: string;
  explain: boolean;
  /** Storage tables the statement names. */
  refs: TableRef[];
}

/** What the parser makes of a read-only statement, before its names are checked against a scope. */
export interface ParsedStatement {
  tree: Json;
  source: string;
  explain: boolean;
}

/**
 * Parses `sql` as exactly one SELECT-like statement (SELECT, WITH, VALUES, DESCRIBE,
 * SUMMARIZE, PIVOT … IN) or EXPLAIN [ANALYZE] of one. `c` is any connection: nothing is
 * bound or run here. The result depends on the text alone, so it may be kept and checked
 * again (`checkParsed`) against whatever scope a later request has.
 */
export async function parseReadStatement(c: DuckDBConnection, sql: string): Promise<ParsedStatement> {
  // Anything the parser cannot split into statements is a fault of the statement.
  const extracted = await c.extractStatements(sql).catch((error: Error) => {
    // DuckDB fails a text of only blanks, semicolons and comments with a bare native error.
    throw new GateError(splitStatements(sql).length === 0 ? 'The query contains no statement' : error.message.replace(/^Failed to extract statements: /, ''));
  });
  if (extracted.count === 0) throw new GateError('The query contains no statement');
  if (extracted.count !== 1) {
    throw new GateError(splitStatements(sql).length === 1 ? `Exactly one statement is allowed; ${expandsTo(extracted.count)}` : `Exactly one statement is allowed; the query contains ${extracted.count}`);
  }
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
  return { tree: serialized.statements[0]!, source: serialized.raw, explain };
}

/** Checks a parsed statement's every table reference and function against the allow-list and `scope` (the tree is only read). */
export function checkParsed(parsed: ParsedStatement, scope: GateScope): CheckedStatement {
  const refs: TableRef[] = [];
  walk(parsed.tree, [], scope, refs);
  return { ...parsed, refs };
}

/**
 * Checks that `sql` is exactly one statement that only reads (`parseReadStatement`), whose
 * every table reference and function passes the allow-list (`checkParsed`). The sandbox
 * checks the statement type again when it prepares it.
 */
export async function checkReadStatement(c: DuckDBConnection, sql: string, scope: GateScope): Promise<CheckedStatement> {
  return checkParsed(await parseReadStatement(c, sql), scope);
}

/** Logical operators of a plan that only read (or compute) rows. */
const READ_OPERATORS = new Set([
  'PROJECTION', 'FILTER', 'AGGREGATE_AND_GROUP_BY', 'WINDOW', 'UNNEST', 'LIMIT', 'ORDER_BY', 'TOP_N', 'DISTINCT', 'SAMPLE', 'PIVOT',
  'GET', 'CHUNK_GET', 'DELIM_GET', 'EXPRESSION_GET', 'DUMMY_SCAN', 'EMPTY_RESULT', 'CTE_REF', 'JOIN', 'DELIM_JOIN', 'COMPARISON_JOIN',
  'ANY_JOIN', 'CROSS_PRODUCT', 'POSITIONAL_JOIN', 'ASOF_JOIN', 'DEPENDENT_JOIN', 'UNION', 'EXCEPT', 'INTERSECT', 'RECURSIVE_CTE', 'MATERIALIZED_CTE',
].map((name) => `LOGICAL_${name}`));

/** Logical operators that change the workspace's own objects (a workspace statement may have these too). */
const WRITE_OPERATORS = new Set([
  'INSERT', 'DELETE', 'UPDATE', 'MERGE_INTO', 'ALTER', 'CREATE_TABLE', 'CREATE_INDEX', 'CREATE_SEQUENCE', 'CREATE_VIEW', 'CREATE_SCHEMA',
  'CREATE_MACRO', 'CREATE_TYPE', 'DROP',
].map((name) => `LOGICAL_${name}`));

/** Table functions a bound plan may scan with: the table scan itself and the row generators a query may call. */
const PLAN_TABLE_FUNCTIONS = new Set(['seq_scan', ...TABLE_FUNCTIONS]);

/** Catalogs a plan may touch, and how. */
export interface PlanScope {
  /** Aliases of attached storage tables (read-only): `_t{i}` → i. */
  storageIndex(catalog: string): number | undefined;
  /** Catalogs of the caller's own objects (a workspace's file and `temp`); empty for read-only queries. */
  localCatalogs: ReadonlySet<string>;
  /** Names checked in pieces of the plan that DuckDB keeps unbound (view and macro bodies, defaults). */
  gate: GateScope;
}

export interface PlanCheck {
  /** Indexes of the storage tables the statement touches (their aliases appear in the plan). */
  storage: Set<number>;
}

function walkPlan(node: Json, scope: PlanScope, storage: Set<number>, allowWrites: boolean): void {
  if (Array.isArray(node)) {
    for (const item of node) walkPlan(item, scope, storage, allowWrites);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const type = str(node.type);
  if (type.startsWith('LOGICAL_')) {
    if (!READ_OPERATORS.has(type) && !(allowWrites && WRITE_OPERATORS.has(type))) throw new GateError(`This statement is not allowed (${type.slice(8).toLowerCase()})`);
    if (type === 'LOGICAL_GET') {
      const name = str(node.name).toLowerCase();
      if (!PLAN_TABLE_FUNCTIONS.has(name)) throw new GateError(`Table function ${name || '(unnamed)'} is not allowed; SQL reads only the project's tables`);
      if (name === 'seq_scan') {
        const data = (node.function_data ?? {}) as Record<string, Json>;
        const catalog = str(data.catalog);
        if (scope.storageIndex(catalog) === undefined && !scope.localCatalogs.has(catalog)) throw new GateError('This table is not readable here; name tables as bucket.table');
      }
    }
    for (const key of ['info', 'table_info'] as const) {
      const info = node[key] as Record<string, Json> | undefined;
      const catalog = info && typeof info === 'object' && !Array.isArray(info) ? str(info.catalog) : '';
      if (type !== 'LOGICAL_GET' && catalog && !scope.localCatalogs.has(catalog)) throw new GateError('Storage tables are read-only here; unload a workspace table to change one');
    }
  }
  const cls = str(node.expression_class);
  if ((cls === 'BOUND_FUNCTION' || cls === 'BOUND_AGGREGATE' || cls === 'BOUND_WINDOW') && typeof node.name === 'string') {
    const catalog = str(node.catalog_name);
    if (deniedFunction(node.name) || (catalog && catalog !== 'system' && !scope.localCatalogs.has(catalog))) throw new GateError(`Function ${node.name} is not allowed`);
  }
  for (const [key, value] of Object.entries(node)) {
    if ((key === 'catalog' || key === 'catalog_name') && typeof value === 'string') {
      const index = scope.storageIndex(value);
      if (index !== undefined) storage.add(index);
    }
    walkPlan(value, scope, storage, allowWrites);
  }
}

/**
 * The second half of the statement check, on the connection the statement will run on:
 * DuckDB binds the statement (`json_serialize_plan`, nothing runs) and every operator, table
 * scan and function of the bound plan is checked — views and macros are expanded there, so
 * what a view or macro calls is checked as if written out — and so is every piece DuckDB
 * keeps unparsed-but-unbound (a view's or macro's body, a column default, an ALTER's
 * expression), by the same rules as a SELECT. The statement of an EXPLAIN is checked in its
 * place. Returns the storage tables the statement touches, so that only their locks are taken.
 */
export async function checkPlan(c: DuckDBConnection, sql: string, scope: PlanScope, allowWrites: boolean): Promise<PlanCheck> {
  const statement = explained(sql)?.inner ?? sql;
  const reader = await c.runAndReadAll('SELECT json_serialize_plan($1::VARCHAR)', [statement]);
  const parsed = JSON.parse(String(reader.getRows()[0]![0])) as { error: boolean; error_message?: string; error_type?: string; plans?: Json[] };
  if (parsed.error) {
    const message = parsed.error_message ?? 'The statement cannot be checked';
    throw new GateError(/not (implemented|support)/i.test(`${parsed.error_type} ${message}`) ? `This statement is not allowed here: ${message}` : message);
  }
  const plans = parsed.plans ?? [];
  if (plans.length !== 1) throw new GateError('Exactly one statement is allowed');
  const storage = new Set<number>();
  walkPlan(plans, scope, storage, allowWrites);
  // Unbound pieces (view and macro bodies, defaults, ALTER expressions): the SELECT rules.
  walk(plans, [], scope.gate, []);
  return { storage };
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
  StatementType.MERGE_INTO,
]);

/** The read-only query's statement kinds, as the prepared statement reports them. */
export const READ_STATEMENTS = new Set<StatementType>([StatementType.SELECT, StatementType.EXPLAIN]);

export function statementTypeName(type: StatementType): string {
  return (StatementType as unknown as Record<number, string>)[type] ?? String(type);
}

/**
 * Why one statement the caller wrote counts as several: DuckDB runs a PIVOT whose values
 * are not listed as two statements (the first finds the values).
 */
export function expandsTo(count: number): string {
  return `DuckDB runs this statement as ${count} statements, as it does a PIVOT whose values are not listed: name them (PIVOT … ON column IN ('a', 'b') …)`;
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
