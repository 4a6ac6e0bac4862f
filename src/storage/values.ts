import {
  DuckDBArrayValue,
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
  if (value instanceof DuckDBTimestampTZValue) {
    // Its toString() uses the host's time zone; format the instant as UTC instead.
    const utc = new DuckDBTimestampValue(value.micros).toString().replace(' ', 'T');
    return value.isFinite ? `${utc}Z` : utc;
  }
  if (
    value instanceof DuckDBTimestampValue ||
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
      out[key] = toJsonValue(item, index === undefined ? undefined : struct!.entryTypes[index]);
    }
    return out;
  }
  if (value instanceof DuckDBMapValue) {
    const map = type instanceof DuckDBMapType ? type : undefined;
    const out: Record<string, JsonValue> = {};
    for (const { key, value: item } of value.entries) out[String(toJsonValue(key, map?.keyType))] = toJsonValue(item, map?.valueType);
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
