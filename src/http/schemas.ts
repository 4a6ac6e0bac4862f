import * as v from 'valibot';
import { isReservedSchema } from '../storage/sql/gate.ts';

export const ProjectIdSchema = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9_-]{1,64}$/, 'Project id must be 1-64 characters of A-Z, a-z, 0-9, _ or -'),
);

export const BucketNameSchema = v.pipe(
  v.string(),
  v.regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,95}$/,
    'Bucket name must be 1-96 characters of A-Z, a-z, 0-9, _ or -, starting with a letter or digit',
  ),
);

/**
 * The name of a bucket being made (created, or linked in): §17 buckets are schemas in SQL,
 * so the names SQL reserves for its own schemas are refused (422).
 */
export const NewBucketNameSchema = v.pipe(
  BucketNameSchema,
  v.check((name) => !isReservedSchema(name), 'main, temp, system, information_schema and pg_catalog are reserved by SQL and cannot be bucket names'),
);

export const TableNameSchema = v.pipe(
  v.string(),
  v.regex(
    /^[A-Za-z0-9][A-Za-z0-9_-]{0,95}$/,
    'Table name must be 1-96 characters of A-Z, a-z, 0-9, _ or -, starting with a letter or digit',
  ),
);

/**
 * A branch id (§14): `default` or a generated `[a-z0-9_]{1,40}`. Any id of the shape ids
 * have (as for files, jobs, snapshots) is looked up, so one that does not exist is a 404
 * `branch_not_found`, not a 422.
 */
export const BranchIdSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, 'Branch id must be 1-64 characters of A-Z, a-z, 0-9, _ or -'));

export const ColumnNameSchema = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'Column name must be 1-64 characters of A-Z, a-z, 0-9 or _, starting with a letter or _'),
);

/** A snapshot id in a path (`s_` and 12 hex digits when the service made it; others are simply not found). */
export const SnapshotIdSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, 'Snapshot id must be 1-64 characters of A-Z, a-z, 0-9, _ or -'));

/** How long a snapshot is kept (§13). */
export const RetentionDaysSchema = v.pipe(v.number(), v.integer('Expected a whole number of days'), v.minValue(1, 'Must be at least 1'), v.maxValue(3650, 'Must be at most 3650'));

/** `true`/`false` in a query string. */
export const QueryBoolSchema = v.pipe(
  v.picklist(['true', 'false'], 'Expected true or false'),
  v.transform((s) => s === 'true'),
);

/** A whole number in a query string, within [min, max]. */
export const queryInt = (min: number, max: number) =>
  v.pipe(
    v.string(),
    v.regex(/^-?\d{1,16}$/, 'Expected a whole number'),
    v.transform(Number),
    v.minValue(min, `Must be at least ${min}`),
    v.maxValue(max, `Must be at most ${max}`),
  );

// v.record turns an array into {"0": …, "1": …}: refuse arrays before it sees them.
export const SettingsSchema = v.nullable(
  v.pipe(
    v.unknown(),
    v.check((value) => !Array.isArray(value), 'Settings must be an object'),
    v.record(v.string(), v.unknown()),
  ),
);

/** A workspace id in a path (`w_…` when the service made it; others of this shape are simply not found: 404). */
export const WorkspaceIdSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, 'Workspace id must be 1-64 characters of A-Z, a-z, 0-9, _ or -'));

/** Ids of files and jobs in a path (§15, §16); an id of this shape that does not exist is a 404. */
export const FileIdSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, 'File id must be 1-64 characters of A-Z, a-z, 0-9, _ or -'));
export const JobIdSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, 'Job id must be 1-64 characters of A-Z, a-z, 0-9, _ or -'));

/** A metadata key (§12), also in a path (`…/metadata/{key}`). */
export const MetadataKeySchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.:-]{1,255}$/, 'Metadata key must be 1-255 characters of A-Z, a-z, 0-9, _, ., : or -'));

/** A file tag (§15): 1–64 of `[A-Za-z0-9_.:-]`. */
export const TagSchema = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'A tag must be 1-64 characters of A-Z, a-z, 0-9, _ . : or -'));

/** `a,b,c` in a query string: at most 20 tags, repeated ones counted once; empty means none. */
export const TagListQuerySchema = v.pipe(
  v.string(),
  v.transform((s) => (s === '' ? [] : [...new Set(s.split(','))])),
  v.array(TagSchema),
  v.maxLength(20, 'At most 20 tags'),
);

/** Paging of list endpoints: `limit` 1..1000 (100), `offset` ≥ 0 (0). */
export const PagingEntries = {
  limit: v.optional(queryInt(1, 1000), '100'),
  offset: v.optional(queryInt(0, Number.MAX_SAFE_INTEGER), '0'),
};
