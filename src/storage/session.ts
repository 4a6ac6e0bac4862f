import type { AttachmentRegistry } from './registry.ts';

/**
 * The attachments one request holds. `app` creates it per request and calls `releaseAll`
 * in a `finally`, so every table file a handler touched is given back, whatever happened.
 * A streamed response keeps its attachments until the stream ends: it calls `hold` and
 * releases them itself.
 */
export class StorageSession {
  private readonly held: string[] = [];

  constructor(private readonly registry: AttachmentRegistry) {}

  /** Attaches the table file and returns the alias to use in SQL for this request. */
  async attach(path: string): Promise<string> {
    const alias = await this.registry.acquire(path);
    this.held.push(path);
    return alias;
  }

  /**
   * Hands the attachments to a response stream: `releaseAll` at the end of the request
   * no longer frees them; the returned function does.
   */
  hold(): () => void {
    const paths = this.held.splice(0);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      for (const path of paths) this.registry.release(path);
    };
  }

  releaseAll(): void {
    for (const path of this.held.splice(0)) this.registry.release(path);
  }
}
