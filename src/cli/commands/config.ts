import type { Command } from 'commander';
import { group, leaf } from '../command.ts';
import { checkProfileName, maskKey, type Profile } from '../config.ts';
import type { CliIo } from '../context.ts';
import { UsageError } from '../errors.ts';
import { renderObject, renderTable } from '../output.ts';

async function readStdin(io: CliIo): Promise<string> {
  let text = '';
  for await (const chunk of io.stdin) text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  return text.trim();
}

export function registerConfig(program: Command, io: CliIo): void {
  const config = group(program, 'config', 'Connection profiles: the server URL and API key, kept in a 0600 file', 'config set --url http://localhost:8000 --api-key-stdin < key.txt');

  leaf<{ url?: string; apiKey?: string; apiKeyStdin?: boolean; use?: boolean }>(
    config,
    io,
    'set',
    {
      description: 'Create or change a profile (the one named by --profile, else the current one)',
      examples: ['config set --url http://localhost:8000 --api-key-stdin < admin.key', '--profile p123 config set --url https://storage.example.com --api-key-stdin --use'],
      async action(ctx, _args, options) {
        // --url is the global option (a command's own --url would be shadowed by it).
        options = { ...options, url: ctx.globals.url };
        if (options.apiKey !== undefined && options.apiKeyStdin) throw new UsageError('Give --api-key or --api-key-stdin, not both');
        const apiKey = options.apiKeyStdin ? await readStdin(io) : options.apiKey;
        if (options.apiKeyStdin && !apiKey) throw new UsageError('No key on standard input');
        if (options.url !== undefined) {
          try {
            new URL(options.url);
          } catch {
            throw new UsageError(`Invalid URL ${JSON.stringify(options.url)}`);
          }
        }
        if (options.url === undefined && apiKey === undefined && !options.use) throw new UsageError('Nothing to set: give --url, --api-key-stdin or --use');
        const name = await ctx.profileName();
        const file = await ctx.config();
        const profile: Profile = { ...file.profiles[name] };
        if (options.url !== undefined) profile.url = options.url;
        if (apiKey !== undefined) profile.api_key = apiKey;
        const current = options.use || Object.keys(file.profiles).length === 0 ? name : file.current;
        await ctx.saveConfig({ current, profiles: { ...file.profiles, [name]: profile } });
        if (ctx.json) ctx.printJson({ profile: name, url: profile.url ?? null, api_key: maskKey(profile.api_key), current: current === name, config_file: ctx.configFile });
        else ctx.out(`Saved profile ${name}${current === name ? ' (current)' : ''} in ${ctx.configFile}: url ${profile.url ?? 'not set'}, key ${maskKey(profile.api_key)}`);
      },
    },
    (c) =>
      c
        .addHelpText('before', 'Options of the program apply: --url <url> sets the server URL, --profile <name> the profile.\n')
        .option('--api-key-stdin', 'read the API key from standard input (keeps it out of the shell history)')
        .option('--api-key <key>', 'the API key (visible in the process list: prefer --api-key-stdin)')
        .option('--use', 'also make this the current profile'),
  );

  leaf(config, io, 'show', {
    description: 'The connection in effect: profile, URL and where each comes from (the key is never shown)',
    examples: ['config show', '--profile p123 config show --json'],
    async action(ctx) {
      const connection = await ctx.connection();
      const view = {
        profile: connection.profile,
        url: connection.url ?? null,
        url_source: connection.urlSource,
        api_key: maskKey(connection.apiKey),
        api_key_source: connection.keySource,
        config_file: ctx.configFile,
      };
      if (ctx.json) ctx.printJson(view);
      else ctx.out(renderObject({ ...view, url: view.url ?? 'not set' }));
    },
  });

  leaf(config, io, 'list', {
    description: 'Every saved profile',
    examples: ['config list'],
    async action(ctx) {
      const file = await ctx.config();
      const profiles = Object.entries(file.profiles)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, p]) => ({ name, current: name === file.current, url: p.url ?? null, api_key: maskKey(p.api_key) }));
      if (ctx.json) ctx.printJson({ profiles, current: file.current });
      else if (!profiles.length) ctx.out(`No profiles yet (${ctx.configFile}); add one with \`duckdb-storage config set --url URL --api-key-stdin\``);
      else ctx.out(renderTable(['mark', 'name', 'url', 'api_key'], profiles.map((p) => ({ ...p, mark: p.current ? '*' : '' })), ['', 'profile', 'url', 'api key']));
    },
  });

  leaf(config, io, 'use <profile>', {
    description: 'Make a saved profile the current one',
    examples: ['config use p123'],
    async action(ctx, [name]) {
      const file = await ctx.config();
      if (!file.profiles[checkProfileName(name!)]) throw new UsageError(`No profile ${name}; saved: ${Object.keys(file.profiles).join(', ') || 'none'}`);
      await ctx.saveConfig({ ...file, current: name! });
      if (ctx.json) ctx.printJson({ current: name });
      else ctx.out(`Current profile: ${name}`);
    },
  });

  leaf(config, io, 'remove <profile>', {
    description: 'Forget a saved profile and its key',
    examples: ['config remove old-server'],
    async action(ctx, [name]) {
      const file = await ctx.config();
      if (!file.profiles[checkProfileName(name!)]) throw new UsageError(`No profile ${name}`);
      const { [name!]: _removed, ...profiles } = file.profiles;
      await ctx.saveConfig({ current: file.current === name ? 'default' : file.current, profiles });
      if (ctx.json) ctx.printJson({ removed: name });
      else ctx.out(`Removed profile ${name}`);
    },
  });
}
