import { ConfigError, loadEnv, parseConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { startServer } from './server.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = parseConfig(loadEnv());
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger(config.logLevel);
  // A stray rejection (a client gone mid-stream, say) is logged, not a reason to take the
  // whole service and every request in flight down with it.
  process.on('unhandledRejection', (reason) => {
    logger.error({ event: 'unhandled_rejection', err: reason instanceof Error ? reason.message : String(reason) }, 'unhandled rejection');
  });
  const running = await startServer(config, logger);
  const onSignal = (signal: string) => {
    logger.info({ event: 'shutdown', signal }, 'signal received');
    running.stop().then(
      () => logger.flush(() => process.exit(0)),
      (error) => {
        logger.error({ event: 'shutdown', err: (error as Error).message }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
}

main().catch((error) => {
  process.stderr.write(`Failed to start: ${(error as Error).message}\n`);
  process.exit(1);
});
