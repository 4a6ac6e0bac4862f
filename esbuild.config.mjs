// Bundles the Node entry for the container. DuckDB's native bindings stay external: they
// are installed by npm in the image next to the bundle.
import * as esbuild from 'esbuild';
import { buildUi } from './src/ui/build.mjs';

// The data explorer (GET /ui): its browser code is built first and embedded as two strings,
// so the bundle serves it with nothing next to it.
const ui = await buildUi(esbuild);

await esbuild.build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/main.mjs',
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
