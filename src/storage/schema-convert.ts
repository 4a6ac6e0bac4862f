import { CONVERSION_ERROR_PREFIX, strictConversion } from './convert.ts';

/**
 * How a type change converts the stored values of a column (§12: exactly as an import
 * would, §8, through the strict conversion of convert.ts): `value` is the converted value
 * (the statement fails on a value that does not convert), `fails` the condition that is
 * true for such a value (to find an example), or `false` for a widening that cannot fail.
 */
export interface ColumnConversion {
  value: string;
  fails: string;
}

const INTEGER_RANK: Record<string, number> = { TINYINT: 1, SMALLINT: 2, INTEGER: 3, BIGINT: 4, HUGEINT: 5 };
const UNSIGNED_RANK: Record<string, number> = { UTINYINT: 1, USMALLINT: 2, UINTEGER: 3, UBIGINT: 4, UHUGEINT: 5 };

/** Conversions that can neither fail nor lose anything: a plain CAST, no check. */
function widens(from: string, to: string): boolean {
  if (from === to || to === 'VARCHAR') return true;
  if (INTEGER_RANK[from] && INTEGER_RANK[to]) return INTEGER_RANK[to]! >= INTEGER_RANK[from]!;
  if (UNSIGNED_RANK[from] && UNSIGNED_RANK[to]) return UNSIGNED_RANK[to]! >= UNSIGNED_RANK[from]!;
  // An unsigned integer fits the signed type one size up.
  if (UNSIGNED_RANK[from] && INTEGER_RANK[to]) return INTEGER_RANK[to]! > UNSIGNED_RANK[from]!;
  if (from === 'FLOAT' && to === 'DOUBLE') return true;
  // Integers of up to 32 bits are exact in a DOUBLE.
  if (((INTEGER_RANK[from] ?? 9) <= 3 || (UNSIGNED_RANK[from] ?? 9) <= 3) && to === 'DOUBLE') return true;
  if (from === 'DATE' && (to === 'TIMESTAMP' || to === 'TIMESTAMP_NS')) return true;
  return false;
}

/** The conversion of `expr` (a column of type `from`, named `label` in errors) to `to`. */
export function columnConversion(expr: string, from: string, to: string, label?: string): ColumnConversion {
  if (widens(from, to)) return { value: `CAST(${expr} AS ${to})`, fails: 'false' };
  const strict = strictConversion(expr, from, to, label);
  return { value: strict.value, fails: strict.invalid };
}

/** Whether a DuckDB error is a strict conversion refusing a value. */
export const isConversionError = (error: Error) => error.message.includes(`Invalid Input Error: ${CONVERSION_ERROR_PREFIX}`);
