import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Where tests/docs-browser.test.ts expects Debian's Chromium. */
export const CHROMIUM = '/usr/bin/chromium';

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
}

/**
 * vitest globalSetup: the browser test drives Debian's Chromium, which fresh machines lack.
 * As root (CI, developer machines) it is installed with apt-get; otherwise the browser
 * test reports how to install it. SKIP_BROWSER_TESTS=1 skips both.
 */
export default function setup(): void {
  if (process.env.SKIP_BROWSER_TESTS === '1' || existsSync(CHROMIUM)) return;
  if (process.platform !== 'linux' || process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
    process.stderr.write(`[setup] ${CHROMIUM} is missing and cannot be installed here (needs root and apt-get): install Debian's chromium package\n`);
    return;
  }
  process.stderr.write('[setup] installing Debian chromium for the browser test (apt-get)\n');
  // Wait for the dpkg lock rather than fail when another apt run holds it.
  const lock = ['-o', 'DPkg::Lock::Timeout=600'];
  run('apt-get', [...lock, 'update', '-qq']);
  run('apt-get', [...lock, 'install', '-y', '-qq', 'chromium']);
}
