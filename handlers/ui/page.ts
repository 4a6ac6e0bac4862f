import type { Handler } from '../../src/context.ts';
import { notFound } from '../../src/http/errors.ts';

// Relative URLs: `/ui` → `ui/assets/…`, so the page works under any mount point. No inline
// script or style: the policy below allows files of this service only.
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>DuckDB Storage explorer</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="ui/assets/app.css">
<script src="ui/assets/app.js" defer></script>
</head>
<body>
<noscript>The explorer needs JavaScript.</noscript>
<div id="app"></div>
</body>
</html>
`;

/** Strict: files of this service only, API calls to this service only, no inline code. */
export const UI_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const SECURITY_HEADERS = {
  'content-security-policy': UI_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** GET /ui — the data explorer page; it needs no key, the person enters one in the page. */
export const getUiPage: Handler = (request) => {
  if (new URL(request.url).pathname.endsWith('/')) return new Response(null, { status: 308, headers: { location: '../ui' } });
  return new Response(PAGE, { headers: { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' } });
};

const TYPES: Record<string, string> = { 'app.js': 'text/javascript; charset=utf-8', 'app.css': 'text/css; charset=utf-8' };

/** GET /ui/assets/{file} — the explorer's script and stylesheet, built from src/ui/. */
export const getUiAsset: Handler = async (_request, ctx) => {
  const file = ctx.params.file ?? '';
  const type = Object.hasOwn(TYPES, file) ? TYPES[file] : undefined;
  if (!type) throw notFound('not_found', 'No such explorer asset', { file: file.slice(0, 100) });
  const files = await ctx.services.ui.files();
  return new Response(file === 'app.js' ? files.js : files.css, { headers: { ...SECURITY_HEADERS, 'content-type': type, 'cache-control': 'no-cache' } });
};
