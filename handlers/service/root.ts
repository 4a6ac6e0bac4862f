import type { Handler } from '../../src/context.ts';
import { json } from '../../src/http/respond.ts';

/** GET / — what this service is and where to look next. */
export const getRoot: Handler = (_request, ctx) =>
  json({ service: 'DuckDB Storage API', version: ctx.services.version, health: '/health', docs: '/docs' });
