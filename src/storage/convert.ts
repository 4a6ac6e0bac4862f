import { quoteLiteral } from './sql.ts';

/*
 * Strict value conversion in SQL (§8: a number is never rounded to an integer, never wraps,
 * never overflows into infinity; a DECIMAL rounds half away from zero to its scale).
 *
 * DuckDB's own casts are lenient where it matters for data: `'1.5'::INTEGER` is 2,
 * `'-2.5'::INTEGER` is -3, `1.5::DOUBLE::INTEGER` is 2, `'1e400'::DOUBLE` is Infinity. The
 * expressions built here convert exactly or fail the statement (DuckDB's `error()`, an
 * "Invalid Input Error") with a message that names the value, its column and the reason.
 *
 * Every conversion has the same shape: an `exact` expression that is the converted value
 * when the value converts exactly and NULL when it does not, and a `reason` expression that
 * says why not. The fast path of each is one TRY_CAST; the explanation is only computed for
 * the failing row, since CASE and coalesce evaluate a branch only for the rows that take it.
 */

/** The integer types: a value with a fraction, or outside the range, does not convert. */
export const INTEGER_TYPES: ReadonlySet<string> = new Set([
  'TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT', 'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT', 'UHUGEINT',
]);
const FLOAT_TYPES: ReadonlySet<string> = new Set(['FLOAT', 'DOUBLE']);
const TEXT_TYPES: ReadonlySet<string> = new Set(['VARCHAR', 'JSON']);
/** Read from text, DuckDB's DATE and TIME casts (and its CSV reader) stop where the value ends and drop the rest: `2026-01-01abc` is 2026-01-01. */
const CALENDAR_TYPES: ReadonlySet<string> = new Set(['DATE', 'TIME']);
const DECIMAL = /^DECIMAL\((\d{1,2}),(\d{1,2})\)$/;

/** The first words of every message a strict conversion fails with (after DuckDB's "Invalid Input Error: "). */
export const CONVERSION_ERROR_PREFIX = 'Cannot convert';

/** Whether `type` is a target this module converts strictly (integers, FLOAT, DOUBLE, DECIMAL(p,s), DATE, TIME). */
export function isStrictTarget(type: string): boolean {
  return INTEGER_TYPES.has(type) || FLOAT_TYPES.has(type) || DECIMAL.test(type) || CALENDAR_TYPES.has(type);
}

/** SQL of one conversion of `expr` (of `sourceType`) to `targetType`. */
export interface StrictConversion {
  /**
   * The converted value: NULL for NULL, the exact value where there is one, otherwise the
   * statement fails with `Invalid Input Error: Cannot convert value "1.5" of column id to
   * INTEGER: not a whole number`. Use it where the value is read (a SELECT list, an INSERT).
   */
  value: string;
  /**
   * A BOOLEAN that is TRUE where `expr` is not NULL and does not convert exactly, FALSE
   * otherwise; it never fails. Use it to check values up front (a default, a filter value)
   * or to find an offending example: `SELECT expr FROM … WHERE (invalid) LIMIT 1`
   * (see `offendingValueSql`).
   */
  invalid: string;
  /** A VARCHAR saying why the value does not convert (`not a whole number`); only meaningful where `invalid` is TRUE. */
  reason: string;
}

/**
 * Builds the strict conversion of the SQL expression `expr`, whose DuckDB type is
 * `sourceType` (`VARCHAR` for text read from a file), to the column type `targetType`.
 *
 * - Into an integer type: text must be a decimal number (`12`, `-3`, `1.0`, `1.5e3`) whose
 *   value is whole and in range; DOUBLE, FLOAT and DECIMAL values must be whole and in
 *   range. `1.5`, `-2.5`, `1e400`, NaN and infinities fail.
 * - Into DECIMAL(p,s): rounded half away from zero to the scale (`1.235` → `1.24`,
 *   `-1.235` → `-1.24`); a DOUBLE is rounded from its shortest decimal text (as PostgreSQL
 *   does), so `1.005` is `1.01`. Values that do not fit the precision fail.
 * - Into DOUBLE or FLOAT: a finite number must stay finite (`1e400` fails); `inf`, `nan`
 *   written as such are kept.
 * - Into DATE or TIME from text: the whole text must be a date (as a TIMESTAMP's text is
 *   read: `2026-01-01`, `2026/1/1`, `2026-01-01 10:00` whose time goes, as PostgreSQL does,
 *   `infinity`; or a plain year-month-day beyond TIMESTAMP's range) or a time of day;
 *   `2026-01-01abc` and `12:30:00 junk` fail instead of losing their tail.
 * - Any other target: DuckDB's CAST, which already fails for values it cannot convert.
 *
 * `expr` is pasted into the result several times: pass a column reference or a parameter,
 * not an expression with side effects. `targetType` must be a normalised type name (from
 * `normalizeType`), `sourceType` a DuckDB type name; `label` (a validated column name) is
 * named in the error message.
 */
export function strictConversion(expr: string, sourceType: string, targetType: string, label?: string): StrictConversion {
  const source = sourceType.toUpperCase();
  const plan = conversionParts(`(${expr})`, source, targetType);
  const shown = TEXT_TYPES.has(source) ? `'"' || left(${expr}, 100) || '"'` : `CAST(${expr} AS VARCHAR)`;
  const column = label === undefined ? '' : ` of column ${label}`;
  const message = `${quoteLiteral(`${CONVERSION_ERROR_PREFIX} value `)} || ${shown} || ${quoteLiteral(`${column} to ${targetType}: `)} || (${plan.reason})`;
  // The common case first, in one flat CASE: each nested CASE costs DuckDB a pass.
  const fast = plan.fast ? `WHEN ${plan.fast.when} THEN ${plan.fast.then} ` : '';
  return {
    value: `(CASE ${fast}WHEN (${expr}) IS NULL THEN NULL ELSE coalesce(${plan.exact}, error(${message})) END)`,
    invalid: `((${expr}) IS NOT NULL AND (${plan.exact}) IS NULL)`,
    reason: `(${plan.reason})`,
  };
}

/**
 * A query returning one value of `expr` over `relation` (a FROM clause) that does not
 * convert to `targetType`, or no row when every value converts.
 */
export function offendingValueSql(relation: string, expr: string, sourceType: string, targetType: string): string {
  const { invalid } = strictConversion(expr, sourceType, targetType);
  return `SELECT CAST(${expr} AS VARCHAR) AS value FROM ${relation} WHERE ${invalid} LIMIT 1`;
}

interface Parts {
  /** The converted value or NULL (for a non-NULL input that does not convert exactly). */
  exact: string;
  /** Optionally, a cheap test that the value converts exactly, and the value then. */
  fast?: { when: string; then: string };
  /** Why a non-NULL input does not convert. */
  reason: string;
}

function conversionParts(x: string, source: string, target: string): Parts {
  if (INTEGER_TYPES.has(target)) return toInteger(x, source, target);
  if (FLOAT_TYPES.has(target)) return toFloat(x, source, target);
  if (DECIMAL.test(target)) return toDecimal(x, source, target);
  if (CALENDAR_TYPES.has(target) && isTextSource(source)) return fromCalendarText(x, target);
  return { exact: source === target ? x : `TRY_CAST(${x} AS ${target})`, reason: quoteLiteral('not a valid value of this type') };
}

const isTextSource = (source: string) => TEXT_TYPES.has(source);
const isApproximate = (source: string) => FLOAT_TYPES.has(source) || source === 'REAL';
const isExactFractional = (source: string) => DECIMAL.test(source) || source.startsWith('DECIMAL');

// ---- dates and times written as text ----------------------------------------------------

/**
 * DuckDB's TIMESTAMP cast reads the whole text or fails, so a date or a time of day is read
 * through it; DATE's own cast covers only the plain year-month-day dates beyond TIMESTAMP's
 * range (years past 294246). Surrounding blanks are ignored, as the casts do.
 */
function fromCalendarText(x: string, target: string): Parts {
  const t = `trim(${x})`;
  if (target === 'DATE') {
    // The text as it is first: trimming every value doubled the cost of a million dates.
    return {
      exact: `coalesce(TRY_CAST(TRY_CAST(${x} AS TIMESTAMP) AS DATE), TRY_CAST(TRY_CAST(${t} AS TIMESTAMP) AS DATE), CASE WHEN regexp_full_match(${t}, '-?[0-9]{1,7}-[0-9]{1,2}-[0-9]{1,2}') THEN TRY_CAST(${t} AS DATE) END)`,
      reason: quoteLiteral('not a date'),
    };
  }
  return {
    exact: `(CASE WHEN TRY_CAST('1970-01-01 ' || ${t} AS TIMESTAMP) IS NOT NULL THEN TRY_CAST(${t} AS TIME) END)`,
    reason: quoteLiteral('not a time of day'),
  };
}

// ---- numbers written as text ------------------------------------------------------------

/** A decimal number: sign, integer digits, fraction digits, exponent (groups 1–4). */
const NUMBER_RE = '^([+-]?)([0-9]*)(?:\\.([0-9]*))?(?:[eE]([+-]?[0-9]{1,9}))?$';

/** Whether trimmed text `t` is a decimal number (with at least one digit). */
const isNumberText = (t: string) => `(regexp_full_match(${t}, ${quoteLiteral(NUMBER_RE.slice(1, -1))}) AND regexp_matches(${t}, '[0-9]'))`;

/**
 * The integer a decimal number written as text stands for, as plain digits, or NULL when
 * the text is not a number or its value has a fraction. `1.50e2` → `150`, `100e-2` → `1`,
 * `1.5` → NULL. Digits times 10^shift, where shift = exponent − fraction length: a negative
 * shift must only cut off zeros.
 */
function integerDigits(t: string): string {
  const part = (n: number) => `regexp_extract(${t}, ${quoteLiteral(NUMBER_RE)}, ${n})`;
  const digits = `(${part(2)} || ${part(3)})`;
  const shift = `(coalesce(TRY_CAST(nullif(${part(4)}, '') AS BIGINT), 0) - length(${part(3)}))`;
  const trailingZeros = `(length(${digits}) - length(rtrim(${digits}, '0')))`;
  return `(CASE
    WHEN NOT ${isNumberText(t)} THEN NULL
    WHEN ltrim(${digits}, '0') = '' THEN '0'
    WHEN ${shift} >= 0 THEN ${part(1)} || ${digits} || repeat('0', CAST(least(${shift}, 60) AS BIGINT))
    WHEN ${trailingZeros} >= -${shift} THEN ${part(1)} || left(${digits}, CAST(length(${digits}) + ${shift} AS BIGINT))
    ELSE NULL END)`;
}

function toInteger(x: string, source: string, target: string): Parts {
  const outOfRange = quoteLiteral(`out of range for ${target}`);
  if (isTextSource(source)) {
    const t = `trim(CAST(${x} AS VARCHAR))`;
    // Fast path: text that is the integer's own spelling (`42`, `-7`) converts as it is; a
    // round trip costs a tenth of a regular expression. Anything else (`+5`, ` 7`, `1.0`,
    // `1.5`) is taken apart digit by digit.
    const cast = `TRY_CAST(${x} AS ${target})`;
    const ownSpelling = `CAST(${cast} AS VARCHAR) = ${x}`;
    return {
      fast: { when: ownSpelling, then: cast },
      exact: `(CASE WHEN ${ownSpelling} THEN ${cast} ELSE TRY_CAST(${integerDigits(t)} AS ${target}) END)`,
      reason: `(CASE WHEN NOT ${isNumberText(t)} THEN 'not a number' WHEN ${integerDigits(t)} IS NULL THEN 'not a whole number' ELSE ${outOfRange} END)`,
    };
  }
  if (isApproximate(source) || isExactFractional(source)) {
    // NaN = trunc(NaN) holds in DuckDB, and TRY_CAST of NaN or an infinity is NULL.
    const cast = `TRY_CAST(${x} AS ${target})`;
    return {
      fast: { when: `${x} = trunc(${x}) AND ${cast} IS NOT NULL`, then: cast },
      exact: `(CASE WHEN ${x} = trunc(${x}) THEN ${cast} END)`,
      reason: isApproximate(source)
        ? `(CASE WHEN isnan(${x}) THEN 'not a number' WHEN isinf(${x}) OR ${x} = trunc(${x}) THEN ${outOfRange} ELSE 'not a whole number' END)`
        : `(CASE WHEN ${x} = trunc(${x}) THEN ${outOfRange} ELSE 'not a whole number' END)`,
    };
  }
  const cast = `TRY_CAST(${x} AS ${target})`;
  return { fast: { when: `${cast} IS NOT NULL`, then: cast }, exact: cast, reason: INTEGER_TYPES.has(source) ? outOfRange : quoteLiteral(`not a valid ${target}`) };
}

function toDecimal(x: string, source: string, target: string): Parts {
  const outOfRange = quoteLiteral(`out of range for ${target}`);
  if (isTextSource(source)) {
    const t = `trim(CAST(${x} AS VARCHAR))`;
    const cast = `TRY_CAST(${x} AS ${target})`;
    return { fast: { when: `${cast} IS NOT NULL`, then: cast }, exact: cast, reason: `(CASE WHEN ${isNumberText(t)} THEN ${outOfRange} ELSE 'not a number' END)` };
  }
  if (isApproximate(source)) {
    // From the shortest text that reads back as the same double, so 1.005 rounds to 1.01.
    const cast = `TRY_CAST(CAST(${x} AS VARCHAR) AS ${target})`;
    return {
      fast: { when: `${cast} IS NOT NULL`, then: cast },
      exact: cast,
      reason: `(CASE WHEN isnan(${x}) THEN 'not a number' ELSE ${outOfRange} END)`,
    };
  }
  const cast = `TRY_CAST(${x} AS ${target})`;
  return { fast: { when: `${cast} IS NOT NULL`, then: cast }, exact: cast, reason: outOfRange };
}

function toFloat(x: string, source: string, target: string): Parts {
  const outOfRange = quoteLiteral(`out of range for ${target}`);
  if (isTextSource(source)) {
    const t = `trim(CAST(${x} AS VARCHAR))`;
    const spelledInfinity = `regexp_full_match(${t}, '[+-]?inf(inity)?', 'i')`;
    const cast = `TRY_CAST(${x} AS ${target})`;
    return {
      fast: { when: `NOT isinf(${cast})`, then: cast },
      exact: `(CASE WHEN NOT isinf(${cast}) OR ${spelledInfinity} THEN ${cast} END)`,
      reason: `(CASE WHEN ${cast} IS NULL THEN 'not a number' ELSE ${outOfRange} END)`,
    };
  }
  if (source === target) return { exact: x, reason: outOfRange };
  const cast = `TRY_CAST(${x} AS ${target})`;
  // Only an infinite value may become an infinity (UHUGEINT's maximum as FLOAT does otherwise).
  const sourceInfinite = isApproximate(source) ? `isinf(${x})` : 'false';
  return { fast: { when: `NOT isinf(${cast})`, then: cast }, exact: `(CASE WHEN NOT isinf(${cast}) OR ${sourceInfinite} THEN ${cast} END)`, reason: outOfRange };
}
