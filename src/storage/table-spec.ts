import { HttpError, validationError, type ValidationIssue } from '../http/errors.ts';
import type { ColumnDef } from './catalog.ts';
import { strictConversion } from './convert.ts';
import type { Database } from './db.ts';
import { canBeKey, defaultFunction, defaultLiteral, normalizeType } from './types.ts';

export interface ColumnInput {
  name: string;
  type: string;
  nullable?: boolean;
  default?: string | number | boolean | null;
}

/**
 * Turns a create-table request into column definitions: normalised types, no duplicate
 * column (case-insensitive), primary-key columns present and NOT NULL. Throws 422 for
 * bad columns and 400 `invalid_primary_key` for a bad key.
 */
export function resolveColumns(columns: ColumnInput[], primaryKey: string[]): { columns: ColumnDef[]; primaryKey: string[] } {
  const issues: ValidationIssue[] = [];
  const seen = new Map<string, number>();
  const resolved: ColumnDef[] = columns.map((input, index) => {
    const type = normalizeType(input.type);
    if (!type) issues.push({ path: `columns.${index}.type`, message: `Unsupported column type ${JSON.stringify(input.type.slice(0, 80))}` });
    const lower = input.name.toLowerCase();
    if (seen.has(lower)) issues.push({ path: `columns.${index}.name`, message: `Duplicate column ${input.name} (same as columns.${seen.get(lower)})` });
    else seen.set(lower, index);
    // A NUL cannot be written into the DDL's quoted literal; refuse it here rather than fail later.
    if (typeof input.default === 'string' && input.default.includes('\0')) {
      issues.push({ path: `columns.${index}.default`, message: 'Default must not contain a NUL character' });
    }
    const column: ColumnDef = { name: input.name, type: type ?? 'VARCHAR', nullable: input.nullable ?? true };
    if (input.default !== undefined && input.default !== null) column.default = input.default;
    return column;
  });
  if (issues.length) throw validationError(issues, issues[0]!.message);

  const keyIssues: string[] = [];
  const keySeen = new Set<string>();
  const key = primaryKey.map((name) => {
    const column = resolved.find((c) => c.name === name) ?? resolved.find((c) => c.name.toLowerCase() === name.toLowerCase());
    if (!column) keyIssues.push(`${name} is not a column of the table`);
    else if (keySeen.has(column.name)) keyIssues.push(`${name} appears twice in the primary key`);
    else keySeen.add(column.name);
    return column?.name ?? name;
  });
  if (keyIssues.length) {
    throw new HttpError(400, 'invalid_primary_key', `Invalid primary key: ${keyIssues.join('; ')}`, { primary_key: primaryKey });
  }
  const typeIssues: ValidationIssue[] = [];
  key.forEach((name, index) => {
    const column = resolved.find((c) => c.name === name)!;
    if (!canBeKey(column.type)) typeIssues.push({ path: `primary_key.${index}`, message: `Column ${column.name} of type ${column.type} cannot be part of a primary key` });
  });
  if (typeIssues.length) throw validationError(typeIssues, typeIssues[0]!.message);
  for (const column of resolved) if (keySeen.has(column.name)) column.nullable = false;
  return { columns: resolved, primaryKey: key };
}

/**
 * Checks every default converts to its column's type exactly, by the rules imports follow
 * (convert.ts): `1.5` or `300` is no default for an INTEGER or a TINYINT. The literal is a
 * bound parameter and the type comes from the allow-list, so nothing the user sent
 * becomes SQL text.
 */
export async function checkDefaults(db: Database, columns: ColumnDef[]): Promise<void> {
  const checks: { index: number; expr: string }[] = [];
  const params: string[] = [];
  columns.forEach((column, index) => {
    const fn = defaultFunction(column.default);
    if (fn) checks.push({ index, expr: `TRY_CAST(${fn} AS ${column.type}) IS NULL` });
    else {
      const literal = defaultLiteral(column.default);
      if (literal === undefined) return;
      params.push(literal);
      checks.push({ index, expr: strictConversion(`$${params.length}::VARCHAR`, 'VARCHAR', column.type).invalid });
    }
  });
  if (!checks.length) return;
  const sql = `SELECT ${checks.map((c, i) => `coalesce(${c.expr}, true) AS bad${i}`).join(', ')}`;
  const row = await db.with(async (c) => (await c.runAndReadAll(sql, params)).getRows()[0]!);
  const issues: ValidationIssue[] = [];
  checks.forEach((check, i) => {
    if (row[i] !== false) {
      const column = columns[check.index]!;
      issues.push({ path: `columns.${check.index}.default`, message: `Default ${JSON.stringify(column.default)} is not a valid ${column.type}` });
    }
  });
  if (issues.length) throw validationError(issues, issues[0]!.message);
}
