import {
  DuckDBArrayValue,
  DuckDBDecimalValue,
  DuckDBBlobValue,
  DuckDBIntervalValue,
  DuckDBListValue,
  DuckDBMapType,
  DuckDBMapValue,
  DuckDBStructType,
  DuckDBStructValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBUnionType,
  DuckDBUnionValue,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Years 1..9999, where `Date#toISOString` prints the same digits DuckDB does. */
const MIN_FAST_MS = -62_135_596_800_000; // 0001-01-01T00:00:00Z (Date.UTC maps year 1 to 1901)
const MAX_FAST_MS = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

/**
 * `YYYY-MM-DDTHH:MM:SS[.ffffff]` (fraction trimmed, as DuckDB prints it) for microseconds
 * since the epoch; undefined outside years 1..9999 (and for infinities), where the caller
 * falls back to DuckDB's own formatting. About ten times faster than that formatting.
 */
function isoFromMicros(micros: bigint): string | undefined {
  let seconds = micros / 1_000_000n;
  let fraction = micros % 1_000_000n;
  if (fraction < 0n) {
    fraction += 1_000_000n;
    seconds -= 1n;
  }
  const ms = Number(seconds) * 1000;
  if (!(ms >= MIN_FAST_MS && ms <= MAX_FAST_MS)) return undefined;
  const base = new Date(ms).toISOString().slice(0, 19);
  if (fraction === 0n) return base;
  return `${base}.${fraction.toString().padStart(6, '0').replace(/0+$/, '')}`;
}

/** The exact decimal text of a DECIMAL (`12.50`), without DuckDB's slower formatting. */
function decimalText(value: DuckDBDecimalValue): string {
  if (value.scale === 0) return value.value.toString();
  const negative = value.value < 0n;
  const digits = (negative ? -value.value : value.value).toString().padStart(value.scale + 1, '0');
  const point = digits.length - value.scale;
  return `${negative ? '-' : ''}${digits.slice(0, point)}.${digits.slice(point)}`;
}


/** ISO 8601 duration of a DuckDB interval (`P1M2DT3H`, `PT0S` for zero). */
export function intervalToIso(interval: DuckDBIntervalValue): string {
  const years = Math.trunc(interval.months / 12);
  const months = interval.months % 12;
  let micros = interval.micros;
  const negative = micros < 0n;
  if (negative) micros = -micros;
  const hours = micros / 3_600_000_000n;
  micros %= 3_600_000_000n;
  const minutes = micros / 60_000_000n;
  micros %= 60_000_000n;
  const seconds = micros / 1_000_000n;
  const fraction = micros % 1_000_000n;
  const sign = negative ? '-' : '';
  let date = '';
  if (years) date += `${years}Y`;
  if (months) date += `${months}M`;
  if (interval.days) date += `${interval.days}D`;
  let time = '';
  if (hours) time += `${sign}${hours}H`;
  if (minutes) time += `${sign}${minutes}M`;
  if (seconds || fraction) {
    const frac = fraction ? `.${fraction.toString().padStart(6, '0').replace(/0+$/, '')}` : '';
    time += `${sign}${seconds}${frac}S`;
  }
  if (!date && !time) return 'PT0S';
  return `P${date}${time ? `T${time}` : ''}`;
}

/**
 * Sets `out[key] = value` as an own, enumerable property. Plain assignment of `__proto__`
 * would change the object's prototype instead, and a column (or struct field) of that
 * name would vanish from the JSON.
 */
export function setEntry<T>(out: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  else out[key] = value;
}

/**
 * One result row as a JSON object by the §7 mapping: the first `count` columns (all by
 * default), each an own property, so a column called `__proto__` stays a column.
 */
export function jsonRow(names: readonly string[], types: readonly DuckDBType[], row: readonly DuckDBValue[], count = names.length): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (let i = 0; i < count; i++) setEntry(out, names[i]!, toJsonValue(row[i]!, types[i]));
  return out;
}

/** The §7 JSON mapping of one DuckDB value. `type` tells JSON columns from plain text. */
export function toJsonValue(value: DuckDBValue, type?: DuckDBType): JsonValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'boolean':
      return value;
    case 'number':
      if (Number.isNaN(value)) return 'NaN';
      if (!Number.isFinite(value)) return value > 0 ? 'Infinity' : '-Infinity';
      return value;
    case 'bigint':
      return value <= MAX_SAFE && value >= -MAX_SAFE ? Number(value) : value.toString();
    case 'string':
      if (type?.alias === 'JSON') {
        try {
          return JSON.parse(value) as JsonValue;
        } catch {
          return value;
        }
      }
      return value;
  }
  if (value instanceof DuckDBDecimalValue) return decimalText(value);
  if (value instanceof DuckDBTimestampTZValue) {
    const fast = isoFromMicros(value.micros);
    if (fast) return `${fast}Z`;
    // Its toString() uses the host's time zone; format the instant as UTC instead.
    const utc = new DuckDBTimestampValue(value.micros).toString().replace(' ', 'T');
    return value.isFinite ? `${utc}Z` : utc;
  }
  if (value instanceof DuckDBTimestampValue) {
    return isoFromMicros(value.micros) ?? value.toString().replace(' ', 'T');
  }
  if (
    value instanceof DuckDBTimestampSecondsValue ||
    value instanceof DuckDBTimestampMillisecondsValue ||
    value instanceof DuckDBTimestampNanosecondsValue
  ) {
    return value.toString().replace(' ', 'T');
  }
  if (value instanceof DuckDBBlobValue) return Buffer.from(value.bytes).toString('base64');
  if (value instanceof DuckDBIntervalValue) return intervalToIso(value);
  if (value instanceof DuckDBListValue || value instanceof DuckDBArrayValue) {
    const child = (type as { valueType?: DuckDBType } | undefined)?.valueType;
    return value.items.map((item) => toJsonValue(item, child));
  }
  // Child types travel with the values so that a JSON field nested anywhere is parsed too.
  if (value instanceof DuckDBStructValue) {
    const struct = type instanceof DuckDBStructType ? type : undefined;
    const out: Record<string, JsonValue> = {};
    for (const [key, item] of Object.entries(value.entries)) {
      const index = struct?.entryIndexes[key];
      setEntry(out, key, toJsonValue(item, index === undefined ? undefined : struct!.entryTypes[index]));
    }
    return out;
  }
  if (value instanceof DuckDBMapValue) {
    const map = type instanceof DuckDBMapType ? type : undefined;
    const out: Record<string, JsonValue> = {};
    for (const { key, value: item } of value.entries) setEntry(out, String(toJsonValue(key, map?.keyType)), toJsonValue(item, map?.valueType));
    return out;
  }
  if (value instanceof DuckDBUnionValue) {
    const union = type instanceof DuckDBUnionType ? type : undefined;
    const index = union?.tagMemberIndexes[value.tag];
    return toJsonValue(value.value, index === undefined ? undefined : union!.memberTypes[index]);
  }
  // Decimal, date, time, UUID, bit, enum-like values: their text form is the contract's.
  return String(value);
}
