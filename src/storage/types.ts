/**
 * The column types a table may declare: DuckDB scalar types and their common aliases,
 * each mapped to DuckDB's own name. A type string never reaches SQL unless it came out of
 * `normalizeType`, which only ever returns names built from this list.
 */
const TYPE_ALIASES: Record<string, string> = {
  BOOLEAN: 'BOOLEAN', BOOL: 'BOOLEAN', LOGICAL: 'BOOLEAN',
  TINYINT: 'TINYINT', INT1: 'TINYINT',
  SMALLINT: 'SMALLINT', INT2: 'SMALLINT', SHORT: 'SMALLINT',
  INTEGER: 'INTEGER', INT: 'INTEGER', INT4: 'INTEGER', SIGNED: 'INTEGER',
  BIGINT: 'BIGINT', INT8: 'BIGINT', LONG: 'BIGINT',
  HUGEINT: 'HUGEINT', INT128: 'HUGEINT',
  UTINYINT: 'UTINYINT', USMALLINT: 'USMALLINT', UINTEGER: 'UINTEGER', UBIGINT: 'UBIGINT', UHUGEINT: 'UHUGEINT',
  FLOAT: 'FLOAT', FLOAT4: 'FLOAT', REAL: 'FLOAT',
  DOUBLE: 'DOUBLE', FLOAT8: 'DOUBLE', 'DOUBLE PRECISION': 'DOUBLE',
  VARCHAR: 'VARCHAR', TEXT: 'VARCHAR', STRING: 'VARCHAR', CHAR: 'VARCHAR', BPCHAR: 'VARCHAR', NVARCHAR: 'VARCHAR',
  'CHARACTER VARYING': 'VARCHAR', CHARACTER: 'VARCHAR',
  DATE: 'DATE',
  TIME: 'TIME',
  TIMESTAMP: 'TIMESTAMP', DATETIME: 'TIMESTAMP', 'TIMESTAMP WITHOUT TIME ZONE': 'TIMESTAMP',
  TIMESTAMPTZ: 'TIMESTAMP WITH TIME ZONE', 'TIMESTAMP WITH TIME ZONE': 'TIMESTAMP WITH TIME ZONE',
  TIMESTAMP_S: 'TIMESTAMP_S', TIMESTAMP_MS: 'TIMESTAMP_MS', TIMESTAMP_NS: 'TIMESTAMP_NS',
  INTERVAL: 'INTERVAL',
  UUID: 'UUID',
  BLOB: 'BLOB', BYTEA: 'BLOB', BINARY: 'BLOB', VARBINARY: 'BLOB',
  JSON: 'JSON',
};

const DECIMAL_DEFAULT = { precision: 18, scale: 3 };

/** Every type name `normalizeType` can return apart from the DECIMAL(p,s) family. */
export const SCALAR_TYPES: readonly string[] = [...new Set(Object.values(TYPE_ALIASES))];

/**
 * Types DuckDB cannot index, so they cannot be (part of) a primary key: CREATE TABLE fails
 * with "Invalid type for index key". Measured for every type of SCALAR_TYPES and DECIMAL on
 * DuckDB 1.5 (tests/tables.test.ts creates a key of each accepted type).
 */
const UNINDEXABLE_TYPES = new Set(['INTERVAL']);

export function canBeKey(type: string): boolean {
  return !UNINDEXABLE_TYPES.has(type);
}

/** DuckDB's name for an accepted type, or undefined when the type is not accepted. */
export function normalizeType(input: string): string | undefined {
  if (input.length > 64) return undefined;
  const text = input.trim().replace(/\s+/g, ' ').toUpperCase();
  const direct = TYPE_ALIASES[text];
  if (direct) return direct;
  // VARCHAR(255) and friends: DuckDB ignores the length, so the type is plain VARCHAR.
  const sized = /^(VARCHAR|CHAR|CHARACTER VARYING|CHARACTER|NVARCHAR|BPCHAR|TEXT|STRING) ?\( ?(\d{1,9}) ?\)$/.exec(text);
  if (sized) return 'VARCHAR';
  const decimal = /^(DECIMAL|NUMERIC|DEC)(?: ?\( ?(\d{1,2}) ?(?:, ?(\d{1,2}) ?)?\))?$/.exec(text);
  if (decimal) {
    if (decimal[2] === undefined) return `DECIMAL(${DECIMAL_DEFAULT.precision},${DECIMAL_DEFAULT.scale})`;
    const precision = Number(decimal[2]);
    const scale = decimal[3] === undefined ? 0 : Number(decimal[3]);
    if (precision < 1 || precision > 38 || scale < 0 || scale > precision) return undefined;
    return `DECIMAL(${precision},${scale})`;
  }
  return undefined;
}

/** Functions a default may name instead of a literal; emitted from this list, not from input. */
const DEFAULT_FUNCTIONS: Record<string, string> = {
  CURRENT_TIMESTAMP: 'CURRENT_TIMESTAMP',
  CURRENT_DATE: 'CURRENT_DATE',
  'NOW()': 'now()',
};

export function defaultFunction(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  return DEFAULT_FUNCTIONS[value.trim().toUpperCase()];
}

/** A default literal as text (what is cast to the column type), or undefined for "no default". */
export function defaultLiteral(value: string | number | boolean | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  return typeof value === 'string' ? value : String(value);
}
