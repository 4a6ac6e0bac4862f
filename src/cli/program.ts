import { Command, CommanderError } from 'commander';
import { StorageApiError } from '../client/index.ts';
import { registerBranches } from './commands/branches.ts';
import { registerBuckets } from './commands/buckets.ts';
import { registerConfig } from './commands/config.ts';
import { registerFiles } from './commands/files.ts';
import { registerJobs } from './commands/jobs.ts';
import { registerKeys } from './commands/keys.ts';
import { registerProjects } from './commands/projects.ts';
import { registerSchema } from './commands/schema.ts';
import { registerService } from './commands/service.ts';
import { registerSnapshots } from './commands/snapshots.ts';
import { registerSql } from './commands/sql.ts';
import { registerTables } from './commands/tables.ts';
import type { CliIo } from './context.ts';
import { EXIT_API_ERROR, EXIT_OK, EXIT_USAGE, UsageError } from './errors.ts';

declare const CLI_VERSION: string | undefined;

/** The whole command tree; one `register…` per resource, as the client has one group per route tag. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('duckdb-storage')
    .description('Command-line client of the DuckDB Storage API')
    .option('--json', "print the API's JSON (for scripts)")
    .option('--profile <name>', 'connection profile (default: the current one, or $DUCKDB_STORAGE_PROFILE)')
    .option('--url <url>', 'server URL for this call (overrides $DUCKDB_STORAGE_URL and the profile)')
    .option('--no-progress', 'no progress bars, even on a terminal')
    .version(typeof CLI_VERSION === 'string' ? CLI_VERSION : 'dev', '-V, --version')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    })
    .addHelpText(
      'after',
      `
Connection: URL and key come from --url / $DUCKDB_STORAGE_URL / the profile, and
$DUCKDB_STORAGE_API_KEY / the profile (~/.config/duckdb-storage/config.json, mode 0600).

Exit codes: 0 success, 1 the API refused (its error code and message are printed), 2 usage error.

Example:
  $ duckdb-storage config set --url http://localhost:8000 --api-key-stdin < admin.key
  $ duckdb-storage projects create 123 --name "My project" --save-profile p123
  $ duckdb-storage --profile p123 tables import 123 in_c_sales orders orders.csv
`,
    );
  registerConfig(program, io);
  registerService(program, io);
  registerProjects(program, io);
  registerBuckets(program, io);
  registerTables(program, io);
  registerSchema(program, io);
  registerFiles(program, io);
  registerJobs(program, io);
  registerBranches(program, io);
  registerSnapshots(program, io);
  registerKeys(program, io);
  registerSql(program, io);
  return program;
}

function reportApiError(io: CliIo, error: StorageApiError, json: boolean): void {
  if (json) {
    io.stderr.write(`${JSON.stringify({ status: error.status, detail: { error: error.code, message: error.message, details: error.details } }, null, 2)}\n`);
    return;
  }
  io.stderr.write(`error: ${error.code}: ${error.message}\n`);
  const issues = error.details?.issues;
  if (Array.isArray(issues)) {
    for (const issue of issues as { path?: string; message?: string }[]) io.stderr.write(`  ${issue.path ?? ''}: ${issue.message ?? ''}\n`);
  }
}

/** Runs one invocation and returns its exit code; never calls process.exit itself. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here with 0; every parse error is a usage error.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (error instanceof UsageError) {
      io.stderr.write(`error: ${error.message}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof StorageApiError) {
      reportApiError(io, error, json);
      return EXIT_API_ERROR;
    }
    io.stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT_API_ERROR;
  }
}
