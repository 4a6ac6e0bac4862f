// Connection profiles: `~/.config/duckdb-storage/config.json` (or under $XDG_CONFIG_HOME),
// written with mode 0600 in a 0700 folder, because it holds API keys.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UsageError } from './errors.ts';

export interface Profile {
  url?: string;
  api_key?: string;
}

export interface ConfigFile {
  /** The profile used when none is named. */
  current: string;
  profiles: Record<string, Profile>;
}

export const DEFAULT_PROFILE = 'default';
const PROFILE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export function configPath(env: NodeJS.ProcessEnv): string {
  const base = env.XDG_CONFIG_HOME || (env.HOME ? join(env.HOME, '.config') : null);
  if (!base) throw new UsageError('Cannot tell where the configuration lives: set HOME or XDG_CONFIG_HOME');
  return join(base, 'duckdb-storage', 'config.json');
}

export function checkProfileName(name: string): string {
  if (!PROFILE_NAME.test(name)) throw new UsageError(`Invalid profile name ${JSON.stringify(name)}: use 1-64 of A-Z, a-z, 0-9, _, . or -`);
  return name;
}

export async function readConfig(path: string, warn: (text: string) => void): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { current: DEFAULT_PROFILE, profiles: {} };
    throw new UsageError(`Cannot read ${path}: ${(error as Error).message}`);
  }
  const mode = (await stat(path)).mode & 0o777;
  if (mode & 0o077) warn(`warning: ${path} is readable by other users (mode ${mode.toString(8)}); run chmod 600 on it\n`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError(`${path} is not valid JSON`);
  }
  const value = parsed as Partial<ConfigFile>;
  const profiles: Record<string, Profile> = {};
  if (value.profiles && typeof value.profiles === 'object') {
    for (const [name, profile] of Object.entries(value.profiles)) {
      if (!profile || typeof profile !== 'object') continue;
      profiles[name] = {
        ...(typeof profile.url === 'string' ? { url: profile.url } : {}),
        ...(typeof profile.api_key === 'string' ? { api_key: profile.api_key } : {}),
      };
    }
  }
  return { current: typeof value.current === 'string' ? value.current : DEFAULT_PROFILE, profiles };
}

/** Replaces the file atomically; it is created 0600 and never exists with a wider mode. */
export async function writeConfig(path: string, config: ConfigFile): Promise<void> {
  const folder = dirname(path);
  await mkdir(folder, { recursive: true, mode: 0o700 });
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    await chmod(temporary, 0o600);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/**
 * How a key may be shown: a project key by its safe prefix (`proj_123_read_...`, the form
 * the service logs), any other key only as set. Never the secret.
 */
export function maskKey(key: string | undefined): string {
  if (!key) return 'not set';
  const match = /^(proj_.+_(?:admin|write|read)_)[0-9a-f]{32}$/.exec(key);
  return match ? `${match[1]}... (hidden)` : 'set (hidden)';
}
