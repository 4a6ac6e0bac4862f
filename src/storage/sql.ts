/** Quotes an identifier. Callers pass validated names; the quoting is the second fence. */
export function quoteIdent(name: string): string {
  if (name.includes('\0')) throw new Error('identifier contains NUL');
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a string literal (only for values DuckDB cannot take as parameters, e.g. ATTACH paths). */
export function quoteLiteral(value: string): string {
  if (value.includes('\0')) throw new Error('literal contains NUL');
  return `'${value.replaceAll("'", "''")}'`;
}

/** A safe integer as SQL text; anything else is refused (never user text). */
export function integerLiteral(value: number): string {
  if (!Number.isSafeInteger(value)) throw new Error('not a safe integer');
  return String(value);
}
