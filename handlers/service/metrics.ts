import type { Handler } from '../../src/context.ts';

/** GET /metrics — Prometheus text format (admin key). */
export const getMetrics: Handler = async (_request, ctx) => {
  const { body, contentType } = await ctx.services.metrics.render();
  return new Response(body, { headers: { 'content-type': contentType, 'cache-control': 'no-store' } });
};
