#!/usr/bin/env node
// The `duckdb-storage` command (package bin, bundled to dist/cli.mjs).
import { run } from './program.ts';

process.exitCode = await run(process.argv.slice(2), { env: process.env, stdout: process.stdout, stderr: process.stderr, stdin: process.stdin });
