import type { Command } from 'commander';
import { group, leaf } from '../command.ts';
import type { CliIo } from '../context.ts';
import { renderObject } from '../output.ts';

export function registerService(program: Command, io: CliIo): void {
  const service = group(program, 'service', 'The service itself: version, health, storage folders, metrics', 'service health');

  leaf(service, io, 'info', {
    description: 'Service name and version (GET /)',
    examples: ['service info'],
    async action(ctx) {
      const info = await (await ctx.client()).service.info();
      if (ctx.json) ctx.printJson(info);
      else ctx.out(renderObject(info));
    },
  });

  leaf(service, io, 'health', {
    description: 'Whether every storage folder is there (exit 1 with storage_unavailable when not)',
    examples: ['service health'],
    async action(ctx) {
      const health = await (await ctx.client()).service.health();
      if (ctx.json) ctx.printJson(health);
      else ctx.out(renderObject({ status: health.status, version: health.version, ...health.details }));
    },
  });

  leaf(service, io, 'init', {
    description: 'Create and check the storage folders (admin key)',
    examples: ['service init'],
    async action(ctx) {
      const result = await (await ctx.client()).service.init();
      if (ctx.json) ctx.printJson(result);
      else ctx.out(result.message);
    },
  });

  leaf(service, io, 'remove', {
    description: 'Acknowledge backend removal; deletes nothing (admin key)',
    examples: ['service remove'],
    async action(ctx) {
      const result = await (await ctx.client()).service.remove();
      if (ctx.json) ctx.printJson(result);
      else ctx.out(result.message);
    },
  });

  leaf(service, io, 'metrics', {
    description: 'Prometheus metrics, as text (admin key)',
    examples: ['service metrics | grep imported_rows'],
    async action(ctx) {
      ctx.out(await (await ctx.client()).service.metrics());
    },
  });

  leaf(service, io, 'openapi', {
    description: 'The OpenAPI 3.1 document of every endpoint',
    examples: ['service openapi > openapi.json'],
    async action(ctx) {
      ctx.printJson(await (await ctx.client()).service.openapi());
    },
  });
}
