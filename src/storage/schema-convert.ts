/**
 * How a type change converts the stored values of a column (§12: exactly as an import
 * would, §8): `value` is the SQL of the converted value, `fails` the SQL condition that is
 * true for a stored value that does not convert. Both are built from a column expression
 * and normalised type names only.
 */
export interface ColumnConversion {
  value: string;
  /** `false` when every value of `from` converts (a widening), so no check is needed. */
  fails: string;
}

const INTEGER_RANK: Record<string, number> = { TINYINT: 1, SMALLINT: 2, INTEGER: 3, BIGINT: 4, HUGEINT: 5 };
const UNSIGNED_RANK: Record<string, number> = { UTINYINT: 1, USMALLINT: 2, UINTEGER: 3, UBIGINT: 4, UHUGEINT: 5 };
const INTEGERS = new Set([...Object.keys(INTEGER_RANK), ...Object.keys(UNSIGNED_RANK)]);

/** Conversions that cannot fail nor lose anything, so the change needs no check. */
function widens(from: string, to: string): boolean {
  if (from === to || to === 'VARCHAR') return true;
  if (INTEGER_RANK[from] && INTEGER_RANK[to]) return INTEGER_RANK[to]! >= INTEGER_RANK[from]!;
  if (UNSIGNED_RANK[from] && UNSIGNED_RANK[to]) return UNSIGNED_RANK[to]! >= UNSIGNED_RANK[from]!;
  // An unsigned integer fits the signed type one size up.
  if (UNSIGNED_RANK[from] && INTEGER_RANK[to]) return INTEGER_RANK[to]! > UNSIGNED_RANK[from]!;
  if (from === 'FLOAT' && to === 'DOUBLE') return true;
  if ((INTEGER_RANK[from] ?? 9) <= 3 && to === 'DOUBLE') return true;
  if (from === 'DATE' && to.startsWith('TIMESTAMP')) return true;
  return false;
}

const isInteger = (type: string) => INTEGERS.has(type);
const isExactNumber = (type: string) => isInteger(type) || type.startsWith('DECIMAL(');

/**
 * The conversion of `expr` (a column of type `from`) to `to`. DuckDB's CAST rounds a
 * fraction into an integer and a finer DECIMAL into a coarser one; an import refuses the
 * first and rounds the second half away from zero, which is what CAST does to decimals.
 * So: a value fails when TRY_CAST gives NULL for it (out of range, not a number, …) or
 * when it has a fraction and the target is an integer type.
 */
export function columnConversion(expr: string, from: string, to: string): ColumnConversion {
  const value = `TRY_CAST(${expr} AS ${to})`;
  if (widens(from, to)) return { value: `CAST(${expr} AS ${to})`, fails: 'false' };
  const conditions = [`(${expr} IS NOT NULL AND ${value} IS NULL)`];
  if (isInteger(to)) {
    if (from === 'FLOAT' || from === 'DOUBLE' || isExactNumber(from)) {
      if (!isInteger(from)) conditions.push(`(${expr} <> trunc(${expr}))`);
    } else if (from === 'VARCHAR' || from === 'JSON') {
      // Text must spell a whole number: DuckDB would round '1.5' to 2.
      conditions.push(`(${expr} IS NOT NULL AND NOT regexp_full_match(trim(${expr}::VARCHAR), '[+-]?[0-9]+'))`);
    }
  }
  return { value, fails: conditions.join(' OR ') };
}
