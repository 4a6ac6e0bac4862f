// fast-check arbitraries for hostile requests, driven by the route table. A generated
// request names fixture objects symbolically (`ref`), so it stays meaningful after the
// fuzzer deleted and the harness re-created them; `resolve` turns it into a real Request.
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import type { RouteDef } from '../../src/routes.ts';
import { SCALAR_TYPES } from '../../src/storage/types.ts';

// ---- symbolic references to the fixture -----------------------------------------------

/** What a generated value may point at: the caller's own objects or another project's. */
export type RefName = 'own' | 'other' | 'bucket' | 'linked' | 'foreign_bucket' | 'table' | 'foreign_table' | 'column';
export class Ref {
  constructor(readonly name: RefName) {}
}

/** A JSON token written as is (numbers JSON.stringify cannot produce, nesting, …). */
export class Raw {
  constructor(readonly text: string) {}
}

export type Resolver = (ref: RefName) => string;

/** JSON text of a generated value; `Raw` tokens are pasted, `Ref`s resolved. */
export function render(value: unknown, resolve: Resolver): string {
  if (value instanceof Raw) return value.text;
  if (value instanceof Ref) return JSON.stringify(resolve(value.name));
  if (Array.isArray(value)) return `[${value.map((v) => render(v, resolve)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value)
      .map((k) => `${JSON.stringify(k)}:${render((value as Record<string, unknown>)[k], resolve)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

// ---- hostile building blocks -----------------------------------------------------------

const deep = (depth: number, open: string, close: string, inner = '1') => open.repeat(depth) + inner + close.repeat(depth);
export const DEEP_ARRAY = deep(10_000, '[', ']');
export const DEEP_OBJECT = deep(10_000, '{"a":', '}');

/** Path segments that try traversal, encodings, odd characters and lengths. */
export const HOSTILE_SEGMENTS = [
  '', '.', '..', '...', '%2e', '%2e%2e', '%2E%2E%2F', '..%2F..%2F..%2Fetc', '..%5C..%5C', '%2F', 'a%2Fb', '%5C',
  '%00', 'a%00b', '%', '%ZZ', '%C0%AF', '%c3%28', '%FF%FE', '%E2%80%AE', 'a.b', 'a b', 'a%20b', '-x', '_x', 'ü',
  '%C3%BC', '日本', '🦆', 'x'.repeat(65), 'x'.repeat(97), 'y'.repeat(5000), 'CON', 'nul', 'a:b', 'a;b', "a'b", 'a"b',
  'a\\b', 'a*', '~', '$', ':id', 'null', 'undefined', '__proto__', 'constructor', 'toString', 'project_x', '.trash-1',
  'x.creating-1', 'metadata.duckdb', 'admin.key', 't1.duckdb', 'a?b=c', 'a#b', '%3F', '%23', 'A'.repeat(64),
];

/** A value to put where a scalar is expected. */
export const hostileScalar: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    new Raw('1e308'), new Raw('-1e308'), new Raw('1e309'), new Raw('-1e400'), new Raw('18446744073709551616'),
    new Raw('-18446744073709551617'), new Raw('9007199254740993'), new Raw('-0'), new Raw('1e-400'), new Raw('1.5'), new Raw('1E2'),
    new Raw('123456789012345678901234567890123456789012345678901234567890'),
    '', ' ', '\u0000', 'a\u0000b', '../../etc/passwd', '..', '%00', '🦆', '\ud800', 'NaN', 'Infinity', '-Infinity', '1e308', '-1',
    null, true, false, 0, -1, 1, 2 ** 31, -(2 ** 31), 2 ** 53, [], {}, [[]], [null], { a: null }, 'x'.repeat(70_000),
    "x'; DROP TABLE data; --", '"); DROP TABLE data; --', 'CURRENT_TIMESTAMP', 'now()', 'a,b', '\r\n', 'null',
    new Raw(DEEP_ARRAY.slice(0, 2001 * 2 - 1)), // 1000 levels of nesting as a value
  ),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 10 }),
  fc.integer(),
  fc.double(),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((n) => new Raw(n.toString())),
);

export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: hostileScalar },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.array(hostileScalar, { maxLength: 4 }) },
);

/** Either a sensible value (usually) or a hostile one. */
const field = <T>(valid: fc.Arbitrary<T>) => fc.oneof({ weight: 10, arbitrary: valid as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: hostileValue });

const ABSENT = Symbol('absent');

/** An object whose fields are each usually present, now and then with extra ones. */
function objectOf(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  const maybe = Object.fromEntries(Object.entries(fields).map(([k, a]) => [k, fc.option(a, { freq: 10, nil: ABSENT })]));
  return fc
    .tuple(fc.record(maybe), fc.option(fc.dictionary(fc.string({ maxLength: 12 }), hostileValue, { maxKeys: 3 }), { freq: 6 }))
    .map(([known, extra]) => {
      const present = Object.fromEntries(Object.entries(known).filter(([, v]) => v !== ABSENT));
      return extra ? { ...extra, ...present } : present;
    });
}

// ---- names, types, filters ------------------------------------------------------------

export const COLUMNS = ['id', 'name', 'amount', 'ts', 'flag', 'doc'] as const;
const name = fc.oneof(
  { weight: 3, arbitrary: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,12}$/) },
  { weight: 1, arbitrary: fc.constantFrom(...HOSTILE_SEGMENTS) },
);
const columnName = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<unknown>(...COLUMNS, new Ref('column'), 'ID', 'Name', 'nope', '_x') },
  { weight: 1, arbitrary: fc.constantFrom(...HOSTILE_SEGMENTS) },
);
const columnType = fc.constantFrom(
  'INTEGER', 'BIGINT', 'HUGEINT', 'UBIGINT', 'VARCHAR', 'TEXT', 'DECIMAL(10,2)', 'DECIMAL(38,38)', 'NUMERIC(1,0)', 'DOUBLE', 'REAL',
  'BOOLEAN', 'DATE', 'TIME', 'TIMESTAMP', 'TIMESTAMPTZ', 'JSON', 'UUID', 'BLOB', 'INTERVAL',
  'DECIMAL(99,2)', 'DECIMAL(0,0)', 'DECIMAL(5,9)', 'decimal( 10 , 2 )', 'INTEGER; DROP TABLE x', 'VARCHAR(-1)', 'INT[]',
  'STRUCT(a INT)', 'MAP(VARCHAR, INT)', "ENUM('a')", '', 'x'.repeat(300),
);
const defaultValue = fc.constantFrom<unknown>(
  '42', 'abc', 'true', '0', '2026-01-01', 'CURRENT_TIMESTAMP', 'CURRENT_DATE', 'now()', 42, 1.5, true, null,
  new Raw('1e308'), new Raw('18446744073709551616'), "'); DROP TABLE data; --", 'nextval(\'x\')', '\ud800',
);
const column = objectOf({ name: field(columnName), type: field(columnType), nullable: field(fc.boolean()), default: field(defaultValue) });

const OPERATORS = ['eq', 'ne', 'gt', 'ge', 'lt', 'le', 'in', 'not_in', 'is_null', 'not_null'];
const filterValue = fc.oneof(
  fc.constantFrom<unknown>(1, 0, -1, 'a', '', '12.50', '2026-01-01', '2026-01-01T00:00:00Z', true, null, '{}', 'not a number'),
  hostileScalar,
);
const filter = objectOf({
  column: field(columnName),
  operator: field(fc.constantFrom(...OPERATORS, 'EQ', 'like', '=', '')),
  values: field(fc.array(filterValue, { maxLength: 5 })),
});
const filters = field(fc.array(filter, { maxLength: 4 }));
const orderBy = field(fc.array(objectOf({ column: field(columnName), order: field(fc.constantFrom('asc', 'desc', 'ASC', 'up')) }), { maxLength: 3 }));
const columnList = field(fc.array(columnName, { maxLength: 5 }));
const limit = field(fc.oneof(fc.integer({ min: -5, max: 20_000 }), fc.constantFrom<unknown>(new Raw('1e308'), new Raw('2.5'), 10_000, 10_001)));
const projectRef = field(fc.constantFrom<unknown>(new Ref('own'), new Ref('other'), 'nosuch', 'OWN'));
const bucketRef = field(fc.constantFrom<unknown>(new Ref('bucket'), new Ref('foreign_bucket'), new Ref('linked'), 'nosuch'));
const settings = field(fc.oneof(fc.constantFrom<unknown>(null, {}, { a: 1 }, [], { a: new Raw(DEEP_ARRAY) }), fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 })));

/** Every type a table may declare (and a few spellings of them), each tried as a key. */
const keyType = fc.constantFrom(...SCALAR_TYPES, 'DECIMAL(10,2)', 'NUMERIC(38,0)', 'DECIMAL(38,38)', 'TIMESTAMPTZ', 'TEXT', 'INT', 'BYTEA');
/** A table keyed on one to three columns of any accepted type (user input DuckDB may not index). */
const keyedTable = fc
  .record({ name: field(name), keyTypes: fc.array(keyType, { minLength: 1, maxLength: 3 }), other: columnType, nullable: fc.boolean() })
  .map(({ name: table, keyTypes, other, nullable }) => ({
    name: table,
    columns: [...keyTypes.map((type, i) => ({ name: `k${i}`, type, nullable })), { name: 'v', type: other }],
    primary_key: keyTypes.map((_, i) => `k${i}`),
  }));

/** Body values per route (keyed `METHOD path`); routes absent here get generic JSON. */
const BODY_TEMPLATES: Record<string, fc.Arbitrary<unknown>> = {
  'POST /projects': objectOf({ id: field(name), name: field(fc.oneof(fc.string({ maxLength: 20 }), fc.constant(null))), settings }),
  'PUT /projects/:id': objectOf({ name: field(fc.oneof(fc.string({ maxLength: 20 }), fc.constant(null))), settings }),
  'POST /projects/:id/buckets': objectOf({ name: field(name), description: field(fc.oneof(fc.string({ maxLength: 20 }), fc.constant(null))) }),
  'POST /projects/:id/buckets/:bucket/tables': fc.oneof(
    {
      weight: 1,
      arbitrary: objectOf({
        name: field(name),
        columns: field(fc.array(column, { minLength: 0, maxLength: 5 })),
        primary_key: field(fc.array(columnName, { maxLength: 3 })),
      }),
    },
    { weight: 1, arbitrary: keyedTable },
  ),
  'POST /projects/:id/buckets/:bucket/share': objectOf({ target_project_id: projectRef }),
  'POST /projects/:id/buckets/:bucket/link': objectOf({ source_project_id: projectRef, source_bucket_name: bucketRef }),
  'POST /projects/:id/buckets/:bucket/tables/:table/preview': objectOf({ limit, columns: columnList, filters, order_by: orderBy }),
  'POST /projects/:id/buckets/:bucket/tables/:table/export': objectOf({
    format: field(fc.constantFrom('csv', 'ndjson', 'parquet', 'xlsx', 'CSV')),
    columns: columnList,
    filters,
    order_by: orderBy,
    limit,
    gzip: field(fc.boolean()),
  }),
  'POST /projects/:id/buckets/:bucket/tables/:table/delete-rows': objectOf({ filters }),
};

// ---- query strings ---------------------------------------------------------------------

const QUERY_VALUES: Record<string, fc.Arbitrary<string>> = {
  status: fc.constantFrom('active', 'deleted', 'ACTIVE', 'all'),
  limit: fc.constantFrom('1', '10', '1000', '1001', '10000', '10001', '0'),
  offset: fc.constantFrom('0', '5', '100000'),
  cascade: fc.constantFrom('true', 'false', 'TRUE', '1', 'yes'),
  force: fc.constantFrom('true', 'false', 'True', '0'),
  target_project_id: fc.constantFrom('@other', '@own', 'nosuch'),
  format: fc.constantFrom('csv', 'ndjson', 'parquet', 'json', 'CSV'),
  columns: fc.constantFrom('id,name', 'id', 'nope', 'id,,name', ',', 'id,id', 'ID', 'a b'),
  gzip: fc.constantFrom('true', 'false'),
  incremental: fc.constantFrom('true', 'false'),
  delimiter: fc.constantFrom(',', ';', '\\t', '\t', '\n', '', ',,', '"'),
  quote: fc.constantFrom('"', "'", '', '\n', ','),
  escape: fc.constantFrom('"', '\\', '', 'ab'),
  header: fc.constantFrom('true', 'false'),
  null_string: fc.constantFrom('', 'NULL', '\\N', 'x'.repeat(200), 'a\nb'),
};
const hostileQueryValue = fc.oneof(
  fc.constantFrom('', 'NaN', '-1', '-0', '1e308', '1e3', '18446744073709551616', '9'.repeat(40), '0x10', ' 5', '5 ', '1.5', 'null',
    'undefined', '%00', '%ZZ', '%', '\u0000', '🦆', 'x'.repeat(10_000), 'true,false', '[]', '{}'),
  fc.string({ maxLength: 12 }),
);
const QUERY_KEYS = Object.keys(QUERY_VALUES);

/** `key=value` pairs; values are encoded unless `raw` (then they reach the URL parser as is). */
const queryString = fc
  .array(
    fc.record({
      key: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...QUERY_KEYS) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }),
      pick: fc.nat(),
      hostile: fc.boolean(),
      other: hostileQueryValue,
      raw: fc.boolean(),
    }),
    { maxLength: 6 },
  )
  .chain((entries) =>
    fc.tuple(...entries.map((e) => (Object.hasOwn(QUERY_VALUES, e.key) && !e.hostile ? QUERY_VALUES[e.key]! : fc.constant(e.other)))).map((values) =>
      entries.map((e, i) => ({ key: e.key, value: values[i] as string, raw: e.raw })),
    ),
  );

// ---- import bodies ---------------------------------------------------------------------

const csvCell = fc.oneof(
  fc.constantFrom('1', '2', '-1', '', '""', '"a,b"', '"x""y"', 'abc', '12.50', '1e308', '18446744073709551616', 'NaN', 'true', 'maybe',
    '2026-01-01 00:00:00', '2026-13-45', '{"a":1}', '{bad', '\u0000', 'é', '🦆', '"unterminated', 'NULL', '\\N'),
  fc.string({ maxLength: 10 }).map((s) => s.replace(/[\r\n]/g, ' ')),
);
const csvBody = fc
  .record({
    header: fc.array(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...COLUMNS) }, { weight: 1, arbitrary: fc.constantFrom('nope', 'ID', '', '"id"', 'x'.repeat(100)) }), { minLength: 0, maxLength: 6 }),
    rows: fc.array(fc.array(csvCell, { maxLength: 7 }), { maxLength: 8 }),
    eol: fc.constantFrom('\n', '\r\n', '\r'),
    bom: fc.boolean(),
  })
  .map(({ header, rows, eol, bom }) => `${bom ? '\ufeff' : ''}${[header.join(','), ...rows.map((r) => r.join(','))].join(eol)}${eol}`);
/** A file the fixture table accepts (a repeated key: the last row wins). */
const goodCsvBody = fc
  .array(
    fc.record({
      id: fc.integer({ min: -5, max: 40 }),
      name: fc.oneof(fc.constant(''), fc.string({ maxLength: 8 }).map((s) => `"${s.replace(/"/g, '""')}"`)),
      amount: fc.oneof(fc.constant(''), fc.integer({ min: -99_999, max: 99_999 }).map((n) => (n / 100).toFixed(2))),
      flag: fc.constantFrom('', 'true', 'false'),
    }),
    { maxLength: 12 },
  )
  .map((rows) => `id,name,amount,flag\n${rows.map((r) => `${r.id},${r.name},${r.amount},${r.flag}`).join('\n')}\n`);
const ndjsonBody = fc
  .array(fc.oneof(fc.dictionary(fc.constantFrom(...COLUMNS, 'nope'), hostileScalar, { maxKeys: 4 }).map((o) => render(o, () => 'x')), fc.constantFrom('{', '[]', '1', 'null', '{"id":')), { maxLength: 6 })
  .map((lines) => `${lines.join('\n')}\n`);

const invalidUtf8 = (before: string, after: string) => Buffer.concat([Buffer.from(before), Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0xed, 0xa0, 0x80]), Buffer.from(after)]);

export interface BodySpec {
  bytes: Uint8Array | string;
  /** A content type that goes with it (the request may still get another). */
  contentType?: string;
  /** The body is gzip-compressed for real. */
  gzipped?: boolean;
}

const ONE_MIB = 1024 * 1024;
const OVERSIZED_JSON = `{"name":"${'a'.repeat(ONE_MIB + 16)}"}`;

const importBody: fc.Arbitrary<BodySpec> = fc.oneof(
  { weight: 4, arbitrary: goodCsvBody.map((bytes) => ({ bytes, contentType: 'text/csv' })) },
  { weight: 1, arbitrary: goodCsvBody.map((text) => ({ bytes: gzipSync(text), contentType: 'text/csv', gzipped: true })) },
  { weight: 3, arbitrary: csvBody.map((bytes) => ({ bytes, contentType: 'text/csv' })) },
  { weight: 2, arbitrary: ndjsonBody.map((bytes) => ({ bytes, contentType: 'application/x-ndjson' })) },
  { weight: 1, arbitrary: csvBody.map((text) => ({ bytes: gzipSync(text), contentType: 'text/csv', gzipped: true })) },
  { weight: 1, arbitrary: csvBody.map((text) => ({ bytes: gzipSync(text).subarray(0, 12), contentType: 'text/csv', gzipped: true })) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ bytes })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<BodySpec>(
      { bytes: '' },
      { bytes: invalidUtf8('id,name\n1,', '\n') },
      { bytes: 'PAR1garbagePAR1', contentType: 'application/vnd.apache.parquet' },
      { bytes: `id,name\n1,${'z'.repeat(70_000)}\n`, contentType: 'text/csv' }, // over the fuzz app's MAX_IMPORT_BYTES
      { bytes: `${'id,'.repeat(2000)}id\n` },
      { bytes: 'id\n1\n1\n1\n' },
      { bytes: '"id\n1\n' },
    ),
  },
);

const jsonBody = (template: fc.Arbitrary<unknown> | undefined): fc.Arbitrary<BodySpec & { value?: unknown }> =>
  fc.oneof(
    { weight: 6, arbitrary: (template ?? fc.jsonValue({ maxDepth: 2 })).map((value) => ({ bytes: '', value, contentType: 'application/json' })) },
    { weight: 1, arbitrary: hostileValue.map((value) => ({ bytes: '', value, contentType: 'application/json' })) },
    {
      weight: 1,
      arbitrary: fc.constantFrom<BodySpec>(
        { bytes: DEEP_ARRAY, contentType: 'application/json' },
        { bytes: DEEP_OBJECT, contentType: 'application/json' },
        { bytes: OVERSIZED_JSON, contentType: 'application/json' },
        { bytes: invalidUtf8('{"name":"', '"}'), contentType: 'application/json' },
        { bytes: '{"id": "x"', contentType: 'application/json' },
        { bytes: '{"id": "x"}{"id": "y"}', contentType: 'application/json' },
        { bytes: 'id=x', contentType: 'application/x-www-form-urlencoded' },
        { bytes: '\ufeff{}', contentType: 'application/json' },
        { bytes: '  ', contentType: 'application/json' },
        { bytes: 'null', contentType: 'application/json' },
        { bytes: '{"__proto__": {"admin": true}, "constructor": {"prototype": {"x": 1}}}', contentType: 'application/json' },
        { bytes: gzipSync('{"name":"zipped"}'), contentType: 'application/json', gzipped: true },
      ),
    },
  );

// ---- the request ------------------------------------------------------------------------

export type Principal = 'admin' | 'own' | 'other' | 'none' | 'garbage';
export type Param = { ref: RefName } | { raw: string };

export interface FuzzRequest {
  route: RouteDef;
  method: string;
  params: Record<string, Param>;
  query: { key: string; value: string; raw: boolean }[];
  principal: Principal;
  garbageAuth: string;
  headers: Record<string, string>;
  body?: BodySpec & { value?: unknown };
}

/** Big, yet a request with several such headers stays within node's 16 KiB header limit. */
const HUGE = 'h'.repeat(3000);
const contentTypes = fc.constantFrom(
  'application/json', 'application/json; charset=utf-8', 'application/json; charset=latin1', 'application/merge-patch+json', 'text/plain',
  'text/csv', 'application/x-ndjson', 'application/vnd.apache.parquet', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded',
  '', ';;;', 'application/', '*/*', `application/${HUGE}`, 'APPLICATION/JSON', 'application/json, text/plain',
);
const headerSets = fc.record(
  {
    'content-type': contentTypes,
    'content-encoding': fc.constantFrom('gzip', 'x-gzip', 'deflate', 'br', 'identity', 'gzip, gzip', '', 'GZIP', HUGE),
    'content-length': fc.constantFrom('0', '1', '-1', 'abc', '1e3', '99999999999999999999', String(ONE_MIB + 1), ' 5'),
    'x-request-id': fc.constantFrom('ok-id', '', 'x'.repeat(129), 'ü\u00ff', HUGE, 'a\tb'),
    'x-junk': fc.constantFrom(HUGE, '\u00ff'.repeat(100), ''),
    accept: fc.constantFrom('*/*', 'text/html', HUGE),
    origin: fc.constantFrom('http://evil.test', 'null'),
  },
  { requiredKeys: [] },
);
const garbageAuth = fc.constantFrom(
  'Bearer', 'Bearer ', 'Bearer  ', 'bearer x', 'Basic YWRtaW46YWRtaW4=', `Bearer ${HUGE}`, 'Bearer a b', 'Bearer proj_x_admin_00000000000000000000000000000000',
  'Bearer \u00ff\u00fe', 'Token x', 'Bearer\tx', '', 'Bearer proj_..%2F_admin_x',
);

function paramArbitrary(name: string): fc.Arbitrary<Param> {
  const refs: Record<string, RefName[]> = { id: ['own', 'own', 'own', 'own', 'other'], bucket: ['bucket', 'bucket', 'bucket', 'linked', 'foreign_bucket'], table: ['table', 'table', 'table', 'foreign_table'] };
  const ok = (Object.hasOwn(refs, name) ? refs[name]! : []).map((ref) => fc.constant<Param>({ ref }));
  const missing = fc.constantFrom('nosuch', 'missing_1', 'Nope-2').map<Param>((raw) => ({ raw }));
  const hostile = fc.oneof(
    fc.constantFrom(...HOSTILE_SEGMENTS),
    fc.string({ maxLength: 16 }).map((s) => encodeURIComponent(s)),
    fc.string({ unit: 'grapheme', maxLength: 8 }),
  ).map<Param>((raw) => ({ raw }));
  return fc.oneof({ weight: ok.length ? 12 : 0, arbitrary: ok.length ? fc.oneof(...ok) : missing }, { weight: 1, arbitrary: missing }, { weight: 2, arbitrary: hostile });
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'PROPFIND'];

/** A request aimed at `route`: mostly well-formed around one or two hostile parts. */
export function requestFor(route: RouteDef): fc.Arbitrary<FuzzRequest> {
  const names = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]!);
  const key = `${route.method} ${route.path}`;
  const isImport = route.path.endsWith('/import');
  const takesBody = route.method === 'POST' || route.method === 'PUT';
  const body = isImport ? importBody : jsonBody(BODY_TEMPLATES[key]);
  return fc
    .record({
    method: fc.oneof({ weight: 9, arbitrary: fc.constant(route.method) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
    params: fc.record(Object.fromEntries(names.map((n) => [n, paramArbitrary(n)]))) as fc.Arbitrary<Record<string, Param>>,
    query: fc.oneof({ weight: route.query ? 3 : 1, arbitrary: queryString }, { weight: 1, arbitrary: fc.constant<FuzzRequest['query']>([]) }),
    principal: route.auth === 'admin' ? fc.constantFrom<Principal>('admin', 'admin', 'admin', 'admin', 'own', 'none', 'garbage') : fc.constantFrom<Principal>('admin', 'admin', 'own', 'own', 'own', 'own', 'other', 'none', 'garbage'),
    garbageAuth,
    headers: fc.oneof({ weight: 3, arbitrary: fc.constant({}) }, { weight: 2, arbitrary: headerSets }),
    body: takesBody ? fc.oneof({ weight: 9, arbitrary: body }, { weight: 1, arbitrary: fc.constant(undefined) }) : fc.option(body, { freq: 8, nil: undefined }),
    })
    .map((generated) => ({ ...generated, route, [fc.toStringMethod]: () => describeFuzz({ ...generated, route }) }));
}

const clip = (s: string, n = 120) => (s.length > n ? `${s.slice(0, n)}…(${s.length})` : s);

/** A short, replayable description (fast-check prints it for a counterexample). */
export function describeFuzz(fuzz: FuzzRequest): string {
  const params = Object.entries(fuzz.params).map(([k, p]) => `${k}=${'ref' in p ? `@${p.ref}` : JSON.stringify(clip(p.raw, 60))}`);
  const query = fuzz.query.map((q) => `${q.key}=${clip(q.value, 40)}${q.raw ? '(raw)' : ''}`);
  const headers = Object.entries(fuzz.headers).map(([k, v]) => `${k}: ${clip(v, 40)}`);
  let body = 'none';
  if (fuzz.body) {
    body = fuzz.body.value !== undefined ? clip(render(fuzz.body.value, (r) => `@${r}`), 300) : `${fuzz.body.bytes.length} bytes ${clip(typeof fuzz.body.bytes === 'string' ? JSON.stringify(fuzz.body.bytes) : Buffer.from(fuzz.body.bytes).toString('hex'), 120)}`;
  }
  return `${fuzz.method} ${fuzz.route.path} [${params.join(' ')}] ?${query.join('&')} as ${fuzz.principal}${fuzz.principal === 'garbage' ? ` (${clip(fuzz.garbageAuth, 40)})` : ''} headers {${headers.join('; ')}} body ${body}`;
}

/** A path that matches no route, or half of one. */
export const strayPath: fc.Arbitrary<string> = fc
  .array(fc.oneof(fc.constantFrom('projects', 'buckets', 'tables', 'docs', 'assets', 'health', 'backend', 'x', 'preview', 'import'), fc.constantFrom(...HOSTILE_SEGMENTS)), { maxLength: 9 })
  .map((segments) => `/${segments.join('/')}`);

export interface Fixture {
  resolve: Resolver;
  keyOf(principal: Principal): string | undefined;
}

/** The concrete Request of a generated one, against `base` (e.g. `http://local.test`). */
export function toRequest(base: string, fuzz: FuzzRequest, fixture: Fixture): Request {
  const path = fuzz.route.path.replace(/:(\w+)/g, (_m, name: string) => {
    const param = fuzz.params[name]!;
    return 'ref' in param ? fixture.resolve(param.ref) : param.raw;
  });
  const query = fuzz.query
    .map(({ key, value, raw }) => {
      const v = value.startsWith('@') ? fixture.resolve(value.slice(1) as RefName) : value;
      return raw ? `${key}=${v}` : `${encodeURIComponent(key)}=${encodeURIComponent(v)}`;
    })
    .join('&');
  const headers = new Headers();
  const key = fixture.keyOf(fuzz.principal);
  if (fuzz.principal === 'garbage') {
    if (fuzz.garbageAuth) headers.set('authorization', fuzz.garbageAuth);
  } else if (key) headers.set('authorization', `Bearer ${key}`);
  let body: Uint8Array | string | undefined;
  if (fuzz.body && fuzz.method !== 'GET' && fuzz.method !== 'HEAD') {
    body = fuzz.body.value !== undefined ? render(fuzz.body.value, fixture.resolve) : fuzz.body.bytes;
    if (fuzz.body.contentType) headers.set('content-type', fuzz.body.contentType);
    if (fuzz.body.gzipped) headers.set('content-encoding', 'gzip');
  }
  for (const [name, value] of Object.entries(fuzz.headers)) headers.set(name, value);
  // A declared length only where there is a body to go with it.
  if (body === undefined) headers.delete('content-length');
  return new Request(`${base}${path}${query ? `?${query}` : ''}`, { method: fuzz.method, headers, body, duplex: 'half' } as RequestInit);
}

// ---- racing a delete -------------------------------------------------------------------

/** What a racing request deletes: the caller's project, its bucket or its table. */
export type DeleteTarget = 'project' | 'bucket' | 'table';

export interface RacingPair {
  fuzz: FuzzRequest;
  target: DeleteTarget;
  /** Event-loop turns between sending the request and sending the delete. */
  ticks: number;
  /** The body is held after its first half until the delete answered. */
  slowBody: boolean;
}

/** A request on one of `projectRoutes` and a delete of something it names, sent together. */
export function racingPair(projectRoutes: RouteDef[]): fc.Arbitrary<RacingPair> {
  return fc.constantFrom(...projectRoutes).chain((route) =>
    fc.record({
      fuzz: requestFor(route),
      target: fc.constantFrom<DeleteTarget>('project', 'project', 'bucket', 'table'),
      ticks: fc.nat({ max: 6 }),
      slowBody: fc.boolean(),
    }),
  );
}
