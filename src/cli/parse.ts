// Option values as people type them, turned into the API's shapes. A malformed value is a
// usage error (exit 2) before anything is sent.
import type { ColumnInput, Filter, OrderBy } from '../client/index.ts';
import { UsageError } from './errors.ts';

export function wholeNumber(name: string): (text: string) => number {
  return (text) => {
    if (!/^\d{1,16}$/.test(text)) throw new UsageError(`${name} must be a whole number, got ${JSON.stringify(text)}`);
    return Number(text);
  };
}

export function jsonValue(name: string): (text: string) => unknown {
  return (text) => {
    try {
      return JSON.parse(text);
    } catch {
      throw new UsageError(`${name} must be JSON, got ${JSON.stringify(text)}`);
    }
  };
}

export function commaList(text: string): string[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
}

/** commander collector for repeatable options. */
export function collect<T>(parse: (text: string) => T): (text: string, previous: T[] | undefined) => T[] {
  return (text, previous) => [...(previous ?? []), parse(text)];
}

const OPERATORS = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le', 'in', 'not_in', 'is_null', 'not_null']);

/**
 * `COLUMN:OPERATOR[:VALUE]`: `status:eq:done`, `amount:ge:10`, `id:in:1,2,3`, `note:is_null`.
 * Values are sent as strings; the server compares them as the column's type. For values
 * holding commas, use `--filters-json`.
 */
export function filterSpec(text: string): Filter {
  const match = /^([^:]+):([a-z_]+)(?::(.*))?$/s.exec(text);
  if (!match || !OPERATORS.has(match[2]!)) {
    throw new UsageError(`Invalid filter ${JSON.stringify(text)}: write COLUMN:OPERATOR[:VALUE], operator one of ${[...OPERATORS].join(', ')}`);
  }
  const [, column, operator, value] = match as unknown as [string, string, Filter['operator'], string | undefined];
  if (operator === 'is_null' || operator === 'not_null') {
    if (value !== undefined) throw new UsageError(`Filter ${JSON.stringify(text)}: ${operator} takes no value`);
    return { column, operator };
  }
  if (value === undefined) throw new UsageError(`Filter ${JSON.stringify(text)}: ${operator} needs a value`);
  const values = operator === 'in' || operator === 'not_in' ? value.split(',') : [value];
  return { column, operator, values };
}

/** `COLUMN` or `COLUMN:desc`. */
export function orderSpec(text: string): OrderBy {
  const match = /^([^:]+)(?::(asc|desc))?$/.exec(text);
  if (!match) throw new UsageError(`Invalid sort key ${JSON.stringify(text)}: write COLUMN or COLUMN:desc`);
  return { column: match[1]!, order: (match[2] as 'asc' | 'desc' | undefined) ?? 'asc' };
}

/** `NAME:TYPE` or `NAME:TYPE:notnull` (`amount:DECIMAL(10,2)`, `id:INTEGER:notnull`). */
export function columnSpec(text: string): ColumnInput {
  const match = /^([^:]+):([^:]+)(?::(notnull|not-null|required))?$/i.exec(text);
  if (!match) throw new UsageError(`Invalid column ${JSON.stringify(text)}: write NAME:TYPE or NAME:TYPE:notnull`);
  return { name: match[1]!, type: match[2]!, nullable: match[3] === undefined };
}

/** A one-character CSV option; `\t` (backslash, t) also means a tab. */
export function oneChar(name: string): (text: string) => string {
  return (text) => {
    const value = text === '\\t' ? '\t' : text;
    if ([...value].length !== 1) throw new UsageError(`${name} must be a single character`);
    return value;
  };
}
