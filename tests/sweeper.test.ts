import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Sweeper } from '../src/storage/sweeper.ts';
import { manualClock } from './helpers.ts';

describe('Sweeper.runNow', () => {
  it('resolves after a pass that started after the call, also while a pass is under way', async () => {
    // The services start a pass at once (start()); a test that then moves the clock and calls
    // runNow() joined that pass, which had read the clock before it moved: nothing due at the
    // new time was removed.
    const clock = manualClock(new Date('2027-01-01T00:00:00.000Z'));
    const sweeper = new Sweeper(clock, pino({ level: 'silent' }));
    const seen: string[] = [];
    let reached!: () => void;
    const inside = new Promise<void>((resolve) => (reached = resolve));
    let open!: () => void;
    /** Holds the first pass inside its task, after it read the clock. */
    let hold: Promise<void> | undefined = new Promise<void>((resolve) => (open = resolve));
    sweeper.register({
      name: 'probe',
      async sweep(now) {
        seen.push(now.toISOString());
        if (hold) {
          const wait = hold;
          hold = undefined;
          reached();
          await wait;
        }
        return 0;
      },
    });
    const first = sweeper.runNow();
    await inside; // the first pass has read the clock and is still running
    clock.advance(86_400_000);
    const second = sweeper.runNow();
    const third = sweeper.runNow();
    open();
    await first;
    await Promise.all([second, third]);
    // One more pass for both calls made while the first ran, at the clock they saw.
    expect(seen).toEqual(['2027-01-01T00:00:00.000Z', '2027-01-02T00:00:00.000Z']);
    await sweeper.runNow();
    expect(seen).toHaveLength(3);
    await sweeper.stop();
    await sweeper.runNow();
    expect(seen).toHaveLength(3);
  });
});
