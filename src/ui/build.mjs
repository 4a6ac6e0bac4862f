// How the explorer's browser code (src/ui/main.ts and its CSS) becomes two static files.
// Shared by esbuild.config.mjs (which embeds the result into dist/main.mjs) and by the
// server when it runs from source (tsx, vitest), which builds in memory on first use.
import { fileURLToPath } from 'node:url';

export const UI_ENTRY = fileURLToPath(new URL('./main.ts', import.meta.url));

/**
 * Bundles the explorer with the given esbuild module; nothing is written to disk.
 * @param {typeof import('esbuild')} esbuild
 * @returns {Promise<{ js: string, css: string }>}
 */
export async function buildUi(esbuild) {
  const result = await esbuild.build({
    entryPoints: [UI_ENTRY],
    bundle: true,
    write: false,
    // Names only: with write: false the files stay in memory.
    outdir: 'ui-out',
    entryNames: 'app',
    format: 'iife',
    platform: 'browser',
    target: ['es2020'],
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const text = (ext) => result.outputFiles.find((file) => file.path.endsWith(ext))?.text ?? '';
  return { js: text('.js'), css: text('.css') };
}
