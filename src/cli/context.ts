import type { Command } from 'commander';
import { StorageClient } from '../client/index.ts';
import { configPath, DEFAULT_PROFILE, readConfig, writeConfig, checkProfileName, type ConfigFile } from './config.ts';
import { UsageError } from './errors.ts';

/** What the CLI reads and writes besides the network: injectable so tests can run it in-process. */
export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream;
}

export interface GlobalOptions {
  json?: boolean;
  profile?: string;
  url?: string;
  progress?: boolean;
}

export interface Connection {
  profile: string;
  url: string | undefined;
  apiKey: string | undefined;
  urlSource: 'flag' | 'env' | 'profile' | 'none';
  keySource: 'env' | 'profile' | 'none';
}

/** Per-invocation state handed to every command. */
export class CliContext {
  #config: ConfigFile | undefined;
  #client: StorageClient | undefined;

  constructor(
    readonly io: CliIo,
    readonly globals: GlobalOptions,
  ) {}

  static of(io: CliIo, command: Command): CliContext {
    return new CliContext(io, command.optsWithGlobals<GlobalOptions>());
  }

  get json(): boolean {
    return this.globals.json === true;
  }

  /** Progress bars only for a person watching: stdout and stderr on a terminal, not --json, not --no-progress. */
  get showProgress(): boolean {
    return !this.json && this.globals.progress !== false && this.io.stdout.isTTY === true && this.io.stderr.isTTY === true;
  }

  out(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  err(text: string): void {
    this.io.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** The API's JSON, as it came. */
  printJson(value: unknown): void {
    this.out(JSON.stringify(value, null, 2));
  }

  get configFile(): string {
    return configPath(this.io.env);
  }

  async config(): Promise<ConfigFile> {
    return (this.#config ??= await readConfig(this.configFile, (text) => this.io.stderr.write(text)));
  }

  async saveConfig(config: ConfigFile): Promise<void> {
    await writeConfig(this.configFile, config);
    this.#config = config;
  }

  async profileName(): Promise<string> {
    const name = this.globals.profile ?? this.io.env.DUCKDB_STORAGE_PROFILE ?? (await this.config()).current ?? DEFAULT_PROFILE;
    return checkProfileName(name);
  }

  /** URL and key: `--url`, then the environment, then the profile. */
  async connection(): Promise<Connection> {
    const profile = await this.profileName();
    const stored = (await this.config()).profiles[profile] ?? {};
    const env = this.io.env;
    const url = this.globals.url ?? (env.DUCKDB_STORAGE_URL || undefined) ?? stored.url;
    const urlSource = this.globals.url ? 'flag' : env.DUCKDB_STORAGE_URL ? 'env' : stored.url ? 'profile' : 'none';
    const apiKey = (env.DUCKDB_STORAGE_API_KEY || undefined) ?? stored.api_key;
    const keySource = env.DUCKDB_STORAGE_API_KEY ? 'env' : stored.api_key ? 'profile' : 'none';
    return { profile, url, apiKey, urlSource, keySource };
  }

  async client(): Promise<StorageClient> {
    if (this.#client) return this.#client;
    const { url, apiKey, profile } = await this.connection();
    if (!url) {
      throw new UsageError(
        `No server configured for profile ${profile}: run \`duckdb-storage config set --url URL --api-key-stdin\`, or set DUCKDB_STORAGE_URL and DUCKDB_STORAGE_API_KEY`,
      );
    }
    try {
      new URL(url);
    } catch {
      throw new UsageError(`Invalid server URL ${JSON.stringify(url)}`);
    }
    return (this.#client = new StorageClient({ url, apiKey, headers: { 'user-agent': 'duckdb-storage-cli' } }));
  }

  /** Stores a key the API just returned into a profile (with the current URL), for `--save-profile`. */
  async saveKey(profileName: string, apiKey: string): Promise<void> {
    const name = checkProfileName(profileName);
    const { url } = await this.connection();
    const config = await this.config();
    await this.saveConfig({ ...config, profiles: { ...config.profiles, [name]: { ...config.profiles[name], url, api_key: apiKey } } });
  }
}
