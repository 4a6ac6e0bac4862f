// Bundles the Node entry for the container (with the data explorer's browser code), the
// typed client (`duckdb-storage-api/client`) and the `duckdb-storage` CLI. DuckDB's native
// bindings stay external: they are installed by npm in the image next to the bundle.
//
//   node esbuild.config.mjs                              all three into dist/
//   node esbuild.config.mjs --only client,cli --outdir D  some of them, elsewhere (tests)
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import { buildUi } from './src/ui/build.mjs';

const { values } = parseArgs({ options: { only: { type: 'string' }, outdir: { type: 'string', default: 'dist' } } });
const outdir = values.outdir;
const { version } = JSON.parse(await readFile(new URL('./package.json', import.meta.url), 'utf8'));

/**
 * Builds in memory, then writes each output aside and renames it into place: a test that
 * runs a bundle while another test rebuilds it never reads half a file.
 */
async function build(options, mode = 0o644) {
  const result = await esbuild.build({ ...options, write: false });
  for (const file of result.outputFiles) {
    await mkdir(dirname(file.path), { recursive: true });
    const temporary = `${file.path}.${process.pid}.tmp`;
    await writeFile(temporary, file.contents, { mode });
    await chmod(temporary, mode);
    await rename(temporary, file.path);
  }
}

const targets = {
  server: async () => {
    // The data explorer (GET /ui): its browser code is built first and embedded as two
    // strings, so the bundle serves it with nothing next to it.
    const ui = await buildUi(esbuild);
    await build({
      entryPoints: ['src/main.ts'],
      outfile: join(outdir, 'main.mjs'),
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      sourcemap: true,
      // esbuild itself is only imported when the server runs from source (src/ui/assets.ts).
      external: ['@duckdb/*', 'esbuild'],
      define: { __DSA_UI_JS__: JSON.stringify(ui.js), __DSA_UI_CSS__: JSON.stringify(ui.css) },
      banner: {
        // Bundled CommonJS dependencies (pino) still call require(): give ESM one.
        js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
      },
      logLevel: 'warning',
    });
  },
  // The client imports the server's schemas and views for their types only: the bundle
  // holds the client's own code and nothing else.
  client: () =>
    build({
      entryPoints: ['src/client/index.ts'],
      outfile: join(outdir, 'client.mjs'),
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      sourcemap: true,
      packages: 'external',
      logLevel: 'warning',
    }),
  // The CLI's dependencies (commander, cli-progress, cli-table3, DuckDB for the local CSV
  // sniffer) are the package's own: resolved from node_modules at run time.
  cli: () =>
    build(
      {
        entryPoints: ['src/cli/main.ts'],
        outfile: join(outdir, 'cli.mjs'),
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'esm',
        sourcemap: true,
        packages: 'external',
        define: { CLI_VERSION: JSON.stringify(version) },
        logLevel: 'warning',
      },
      // The bin is executable (the map too; harmless).
      0o755,
    ),
};

const selected = values.only ? values.only.split(',') : Object.keys(targets);
for (const name of selected) {
  if (!(name in targets)) throw new Error(`unknown build target ${name} (one of ${Object.keys(targets).join(', ')})`);
}
await Promise.all(selected.map((name) => targets[name]()));
