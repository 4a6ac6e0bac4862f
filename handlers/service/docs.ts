import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Handler } from '../../src/context.ts';
import { notFound } from '../../src/http/errors.ts';

// Every URL is relative to the page, so the page works under any mount point
// (`/docs` → `docs/assets/…` and `openapi.json` next to it).
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>DuckDB Storage API reference</title>
<link rel="icon" type="image/png" href="docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-spec-url="openapi.json"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/assets/docs.js"></script>
</body>
</html>
`;

// The document lists every route's branch twin (x-branch-twin-of); the page shows each
// route once and says where the twins are, which keeps the reference readable (and Swagger
// UI stops rendering a document of this many near-identical operations).
const INIT = `window.addEventListener('load', function () {
  var root = document.getElementById('swagger-ui');
  var url = new URL(root.getAttribute('data-spec-url'), document.baseURI).href;
  fetch(url).then(function (response) { return response.json(); }).then(function (spec) {
    var twins = 0;
    Object.keys(spec.paths).forEach(function (path) {
      var item = spec.paths[path];
      Object.keys(item).forEach(function (method) {
        if (item[method] && item[method]['x-branch-twin-of']) { delete item[method]; twins++; }
      });
      if (Object.keys(item).length === 0) delete spec.paths[path];
    });
    if (twins) spec.info.description += ' Every bucket, table, data, schema, metadata, snapshot, file, job and SQL route is also served under /projects/{id}/branches/{branch}/… for a development branch (' + twins + ' operations, each listed in /openapi.json with x-branch-twin-of).';
    window.ui = SwaggerUIBundle({
      spec: spec,
      domNode: root,
      deepLinking: true,
      validatorUrl: null,
      presets: [SwaggerUIBundle.presets.apis],
      layout: 'BaseLayout',
    });
  });
});
`;

// Scripts and styles only from this service; Swagger UI sets inline styles and uses data: icons.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

/** Files of swagger-ui-dist that the page may load, and their types. */
const DIST_FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui.css.map': 'application/json',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'swagger-ui-bundle.js.map': 'application/json',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

/**
 * Where swagger-ui-dist is installed, resolved at run time from this module (or the bundle
 * in dist/): the package is not bundled, it is read from node_modules.
 */
function distDir(): string {
  return dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
}

/** GET /docs — the interactive API reference, rendering /openapi.json. */
export const getDocs: Handler = (request) => {
  // The page's URLs are relative to `…/docs`: send `…/docs/` there (relative, so it works behind proxies too).
  if (new URL(request.url).pathname.endsWith('/')) return new Response(null, { status: 308, headers: { location: '../docs' } });
  return new Response(PAGE, {
    headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP, 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' },
  });
};

/** GET /docs/assets/{file} — the page's scripts and styles, served by this service (no CDN). */
export const getDocsAsset: Handler = async (_request, ctx) => {
  const file = ctx.params.file ?? '';
  const headers = { 'x-content-type-options': 'nosniff', 'cache-control': 'public, max-age=3600' };
  if (file === 'docs.js') return new Response(INIT, { headers: { ...headers, 'content-type': 'text/javascript; charset=utf-8' } });
  const type = Object.hasOwn(DIST_FILES, file) ? DIST_FILES[file] : undefined;
  if (!type) throw notFound('not_found', 'No such documentation asset', { file: file.slice(0, 100) });
  const body = await readFile(join(distDir(), file));
  return new Response(body, { headers: { ...headers, 'content-type': type } });
};
