import type { Command } from 'commander';
import type { ColumnInput, ExportFormat, ExportJobResult, Filter, ImportFileOptions, Job, ImportResult, ImportSettings, OrderBy, Preview, Table } from '../../client/index.ts';
import { describeLocalFile } from '../../client/index.ts';
import { group, leaf } from '../command.ts';
import type { CliContext, CliIo } from '../context.ts';
import { UsageError } from '../errors.ts';
import { formatBytes, renderObject, renderTable } from '../output.ts';
import { collect, columnSpec, commaList, filterSpec, jsonValue, oneChar, orderSpec, wholeNumber } from '../parse.ts';
import { jobLine, transferBar } from '../progress.ts';
import { sniffCsvColumns } from '../sniff.ts';
import { downloadTo } from './download.ts';

function printTable(ctx: CliContext, table: Table): void {
  ctx.out(renderObject({ ...table, size: formatBytes(table.size_bytes) }, ['name', 'bucket', 'row_count', 'size', 'primary_key', 'created_at']));
  ctx.out(renderTable(['ordinal_position', 'name', 'type', 'nullable'], table.columns, ['#', 'column', 'type', 'nullable']));
}

function printPreview(ctx: CliContext, preview: Preview): void {
  const names = preview.columns.map((c) => c.name);
  ctx.out(renderTable(names, preview.rows));
  ctx.out(`${preview.preview_row_count} of ${preview.total_row_count} row(s)`);
}

function printImport(ctx: CliContext, result: ImportResult): void {
  ctx.out(`Imported ${result.imported_rows} row(s) into ${result.table.bucket}.${result.table.name}; the table has ${result.row_count} row(s)`);
}

const FORMATS = ['csv', 'ndjson', 'parquet'] as const;

function format(text: string): ExportFormat {
  if (!(FORMATS as readonly string[]).includes(text)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')}`);
  return text as ExportFormat;
}

interface ReadOptions {
  columns?: string[];
  filter?: Filter[];
  filtersJson?: Filter[];
  orderBy?: OrderBy[];
}

function readSpec(options: ReadOptions): { columns?: string[]; filters: Filter[]; order_by: OrderBy[] } {
  if (options.filtersJson !== undefined && !Array.isArray(options.filtersJson)) throw new UsageError('--filters-json must be a JSON array of filters');
  return { columns: options.columns, filters: [...(options.filter ?? []), ...(options.filtersJson ?? [])], order_by: options.orderBy ?? [] };
}

function readOptions(command: Command): Command {
  return command
    .option('--columns <a,b>', 'pick and order columns', commaList)
    .option('--filter <column:op[:value]>', 'keep rows matching (repeatable; op: eq ne gt ge lt le in not_in is_null not_null; in/not_in take a,b,c)', collect(filterSpec))
    .option('--filters-json <json>', 'filters as the API takes them (a JSON array)', jsonValue('--filters-json') as (t: string) => Filter[])
    .option('--order-by <column[:desc]>', 'sort key (repeatable)', collect(orderSpec));
}

interface ImportCliOptions {
  incremental?: boolean;
  format?: ExportFormat;
  delimiter?: string;
  quote?: string;
  escape?: string;
  header?: boolean;
  columns?: string[];
  nullString?: string;
  sync?: boolean;
  keepFile?: boolean;
}

function importSettings(options: ImportCliOptions): ImportSettings {
  return {
    incremental: options.incremental === true,
    format: options.format,
    delimiter: options.delimiter,
    quote: options.quote,
    escape: options.escape,
    header: options.header === false ? false : undefined,
    columns: options.columns,
    null_string: options.nullString,
  };
}

function importOptions(command: Command): Command {
  return command
    .option('--incremental', 'add rows (upsert by primary key) instead of replacing them')
    .option('--format <format>', 'csv, ndjson or parquet (default: from the file name)', format)
    .option('--delimiter <char>', 'CSV field delimiter (\\t for tab)', oneChar('--delimiter'))
    .option('--quote <char>', 'CSV quote character', oneChar('--quote'))
    .option('--escape <char>', 'CSV escape character', oneChar('--escape'))
    .option('--no-header', 'the CSV has no header row (then give --columns)')
    .option('--columns <a,b>', "the file's columns in order", commaList)
    .option('--null-string <text>', 'CSV text that means NULL')
    .option('--sync', 'stream the file as the request body and wait for the answer, instead of upload + job')
    .option('--keep-file', 'keep the uploaded file (§15) after the job');
}

/**
 * Loads a local file (or stdin for `-`) into a table: by default uploaded to P/files with a
 * progress bar, then an import job with a live status line; `--sync` streams it as the
 * body of the synchronous import.
 */
async function importLocal(ctx: CliContext, project: string, bucket: string, table: string, file: string, options: ImportCliOptions): Promise<ImportResult> {
  const client = await ctx.client();
  const bar = transferBar(ctx, 'Uploading');
  const line = jobLine(ctx);
  let uploaded = false;
  const settings: ImportFileOptions = {
    ...importSettings(options),
    mode: options.sync ? 'sync' : 'async',
    keepFile: options.keepFile === true,
    onUpload: (p) => bar.update(p),
    onJob: (job) => {
      if (!uploaded) {
        uploaded = true;
        bar.stop();
      }
      line.update(job);
    },
  };
  try {
    if (file === '-') {
      const name = `stdin.${options.format ?? 'csv'}`;
      return await client.importFrom(project, bucket, table, { source: ctx.io.stdin as AsyncIterable<Uint8Array>, name }, settings);
    }
    return await client.importFile(project, bucket, table, file, settings).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'EISDIR' || error.code === 'EACCES') throw new UsageError(`Cannot read ${file}: ${error.message}`);
      throw error;
    });
  } finally {
    if (!uploaded) bar.stop();
    line.stop();
  }
}

export function registerTables(program: Command, io: CliIo): void {
  const tables = group(program, 'tables', 'Tables (§7) and their data (§8): create, import, preview, export', 'tables import 123 in_c_sales orders orders.csv');

  leaf<{ column?: ColumnInput[]; columnsJson?: ColumnInput[]; fromCsv?: string; primaryKey?: string[]; delimiter?: string; import?: boolean }>(
    tables,
    io,
    'create <project_id> <bucket> <table>',
    {
      description: 'Create a table from column specs, or from a CSV file whose columns and types DuckDB infers locally',
      examples: [
        'tables create 123 in_c_sales orders --column id:INTEGER:notnull --column "amount:DECIMAL(10,2)" --primary-key id',
        'tables create 123 in_c_sales orders --from-csv orders.csv --primary-key id --import',
      ],
      async action(ctx, [project, bucket, name], options) {
        const sources = [options.column?.length, options.columnsJson, options.fromCsv].filter(Boolean).length;
        if (sources !== 1) throw new UsageError('Give the columns one way: --column (repeatable), --columns-json or --from-csv');
        if (options.import && !options.fromCsv) throw new UsageError('--import goes with --from-csv');
        let columns: ColumnInput[];
        if (options.fromCsv) columns = await sniffCsvColumns(options.fromCsv, { delimiter: options.delimiter });
        else if (options.columnsJson) {
          if (!Array.isArray(options.columnsJson)) throw new UsageError('--columns-json must be a JSON array of columns');
          columns = options.columnsJson;
        } else columns = options.column!;
        const client = await ctx.client();
        const table = await client.tables.create(project!, bucket!, { name: name!, columns, primary_key: options.primaryKey ?? [] });
        if (!options.import) {
          if (ctx.json) ctx.printJson(table);
          else printTable(ctx, table);
          return;
        }
        const result = await importLocal(ctx, project!, bucket!, name!, options.fromCsv!, { delimiter: options.delimiter });
        if (ctx.json) ctx.printJson(result);
        else {
          printTable(ctx, result.table);
          printImport(ctx, result);
        }
      },
    },
    (c) =>
      c
        .option('--column <name:TYPE[:notnull]>', 'a column (repeatable), e.g. id:INTEGER:notnull', collect(columnSpec))
        .option('--columns-json <json>', 'columns as the API takes them (with defaults)', jsonValue('--columns-json') as (t: string) => ColumnInput[])
        .option('--from-csv <file>', "infer the columns from a local CSV file (DuckDB's CSV sniffer)")
        .option('--delimiter <char>', 'the CSV delimiter, when the sniffer should not guess', oneChar('--delimiter'))
        .option('--primary-key <a,b>', 'primary key columns', commaList)
        .option('--import', 'with --from-csv: also import the file into the new table'),
  );

  leaf(tables, io, 'list <project_id> <bucket>', {
    description: 'List the tables of a bucket',
    examples: ['tables list 123 in_c_sales'],
    async action(ctx, [project, bucket]) {
      const list = await (await ctx.client()).tables.list(project!, bucket!);
      if (ctx.json) return ctx.printJson(list);
      ctx.out(
        renderTable(
          ['name', 'columns', 'row_count', 'size', 'primary_key', 'created_at'],
          list.tables.map((t) => ({ ...t, columns: t.columns.length, size: formatBytes(t.size_bytes), primary_key: t.primary_key.join(', ') })),
        ),
      );
      ctx.out(`${list.total} table(s)`);
    },
  });

  leaf(tables, io, 'get <project_id> <bucket> <table>', {
    description: 'Show a table and its columns',
    examples: ['tables get 123 in_c_sales orders'],
    async action(ctx, [project, bucket, name]) {
      const table = await (await ctx.client()).tables.get(project!, bucket!, name!);
      if (ctx.json) ctx.printJson(table);
      else printTable(ctx, table);
    },
  });

  leaf(tables, io, 'delete <project_id> <bucket> <table>', {
    description: 'Delete a table and its rows',
    examples: ['tables delete 123 in_c_sales orders'],
    async action(ctx, [project, bucket, name]) {
      await (await ctx.client()).tables.delete(project!, bucket!, name!);
      if (!ctx.json) ctx.out(`Deleted table ${bucket}.${name}`);
    },
  });

  leaf<ReadOptions & { limit?: number }>(
    tables,
    io,
    'preview <project_id> <bucket> <table>',
    {
      description: 'Show the first rows as an aligned table (with columns, filters and sort keys if given)',
      examples: ['tables preview 123 in_c_sales orders --limit 20', 'tables preview 123 in_c_sales orders --columns id,amount --filter amount:ge:100 --order-by amount:desc'],
      async action(ctx, [project, bucket, name], options) {
        const client = await ctx.client();
        const spec = readSpec(options);
        const plain = !spec.columns && !spec.filters.length && !spec.order_by.length;
        const preview = plain
          ? await client.tables.preview(project!, bucket!, name!, { limit: options.limit })
          : await client.data.preview(project!, bucket!, name!, { ...spec, limit: options.limit });
        if (ctx.json) ctx.printJson(preview);
        else printPreview(ctx, preview);
      },
    },
    (c) => readOptions(c.option('--limit <n>', 'at most this many rows (1-10000, default 1000)', wholeNumber('--limit'))),
  );

  leaf<ImportCliOptions>(
    tables,
    io,
    'import <project_id> <bucket> <table> <file>',
    {
      description: 'Load a CSV, NDJSON or Parquet file (`-` for stdin) into a table: upload (progress bar), then an import job (live status); replaces the rows unless --incremental',
      examples: ['tables import 123 in_c_sales orders orders.csv', 'tables import 123 in_c_sales orders new-orders.ndjson.gz --incremental', 'tables import 123 in_c_sales orders - --delimiter ";" < orders.csv'],
      async action(ctx, [project, bucket, name, file], options) {
        const result = await importLocal(ctx, project!, bucket!, name!, file!, options);
        if (ctx.json) ctx.printJson(result);
        else printImport(ctx, result);
      },
    },
    importOptions,
  );

  leaf<ReadOptions & { output?: string; format?: ExportFormat; limit?: number; gzip?: boolean; async?: boolean; keepFile?: boolean }>(
    tables,
    io,
    'export <project_id> <bucket> <table>',
    {
      description: 'Download rows as CSV, NDJSON or Parquet into a file (progress bar) or to stdout',
      examples: ['tables export 123 in_c_sales orders -o orders.csv', 'tables export 123 in_c_sales orders --format parquet -o orders.parquet', 'tables export 123 in_c_sales orders --async -o orders.csv.gz', 'tables export 123 in_c_sales orders --filter status:eq:open | wc -l'],
      async action(ctx, [project, bucket, name], options) {
        const client = await ctx.client();
        const spec = readSpec(options);
        const fmt = options.format ?? (options.output ? (describeLocalFile(options.output).format ?? 'csv') : 'csv');
        const gzip = options.gzip ?? (options.output ? describeLocalFile(options.output).contentEncoding === 'gzip' : false);
        if (options.async) {
          // §16: an export job writes a file (§15); it is downloaded, then deleted unless kept.
          const line = jobLine(ctx);
          let done: Job;
          try {
            const job = await client.jobs.exportAsync(project!, bucket!, name!, { ...spec, format: fmt, limit: options.limit, gzip });
            line.update(job);
            done = await client.waitForJob(project!, job.id, { onJob: (j) => line.update(j) });
          } finally {
            line.stop();
          }
          const { file_id: fileId } = done.result as unknown as ExportJobResult;
          try {
            await downloadTo(ctx, await client.files.download(project!, fileId), options.output);
          } finally {
            if (!options.keepFile) await client.files.delete(project!, fileId).catch(() => undefined);
          }
          return;
        }
        const filtered = spec.filters.length > 0 || spec.order_by.length > 0;
        const download = filtered
          ? await client.data.exportFiltered(project!, bucket!, name!, { ...spec, format: fmt, limit: options.limit, gzip })
          : await client.data.export(project!, bucket!, name!, { format: fmt, columns: spec.columns, limit: options.limit, gzip });
        await downloadTo(ctx, download, options.output);
      },
    },
    (c) =>
      readOptions(
        c
          .option('-o, --output <file>', 'write into this file (default: stdout); format and gzip follow its name unless given')
          .option('--format <format>', 'csv, ndjson or parquet', format)
          .option('--limit <n>', 'at most this many rows', wholeNumber('--limit'))
          .option('--gzip', 'gzip the output')
          .option('--async', 'run it as an export job (§16) with a live status line, then download its file')
          .option('--keep-file', 'with --async: keep the job\'s file (§15) after downloading it'),
      ),
  );

  leaf<Pick<ReadOptions, 'filter' | 'filtersJson'>>(
    tables,
    io,
    'delete-rows <project_id> <bucket> <table>',
    {
      description: 'Delete the rows matching every filter (at least one)',
      examples: ['tables delete-rows 123 in_c_sales orders --filter status:eq:cancelled', 'tables delete-rows 123 in_c_sales orders --filter id:in:1,2,3'],
      async action(ctx, [project, bucket, name], options) {
        const { filters } = readSpec(options);
        if (!filters.length) throw new UsageError('Give at least one --filter (use `tables truncate` to delete every row)');
        const result = await (await ctx.client()).data.deleteRows(project!, bucket!, name!, { filters });
        if (ctx.json) ctx.printJson(result);
        else ctx.out(`Deleted ${result.deleted_rows} row(s); ${result.row_count} remain`);
      },
    },
    (c) =>
      c
        .option('--filter <column:op[:value]>', 'rows to delete (repeatable)', collect(filterSpec))
        .option('--filters-json <json>', 'filters as the API takes them (a JSON array)', jsonValue('--filters-json') as (t: string) => Filter[]),
  );

  leaf(tables, io, 'truncate <project_id> <bucket> <table>', {
    description: 'Delete every row (columns and key stay)',
    examples: ['tables truncate 123 in_c_sales orders'],
    async action(ctx, [project, bucket, name]) {
      const result = await (await ctx.client()).data.truncate(project!, bucket!, name!);
      if (ctx.json) ctx.printJson(result);
      else ctx.out(`Deleted ${result.deleted_rows} row(s)`);
    },
  });
}
