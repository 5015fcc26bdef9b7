/**
 * Counts finished jobs for a worker and lets a scenario wait for "N done".
 * A library that stops making progress fails the wait instead of hanging the
 * run, so a broken library makes the process exit non-zero.
 */
/** Anything with EventEmitter-style `on`: the libraries' queue and worker objects. */
export interface Emitter {
  // any[]: a listener of any shape, as EventEmitter types it (never[] would refuse typed overloads such as a Queue's)
  on(event: string, listener: (...args: any[]) => void): unknown;
}

export class Completions {
  count = 0;
  private failure?: Error;
  private waiters: Array<{ n: number; resolve(): void; reject(err: Error): void }> = [];
  private sums: Completions[] = [];

  /** Several workers' completions counted as one, to wait for "N done" over them all. */
  static sum(parts: readonly Completions[]): Completions {
    const total = new Completions();
    for (const p of parts) p.sums.push(total);
    return total;
  }

  add(k = 1): void {
    this.count += k;
    for (const s of this.sums) s.add(k);
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => {
      if (this.count < w.n) return true;
      w.resolve();
      return false;
    });
  }

  /** The library reported an error (a failed no-op job, a connection error): the run is void. */
  fail(err: unknown): void {
    this.failure ??= err instanceof Error ? err : new Error(String(err));
    for (const s of this.sums) s.fail(err);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(this.failure);
  }

  /**
   * Count the library's per-job completion event; its failure event (a no-op
   * job must not fail for good: planned failures are retried) and 'error' void
   * the run. `final` tells a failure for good from one that will be retried,
   * for a library that reports both with the same event.
   */
  follow(emitter: Emitter, events: { completed: string; failed: string; final?: (job: never) => boolean }): this {
    emitter.on(events.completed, () => this.add());
    emitter.on(events.failed, (job: unknown, err: unknown) => {
      if (!events.final || events.final(job as never)) this.fail(err);
    });
    emitter.on('error', (err: unknown) => this.fail(err));
    return this;
  }

  /** Resolve when `n` jobs are done; reject after `stallMs` without progress. */
  until(n: number, stallMs: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.count >= n) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let seen = this.count;
      // Checks progress rather than total time: a slow library is fine, a stuck one is not.
      const timer = setInterval(() => {
        if (this.count === seen) {
          this.fail(new Error(`no job finished for ${stallMs} ms: ${this.count} of ${n} done`));
        }
        seen = this.count;
      }, stallMs);
      this.waiters.push({
        n,
        resolve: () => {
          clearInterval(timer);
          resolve();
        },
        reject: (err) => {
          clearInterval(timer);
          reject(err);
        },
      });
    });
  }
}
