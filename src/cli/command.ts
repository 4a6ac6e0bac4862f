import type { Command } from 'commander';
import { CliContext, type CliIo } from './context.ts';

/** The shared shape of every leaf command: a description, an example in --help, and an action with a context. */
export interface Leaf<O> {
  description: string;
  /** One or more example invocations, shown under --help. */
  examples: string[];
  action: (ctx: CliContext, args: string[], options: O) => Promise<void>;
}

export function leaf<O = Record<string, unknown>>(parent: Command, io: CliIo, usage: string, spec: Leaf<O>, configure?: (command: Command) => void): Command {
  const command = parent.command(usage).description(spec.description);
  configure?.(command);
  command.addHelpText('after', `\nExample${spec.examples.length > 1 ? 's' : ''}:\n${spec.examples.map((e) => `  $ duckdb-storage ${e}`).join('\n')}\n`);
  command.action(async (...params: unknown[]) => {
    const self = params[params.length - 1] as Command;
    const args = params.slice(0, -2) as string[];
    await spec.action(CliContext.of(io, self), args, self.opts() as O);
  });
  return command;
}

/** A resource command that only groups verbs (`tables`, `keys`, …). */
export function group(parent: Command, name: string, description: string, example: string): Command {
  return parent
    .command(name)
    .description(description)
    .addHelpText('after', `\nExample:\n  $ duckdb-storage ${example}\n`);
}
