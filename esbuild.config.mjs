// Bundles the Node entry for the container. DuckDB's native bindings stay external: they
// are installed by npm in the image next to the bundle.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/main.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  external: ['@duckdb/*'],
  banner: {
    // Bundled CommonJS dependencies (pino) still call require(): give ESM one.
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
