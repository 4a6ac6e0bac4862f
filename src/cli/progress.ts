import cliProgress from 'cli-progress';
import type { TransferProgress } from '../client/index.ts';
import type { CliContext } from './context.ts';
import { formatBytes } from './output.ts';

export interface ProgressView {
  /** Feed it the client's progress callbacks. */
  update(progress: TransferProgress): void;
  /** Draws the final state and leaves the line. */
  stop(): void;
}

const SILENT: ProgressView = { update() {}, stop() {} };

/**
 * A byte progress bar on stderr while the transfer runs; nothing at all when the output is
 * not a terminal or --json is given, so scripts and pipes see only the result.
 */
export function transferBar(ctx: CliContext, label: string): ProgressView {
  if (!ctx.showProgress) return SILENT;
  const started = Date.now();
  let bar: cliProgress.SingleBar | undefined;
  let knownTotal: number | null = null;
  const payload = (bytes: number, total: number | null) => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001);
    return { label, done: formatBytes(bytes), size: total === null ? '?' : formatBytes(total), rate: `${formatBytes(Math.round(bytes / seconds))}/s` };
  };
  const start = (total: number | null) => {
    knownTotal = total;
    bar = new cliProgress.SingleBar(
      {
        stream: ctx.io.stderr as NodeJS.WriteStream,
        format: total === null ? '{label} {done} | {rate}' : '{label} [{bar}] {percentage}% | {done}/{size} | {rate}',
        hideCursor: true,
        clearOnComplete: false,
        barsize: 30,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total ?? 1, 0, payload(0, total));
  };
  return {
    update({ bytes, total }) {
      if (!bar) start(total);
      bar!.update(knownTotal === null ? 0 : Math.min(bytes, knownTotal), payload(bytes, knownTotal));
      if (knownTotal === null && total !== null) {
        // The end of a stream of unknown length: now the total is what went through.
        bar!.update(0, payload(bytes, total));
      }
    },
    stop() {
      bar?.stop();
    },
  };
}

/** What the status line shows of a job (§16). */
export interface JobState {
  id: string;
  status: string;
  progress: { rows: number; bytes: number };
}

export interface JobLineView {
  update(job: JobState): void;
  stop(): void;
}

/**
 * A live one-line status of a job on stderr (`job j_… processing · 120000 rows · 5.8 MiB`),
 * redrawn in place; nothing when the output is not a terminal.
 */
export function jobLine(ctx: CliContext, label = 'Job'): JobLineView {
  if (!ctx.showProgress) return { update() {}, stop() {} };
  const stream = ctx.io.stderr;
  let drawn = false;
  const started = Date.now();
  return {
    update(job) {
      const seconds = Math.round((Date.now() - started) / 1000);
      stream.write(`\r\x1b[2K${label} ${job.id} ${job.status} · ${job.progress.rows} rows · ${formatBytes(job.progress.bytes)} · ${seconds}s`);
      drawn = true;
    },
    stop() {
      if (drawn) stream.write('\n');
    },
  };
}
