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
