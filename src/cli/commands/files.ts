import { basename } from 'node:path';
import type { Command } from 'commander';
import type { StoredFile } from '../../client/index.ts';
import { describeLocalFile } from '../../client/index.ts';
import { group, leaf } from '../command.ts';
import type { CliContext, CliIo } from '../context.ts';
import { UsageError } from '../errors.ts';
import { formatBytes, renderObject, renderTable } from '../output.ts';
import { commaList, wholeNumber } from '../parse.ts';
import { transferBar } from '../progress.ts';
import { downloadTo } from './download.ts';

const FILE_FIELDS = ['id', 'name', 'size_bytes', 'content_type', 'content_encoding', 'sha256', 'tags', 'is_permanent', 'created_at', 'expires_at'];

function printFile(ctx: CliContext, file: StoredFile): void {
  ctx.out(renderObject(file, FILE_FIELDS));
}

export function registerFiles(program: Command, io: CliIo): void {
  const files = group(program, 'files', 'Files kept by the service (§15): inputs of async imports, outputs of async exports', 'files upload 123 orders.csv --tags daily');

  leaf<{ name?: string; tags?: string[]; permanent?: boolean; contentType?: string }>(
    files,
    io,
    'upload <project_id> <file>',
    {
      description: 'Upload a local file (`-` for stdin), streamed, with a progress bar; stored as sent',
      examples: ['files upload 123 orders.csv --tags daily,sales', 'files upload 123 - --name dump.ndjson --permanent < dump.ndjson'],
      async action(ctx, [project, path], options) {
        const client = await ctx.client();
        if (path === '-' && !options.name) throw new UsageError('Give --name when uploading from stdin');
        const described = path === '-' ? describeLocalFile(options.name!) : describeLocalFile(path!);
        const bar = transferBar(ctx, 'Uploading');
        let file: StoredFile;
        try {
          const query = { name: options.name ?? basename(path!), tags: options.tags, permanent: options.permanent === true };
          const upload = { ...query, contentType: options.contentType ?? described.contentType, contentEncoding: described.contentEncoding, onProgress: (p: Parameters<typeof bar.update>[0]) => bar.update(p) };
          file =
            path === '-'
              ? await client.files.upload(project!, ctx.io.stdin as AsyncIterable<Uint8Array>, upload)
              : await client.uploadFile(project!, path!, upload).catch((error: NodeJS.ErrnoException) => {
                  if (error.code === 'ENOENT' || error.code === 'EISDIR' || error.code === 'EACCES') throw new UsageError(`Cannot read ${path}: ${error.message}`);
                  throw error;
                });
        } finally {
          bar.stop();
        }
        if (ctx.json) ctx.printJson(file);
        else printFile(ctx, file);
      },
    },
    (c) =>
      c
        .option('--name <name>', 'name to keep (default: the file name)')
        .option('--tags <a,b>', 'tags (each 1-64 of A-Z a-z 0-9 _ . : -)', commaList)
        .option('--permanent', 'never expires')
        .option('--content-type <type>', 'stored content type (default: from the file name)'),
  );

  leaf<{ tags?: string[]; limit?: number; offset?: number }>(
    files,
    io,
    'list <project_id>',
    {
      description: 'List files, newest first (those having every --tags)',
      examples: ['files list 123', 'files list 123 --tags daily --limit 10'],
      async action(ctx, [project], options) {
        const list = await (await ctx.client()).files.list(project!, { tags: options.tags, limit: options.limit, offset: options.offset });
        if (ctx.json) return ctx.printJson(list);
        ctx.out(renderTable(['id', 'name', 'size', 'content_type', 'tags', 'expires_at'], list.files.map((f) => ({ ...f, size: formatBytes(f.size_bytes), tags: f.tags.join(', '), expires_at: f.expires_at ?? 'never' }))));
        ctx.out(`${list.files.length} of ${list.total} file(s)`);
      },
    },
    (c) =>
      c
        .option('--tags <a,b>', 'only files having all of these tags', commaList)
        .option('--limit <n>', 'page size (1-1000, default 100)', wholeNumber('--limit'))
        .option('--offset <n>', 'skip this many', wholeNumber('--offset')),
  );

  leaf(files, io, 'get <project_id> <file_id>', {
    description: 'Show a file object',
    examples: ['files get 123 f_9a3e2c1b0d4f'],
    async action(ctx, [project, id]) {
      const file = await (await ctx.client()).files.get(project!, id!);
      if (ctx.json) ctx.printJson(file);
      else printFile(ctx, file);
    },
  });

  leaf<{ output?: string }>(
    files,
    io,
    'download <project_id> <file_id>',
    {
      description: 'Download a file (progress bar) into -o FILE, or to stdout',
      examples: ['files download 123 f_9a3e2c1b0d4f -o orders.csv', 'files download 123 f_9a3e2c1b0d4f | head'],
      async action(ctx, [project, id], options) {
        const download = await (await ctx.client()).files.download(project!, id!);
        await downloadTo(ctx, download, options.output);
      },
    },
    (c) => c.option('-o, --output <file>', 'write into this file (default: stdout)'),
  );

  leaf(files, io, 'delete <project_id> <file_id>', {
    description: 'Delete a file',
    examples: ['files delete 123 f_9a3e2c1b0d4f'],
    async action(ctx, [project, id]) {
      await (await ctx.client()).files.delete(project!, id!);
      if (!ctx.json) ctx.out(`Deleted file ${id}`);
    },
  });
}
