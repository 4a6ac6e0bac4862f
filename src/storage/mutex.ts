/** A FIFO lock: `run` calls wait for every earlier call to settle. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;

  get waiting(): number {
    return this.pending;
  }

  run<T>(work: () => Promise<T>): Promise<T> {
    this.pending++;
    const result = this.tail.then(work, work);
    this.tail = result.then(
      () => this.pending--,
      () => this.pending--,
    );
    return result;
  }
}

/** One lock per key, forgotten when nobody holds or waits for it. */
export class KeyedMutex {
  private readonly locks = new Map<string, Mutex>();

  /** How many calls hold or wait for any lock. */
  get waiting(): number {
    let n = 0;
    for (const lock of this.locks.values()) n += lock.waiting;
    return n;
  }

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    let lock = this.locks.get(key);
    if (!lock) {
      lock = new Mutex();
      this.locks.set(key, lock);
    }
    try {
      return await lock.run(work);
    } finally {
      if (lock.waiting === 0 && this.locks.get(key) === lock) this.locks.delete(key);
    }
  }
}

/**
 * A readers–writer lock: many `shared` holders at once, or one `exclusive` holder. A
 * waiting exclusive caller blocks new shared ones, so it cannot starve.
 */
export class RwLock {
  private readers = 0;
  private writer = false;
  private readonly queue: { exclusive: boolean; wake: () => void }[] = [];

  get idle(): boolean {
    return this.readers === 0 && !this.writer && this.queue.length === 0;
  }

  /** How many callers hold or wait for the lock. */
  get waiting(): number {
    return this.readers + (this.writer ? 1 : 0) + this.queue.length;
  }

  async shared<T>(work: () => Promise<T>): Promise<T> {
    if (this.writer || this.queue.length) await new Promise<void>((wake) => this.queue.push({ exclusive: false, wake }));
    else this.readers++;
    try {
      return await work();
    } finally {
      this.readers--;
      this.pump();
    }
  }

  /** Takes the lock shared if that needs no wait (no holder or waiter exclusive); returns its release, or undefined. */
  tryShared(): (() => void) | undefined {
    if (this.writer || this.queue.length) return undefined;
    this.readers++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.readers--;
      this.pump();
    };
  }

  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (this.writer || this.readers || this.queue.length) await new Promise<void>((wake) => this.queue.push({ exclusive: true, wake }));
    else this.writer = true;
    try {
      return await work();
    } finally {
      this.writer = false;
      this.pump();
    }
  }

  /** Hands the lock to the next waiters: one exclusive, or every shared one in a row. */
  private pump(): void {
    if (this.writer) return;
    while (this.queue.length) {
      const next = this.queue[0]!;
      if (next.exclusive) {
        if (this.readers) return;
        this.queue.shift();
        this.writer = true;
        next.wake();
        return;
      }
      this.queue.shift();
      this.readers++;
      next.wake();
    }
  }
}

/** One readers–writer lock per key, forgotten when idle. */
export class KeyedRwLock {
  private readonly locks = new Map<string, RwLock>();

  /** How many calls hold or wait for any lock. */
  get waiting(): number {
    let n = 0;
    for (const lock of this.locks.values()) n += lock.waiting;
    return n;
  }

  run<T>(key: string, mode: 'shared' | 'exclusive', work: () => Promise<T>): Promise<T> {
    let lock = this.locks.get(key);
    if (!lock) {
      lock = new RwLock();
      this.locks.set(key, lock);
    }
    const held = lock;
    return held[mode](work).finally(() => {
      if (held.idle && this.locks.get(key) === held) this.locks.delete(key);
    });
  }

  /** `RwLock.tryShared` of the key's lock. */
  tryShared(key: string): (() => void) | undefined {
    const lock = this.locks.get(key) ?? new RwLock();
    const release = lock.tryShared();
    if (!release) return undefined;
    this.locks.set(key, lock);
    return () => {
      release();
      if (lock.idle && this.locks.get(key) === lock) this.locks.delete(key);
    };
  }
}

/**
 * Takes a lock through `take` (which runs what it is given once the lock is held) for
 * `work`, and gives up the wait when `signal` aborts: the promise rejects at once and the
 * turn, when it comes, passes without running `work`. Once `work` has started, the signal
 * no longer matters: its own outcome is the answer.
 */
export function abortableTurn<T>(take: (turn: () => Promise<T>) => Promise<T>, work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return take(work);
  let started = false;
  const result = take(() => {
    if (signal.aborted) return Promise.reject(signal.reason);
    started = true;
    return work();
  });
  result.catch(() => {});
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      if (!started) reject(signal.reason);
    };
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    result.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
