import { emptyTable } from './import.ts';
import { LIST, listValue, VARCHAR, type DuckDBConnection, type DuckDBValue } from '@duckdb/node-api';
import * as v from 'valibot';
import { validationError, type ValidationIssue } from '../http/errors.ts';
import type { ColumnDef, TableRecord } from './catalog.ts';
import { saveRowCount, withTableWrite, type WriteDeps } from './locator.ts';
import { strictConversion } from './convert.ts';
import { quoteIdent } from './sql.ts';
import { normalizeType } from './types.ts';

export const FILTER_OPERATORS = ['eq', 'ne', 'gt', 'ge', 'lt', 'le', 'in', 'not_in', 'is_null', 'not_null'] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];

const COMPARISONS: Partial<Record<FilterOperator, string>> = { eq: '=', ne: '<>', gt: '>', ge: '>=', lt: '<', le: '<=' };
const MAX_VALUES = 10_000;

/** A column as the caller names it; matched to the table's columns without regard to case. */
export const ColumnRefSchema = v.pipe(
  v.string(),
  v.minLength(1, 'Column name must not be empty'),
  v.maxLength(255),
  v.description("A column of the table, matched to the table's column names without regard to case"),
);

/** Filter values are JSON scalars; each is sent to DuckDB as text and cast to the column's type. */
const FilterValueSchema = v.union(
  [v.pipe(v.string(), v.maxLength(65_536)), v.pipe(v.number(), v.finite()), v.boolean()],
  'Filter values must be strings, numbers or booleans (use is_null / not_null for NULL)',
);

function valueCountError(operator: FilterOperator, count: number): string | undefined {
  if (operator === 'is_null' || operator === 'not_null') return count === 0 ? undefined : `${operator} takes no values`;
  if (operator === 'in' || operator === 'not_in') return count >= 1 ? undefined : `${operator} takes one or more values`;
  return count === 1 ? undefined : `${operator} takes exactly one value`;
}

export const FilterSchema = v.pipe(
  v.object({
    column: ColumnRefSchema,
    operator: v.picklist(FILTER_OPERATORS, `Operator must be one of ${FILTER_OPERATORS.join(', ')}`),
    values: v.optional(v.pipe(v.array(FilterValueSchema), v.maxLength(MAX_VALUES, `At most ${MAX_VALUES} values`)), []),
  }),
  v.forward(
    v.check((f) => valueCountError(f.operator, f.values.length) === undefined, (issue) => valueCountError(issue.input.operator, issue.input.values.length)!),
    ['values'],
  ),
  v.description(
    'eq, ne, gt, ge, lt, le take one value; in, not_in one or more; is_null, not_null none. Values are compared as the column type ' +
      '(a value that does not convert exactly is a 422). As in SQL, ne and not_in do not match NULL.',
  ),
);
export type Filter = v.InferOutput<typeof FilterSchema>;

export const FiltersSchema = v.pipe(v.array(FilterSchema), v.maxLength(100, 'At most 100 filters'));

export const OrderBySchema = v.object({
  column: ColumnRefSchema,
  order: v.optional(v.picklist(['asc', 'desc'], 'Order must be asc or desc'), 'asc'),
});
export type OrderBy = v.InferOutput<typeof OrderBySchema>;

export const OrderByListSchema = v.pipe(v.array(OrderBySchema), v.maxLength(100, 'At most 100 sort keys'));

export const ColumnListSchema = v.pipe(v.array(ColumnRefSchema), v.minLength(1, 'columns must name at least one column'), v.maxLength(1000));

export interface ReadSpec {
  columns?: string[];
  filters?: Filter[];
  orderBy?: OrderBy[];
}

/** Where each part of a ReadSpec came from, for the 422 issue paths. */
export interface SpecPaths {
  columns: string;
  filters: string;
  orderBy: string;
}

const BODY_PATHS: SpecPaths = { columns: 'columns', filters: 'filters', orderBy: 'order_by' };

/** A value that must convert to a column type before the query runs. */
interface ConversionCheck {
  path: string;
  type: string;
  values: string[];
}

/**
 * A validated read of one table: the selected columns (catalog names, in the caller's
 * order), the WHERE and ORDER BY clauses with `$n` placeholders, and their parameters.
 * Only catalog column names (through quoteIdent) and allow-listed type names reach the SQL.
 */
export interface ReadPlan {
  columns: ColumnDef[];
  where: string;
  orderBy: string;
  params: DuckDBValue[];
  checks: ConversionCheck[];
}

/** The type to cast filter values to: the column's type when it is one of ours, else none (compare as text). */
function castType(column: ColumnDef): string | undefined {
  return normalizeType(column.type) === column.type ? column.type : undefined;
}

/**
 * DuckDB rounds when it casts `9.999` to DECIMAL(10,2); a filter would then match rows the
 * caller did not ask for, so such values are refused instead. (Integers, and numbers out of
 * range, are checked by the strict conversion in `checkConversions`.)
 */
function inexactReason(type: string, text: string): string | undefined {
  const number = /^\s*[+-]?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?\s*$/.exec(text);
  const decimal = /^DECIMAL\(\d+,(\d+)\)$/.exec(type);
  if (decimal && number) {
    const fraction = (number[2] ?? '').replace(/0+$/, '').length - Number(number[3] ?? 0);
    if (fraction > Number(decimal[1])) return `${JSON.stringify(text.slice(0, 100))} has more decimal places than column type ${type}`;
  }
  return undefined;
}

function valueText(value: string | number | boolean): string {
  return typeof value === 'string' ? value : String(value);
}

/**
 * Resolves columns, filters and sort keys against the table's catalog columns. Unknown
 * or duplicated columns, and values that cannot be compared exactly, are a 422.
 */
export function planRead(table: Pick<TableRecord, 'columns'>, spec: ReadSpec, paths: SpecPaths = BODY_PATHS): ReadPlan {
  const issues: ValidationIssue[] = [];
  const byName = new Map(table.columns.map((column) => [column.name.toLowerCase(), column]));
  const resolve = (name: string, path: string): ColumnDef | undefined => {
    const column = byName.get(name.toLowerCase());
    if (!column) issues.push({ path, message: `Unknown column ${JSON.stringify(name.slice(0, 100))}` });
    return column;
  };

  let columns = table.columns;
  if (spec.columns) {
    const seen = new Set<string>();
    columns = [];
    spec.columns.forEach((name, index) => {
      const column = resolve(name, `${paths.columns}.${index}`);
      if (!column) return;
      if (seen.has(column.name)) issues.push({ path: `${paths.columns}.${index}`, message: `Column ${column.name} is selected twice` });
      seen.add(column.name);
      columns.push(column);
    });
  }

  const params: DuckDBValue[] = [];
  const checks: ConversionCheck[] = [];
  const conditions: string[] = [];
  (spec.filters ?? []).forEach((filter, index) => {
    const path = `${paths.filters}.${index}`;
    const column = resolve(filter.column, `${path}.column`);
    if (!column) return;
    const type = castType(column);
    const texts = filter.values.map(valueText);
    texts.forEach((text, i) => {
      const reason = type && inexactReason(type, text);
      if (reason) issues.push({ path: `${path}.values.${i}`, message: reason });
    });
    const target = type ? quoteIdent(column.name) : `CAST(${quoteIdent(column.name)} AS VARCHAR)`;
    const placeholder = (text: string) => {
      params.push(text);
      return type ? `CAST($${params.length} AS ${type})` : `$${params.length}`;
    };
    if (type && type !== 'VARCHAR' && texts.length) checks.push({ path: `${path}.values`, type, values: texts });
    const op = COMPARISONS[filter.operator];
    if (op) conditions.push(`${target} ${op} ${placeholder(texts[0]!)}`);
    else if (filter.operator === 'in') conditions.push(`${target} IN (${texts.map(placeholder).join(', ')})`);
    else if (filter.operator === 'not_in') conditions.push(`${target} NOT IN (${texts.map(placeholder).join(', ')})`);
    else if (filter.operator === 'is_null') conditions.push(`${quoteIdent(column.name)} IS NULL`);
    else conditions.push(`${quoteIdent(column.name)} IS NOT NULL`);
  });

  const keys = (spec.orderBy ?? []).flatMap((key, index) => {
    const column = resolve(key.column, `${paths.orderBy}.${index}.column`);
    return column ? [`${quoteIdent(column.name)} ${key.order === 'desc' ? 'DESC' : 'ASC'}`] : [];
  });

  if (issues.length) throw validationError(issues, issues[0]!.message);
  return {
    columns,
    where: conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '',
    orderBy: keys.length ? ` ORDER BY ${keys.join(', ')}` : '',
    params,
    checks,
  };
}

/**
 * Checks, in one statement, that every filter value converts exactly to its column's type
 * (the strict conversion of imports, which never fails itself, so nothing fails half-way
 * through an export): `1.5` against an INTEGER or `1e400` against a DOUBLE is a 422.
 */
export async function checkConversions(c: DuckDBConnection, plan: ReadPlan): Promise<void> {
  if (!plan.checks.length) return;
  const exprs = plan.checks.map(
    (check, i) => `list_position(list_transform($${i + 1}, lambda x: coalesce(${strictConversion('x', 'VARCHAR', check.type).invalid}, true)), true)`,
  );
  const reader = await c.runAndReadAll(
    `SELECT ${exprs.join(', ')}`,
    plan.checks.map((check) => listValue(check.values)),
    plan.checks.map(() => LIST(VARCHAR)),
  );
  const row = reader.getRows()[0]!;
  const issues: ValidationIssue[] = [];
  plan.checks.forEach((check, i) => {
    const position = row[i];
    if (position === null || position === undefined || Number(position) === 0) return;
    const index = Number(position) - 1;
    issues.push({ path: `${check.path}.${index}`, message: `${JSON.stringify(check.values[index]!.slice(0, 100))} does not convert to column type ${check.type}` });
  });
  if (issues.length) throw validationError(issues, issues[0]!.message);
}

/** The plan's SELECT over `data` (a qualified table name), with `LIMIT $n` when `limit` is given. */
export function selectSql(data: string, plan: ReadPlan, limit?: number): { sql: string; params: DuckDBValue[] } {
  const list = plan.columns.map((column) => quoteIdent(column.name)).join(', ');
  const params = [...plan.params];
  let sql = `SELECT ${list} FROM ${data}${plan.where}${plan.orderBy}`;
  if (limit !== undefined) {
    params.push(limit);
    sql += ` LIMIT $${params.length}`;
  }
  return { sql, params };
}

export function countSql(data: string, plan: ReadPlan): { sql: string; params: DuckDBValue[] } {
  return { sql: `SELECT count(*) FROM ${data}${plan.where}`, params: plan.params };
}

export type RowDeleteDeps = WriteDeps;

/**
 * Deletes the rows matching `plan` (every row without one) under the table's write lock,
 * in one transaction on the table file; the catalog's row count is updated after the commit.
 * `attach` is the request's session attach, so the attachment is released with the request.
 */
export async function deleteRows(
  deps: RowDeleteDeps,
  attach: (path: string) => Promise<string>,
  table: TableRecord,
  plan?: ReadPlan,
): Promise<{ deleted: number; remaining: number }> {
  // Deleted while this request waited for the lock: the app answers 404.
  return withTableWrite(deps, table, async (current, path) => {
    const alias = await attach(path);
    const data = `${quoteIdent(alias)}.main.data`;
    const counts = await deps.db.with(async (c) => {
      await c.run('BEGIN TRANSACTION');
      try {
        let deleted: number;
        if (plan) {
          deleted = (await c.run(`DELETE FROM ${data}${plan.where}`, plan.params)).rowsChanged;
        } else {
          // Every row: re-create the table rather than delete row by row, which on a keyed
          // table makes the commit remove each key from the index.
          deleted = Number((await c.runAndReadAll(`SELECT count(*) FROM ${data}`)).getRows()[0]![0]);
          await emptyTable(c, alias, current);
        }
        const remaining = Number((await c.runAndReadAll(`SELECT count(*) FROM ${data}`)).getRows()[0]![0]);
        await c.run('COMMIT');
        return { deleted, remaining };
      } catch (error) {
        await c.run('ROLLBACK').catch(() => {});
        throw error;
      }
    });
    await saveRowCount(deps, current, counts.remaining);
    return counts;
  });
}
