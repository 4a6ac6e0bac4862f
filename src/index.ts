/**
 * The package entry point, for embedding the API in another fetch server:
 *
 *   const services = await openServices(parseConfig(loadEnv()), createLogger('info'));
 *   const app = createApp(services, { basePath: '/storage' });
 *   // route `/storage/*` requests to app.fetch(request); call services.close() on shutdown
 */
export { createApp, type App, type AppOptions } from './app.ts';
export { ConfigError, loadEnv, parseConfig, type Config } from './config.ts';
export type { Handler, HandlerContext } from './context.ts';
export { HttpError } from './http/errors.ts';
export { callerForLog, createLogger } from './logger.ts';
export { createMetrics, type MetricSources, type Metrics } from './metrics.ts';
export { buildOpenApi, type OpenApiOptions } from './openapi.ts';
export { routes, type Method, type RouteDef } from './routes.ts';
export { startServer, type RunningServer } from './server.ts';
export { openServices, VERSION, type Services } from './services.ts';
