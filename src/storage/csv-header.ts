import { open } from 'node:fs/promises';

export interface CsvDialect {
  delimiter: string;
  quote: string;
  escape: string;
}

/** The header row may be at most this long (bytes) … */
export const MAX_HEADER_BYTES = 1 << 20;
/** … and name at most this many columns (a table has at most 1000). */
export const MAX_HEADER_FIELDS = 1000;

export class HeaderTooLargeError extends Error {}

/**
 * Parses the first CSV record as DuckDB will, fed in pieces: `quote` opens and closes a
 * quoted field, inside which `escape` before a quote (or before itself) stands for that
 * character; an unquoted line break ends the record. Each character is looked at once,
 * however the text is split, and a record that grows past `MAX_HEADER_FIELDS` fields fails
 * at once (the caller bounds the bytes).
 */
export class CsvHeaderParser {
  private readonly fields: string[] = [];
  private field = '';
  private quoted = false;
  private started = false;
  private first = true;
  /** An escape character seen last inside a quoted field, waiting for the next character. */
  private pendingEscape = false;
  private done: string[] | undefined;

  constructor(private readonly dialect: CsvDialect) {}

  /** Feeds the next piece of text; returns the record's fields once it is complete. */
  push(text: string): string[] | undefined {
    if (this.done) return this.done;
    const { delimiter, quote, escape } = this.dialect;
    let i = 0;
    if (this.first && text.length) {
      this.first = false;
      if (text.charCodeAt(0) === 0xfeff) i = 1;
    }
    for (; i < text.length; i++) {
      const ch = text[i]!;
      if (this.pendingEscape) {
        this.pendingEscape = false;
        if (ch === quote || (escape !== quote && ch === escape)) {
          this.field += ch;
          continue;
        }
        // Not an escape after all: a quote equal to the escape closes the field; any other
        // escape character is kept as it is. Then `ch` is read afresh.
        if (escape === quote) this.quoted = false;
        else this.field += escape;
      }
      if (this.quoted) {
        if (ch === escape) this.pendingEscape = true;
        else if (ch === quote) this.quoted = false;
        else this.field += ch;
        continue;
      }
      if (ch === '\n' || ch === '\r') return this.finish();
      this.started = true;
      if (ch === delimiter) {
        this.fields.push(this.field);
        this.field = '';
        if (this.fields.length >= MAX_HEADER_FIELDS) throw new HeaderTooLargeError(`The header row names more than ${MAX_HEADER_FIELDS} columns`);
      } else if (ch === quote) {
        this.quoted = true;
      } else {
        this.field += ch;
      }
    }
    return undefined;
  }

  /** Ends the text: the fields of the last (unterminated) record, [] for an empty file. */
  end(): string[] {
    if (this.done) return this.done;
    if (this.pendingEscape) {
      this.pendingEscape = false;
      if (this.dialect.escape === this.dialect.quote) this.quoted = false;
      else this.field += this.dialect.escape;
    }
    if (!this.started && this.fields.length === 0 && this.field === '') return (this.done = []);
    return this.finish();
  }

  private finish(): string[] {
    this.fields.push(this.field);
    this.done = this.fields;
    return this.done;
  }
}

/**
 * Reads the first record of a CSV file (the header row), reading no more than
 * `MAX_HEADER_BYTES` of it: a longer header, or one naming more than `MAX_HEADER_FIELDS`
 * columns, is a `HeaderTooLargeError`.
 */
export async function readCsvHeader(path: string, dialect: CsvDialect): Promise<string[]> {
  const handle = await open(path, 'r');
  try {
    const parser = new CsvHeaderParser(dialect);
    const decoder = new TextDecoder('utf-8');
    const buffer = Buffer.alloc(64 << 10);
    let read = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, read);
      if (bytesRead === 0) return parser.push(decoder.decode()) ?? parser.end();
      read += bytesRead;
      const fields = parser.push(decoder.decode(buffer.subarray(0, bytesRead), { stream: true }));
      if (fields) return fields;
      if (read >= MAX_HEADER_BYTES) throw new HeaderTooLargeError(`The header row is longer than ${MAX_HEADER_BYTES} bytes (1 MiB)`);
    }
  } finally {
    await handle.close();
  }
}
