/**
 * A producer's waiting calls: the calls waiting for one job ID share one
 * registration with the notifier (notifier.ts), and end by its message or,
 * on a timer or when a message may have been missed, by the fallback, which
 * reads the queue's kept result. Owns no connection: the task queue hands it
 * the notifier and the queue's reads.
 */
import createDebug from 'debug';
import { JobRemovedError, type JobInfo, type RemoteErrorInfo } from '../index.js';
import type { Message, Notifier, Outcome } from './notifier.js';
import type { TaskPayload } from './types.js';

const log = createDebug('convoy:tasks');

export interface Waiter {
  resolve(outcome: Outcome): void;
  reject(err: Error): void;
}

/** The calls of one producer waiting for one ID: one registration between them. */
export interface Wait {
  readonly waiters: Set<Waiter>;
  /** When the first call began (local clock ms). */
  readonly began: number;
  /** Its registration was sent: a wait that ends other than by its message takes it back. */
  joined: boolean;
  /**
   * Set once its registration and add replied: from then on the fallback reads
   * its kept result, and takes one of a run that finished since this time
   * (Redis clock ms): see JUST_FINISHED_MS.
   */
  since?: number;
}

/** What the waits need of their task queue. */
export interface WaitsHost {
  /** The queue's name, for the log. */
  readonly name: string;
  readonly notifier: Notifier;
  /** How often the fallback reads the registered waits' kept results (ms). */
  readonly fallbackInterval: number;
  /** The core queue's read of a job and its kept result. */
  getJob(id: string): Promise<JobInfo<TaskPayload> | null>;
  onError(err: unknown, what: string): void;
}

/**
 * The fallback takes a result kept up to this long before a call began as the
 * call's: a run that "just finished".
 */
const JUST_FINISHED_MS = 1000;
/** Kept results read at once by the fallback. */
const CHECK_BATCH = 100;

export class CallWaits {
  private readonly waits = new Map<string, Wait>();
  /**
   * Redis clock minus local clock (ms), from the last registration's reply:
   * a little low (the reply came after the registration), so a `since` from
   * it errs early, whatever the two clocks say.
   */
  private offset = 0;
  private checkTimer?: NodeJS.Timeout;
  /** The task queue is closing: a registration that fails is no longer worth an error. */
  private stopped = false;

  constructor(private readonly host: WaitsHost) {}

  /** This call's place among the calls of this producer waiting for `id`. */
  join(id: string): { wait: Wait; waiter: Waiter; outcome: Promise<Outcome> } {
    let wait = this.waits.get(id);
    if (!wait) {
      wait = { waiters: new Set(), began: Date.now(), joined: false };
      this.waits.set(id, wait);
      this.checkTimer ??= setInterval(() => this.checkRegistered(), this.host.fallbackInterval).unref();
    }
    let waiter!: Waiter;
    const outcome = new Promise<Outcome>((resolve, reject) => (waiter = { resolve, reject }));
    outcome.catch(() => undefined); // a timeout may come before the call awaits it
    wait.waiters.add(waiter);
    return { wait, waiter, outcome };
  }

  /**
   * Register this producer for `id`'s outcome at the same time as the add (on
   * another connection, neither waiting for the other); once both replied,
   * read the kept result if a run of the ID ended since the call began. Only
   * a wait's first call registers it; a wait that ended has nothing to register.
   *
   * Why no outcome is missed: the run the call joins or starts ends after the
   * add. The consumer's script that sends a run's message once the core kept
   * its outcome reads the callers set and writes down when the run ended. If
   * it ran after our registration, the message comes (the channel was
   * subscribed before). If it ran before, the run ended after the call began
   * and before the registration, which sees that end (or a later one), so we
   * read; the read, sent after the registration, finds the outcome, unless a
   * newer run of the ID began in between: that one is still in the queue at
   * the read, so its script runs after the registration, and its message
   * comes. (A result sent early, as the task returned, changes nothing here:
   * the script after the core kept it sends it to whoever registered since.)
   * Most calls see no end since they began, and cost no read.
   */
  async register(id: string, wait: Wait, added: Promise<unknown>): Promise<void> {
    if (wait.joined || this.waits.get(id) !== wait) return;
    wait.joined = true;
    const [joined] = await Promise.allSettled([this.host.notifier.join(id), added]);
    let read = true;
    if (joined.status === 'fulfilled') {
      this.offset = joined.value.now - Date.now();
      wait.since = wait.began + this.offset - JUST_FINISHED_MS;
      read = joined.value.endedAt !== null && joined.value.endedAt >= wait.since;
    } else {
      if (!this.stopped) this.host.onError(joined.reason, `registering for the outcome of ${id}`);
      wait.since = wait.began + this.offset - JUST_FINISHED_MS;
    }
    // An add that failed rejects its call; the calls that joined it made adds of their own.
    if (read && this.waits.get(id) === wait) await this.check([id]);
  }

  /** A message on this producer's channel: the outcome of a run of `id`, or (a queue with encryption) only its end. */
  onMessage([id, outcome]: Message): void {
    const wait = this.waits.get(id);
    if (!wait) return;
    if (outcome) this.settle(id, wait, (w) => w.resolve(outcome), 'message');
    // The run ended after this producer's registration: its kept result is this wait's, whatever `since` says.
    else void this.check([id], true);
  }

  /** The fallback's round, on its timer and when messages may have been missed: read every registered wait's kept result. */
  checkRegistered(): void {
    void this.check(this.registered());
  }

  /** A call ended (with its outcome, a timeout or an error); the last of its wait takes the registration back. */
  leave(id: string, wait: Wait, waiter: Waiter): void {
    wait.waiters.delete(waiter);
    if (wait.waiters.size === 0 && this.waits.get(id) === wait) {
      this.waits.delete(id);
      if (wait.joined) this.host.notifier.leave(id);
      this.stopChecking();
    }
  }

  /** The task queue is closing: the fallback's timer stops, the waits stay until rejectAll. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.checkTimer);
  }

  /** End every call still waiting with `err`. */
  rejectAll(err: Error): void {
    for (const [id, wait] of [...this.waits]) this.settle(id, wait, (w) => w.reject(err), 'closed');
  }

  /** IDs whose registration and add replied: those the fallback reads. */
  private registered(): string[] {
    return [...this.waits].flatMap(([id, wait]) => (wait.since === undefined ? [] : [id]));
  }

  /**
   * End every call waiting for `id`: by its message, by its kept result, or
   * because the queue closed. A registration the consumer's script did not
   * consume is taken back, so no later run counts this producer as notified.
   */
  private settle(id: string, wait: Wait | undefined, end: (w: Waiter) => void, how: 'message' | 'read' | 'closed'): void {
    if (!wait || this.waits.get(id) !== wait) return;
    this.waits.delete(id);
    for (const w of wait.waiters) end(w);
    if (how === 'read' && wait.joined) this.host.notifier.leave(id);
    this.stopChecking();
  }

  private stopChecking(): void {
    if (this.waits.size > 0) return;
    clearInterval(this.checkTimer);
    this.checkTimer = undefined;
  }

  /**
   * The fallback: read the core's kept results of `ids` (registered waits;
   * `afterMessage`: a message said the run ended) and end the waits whose
   * run's outcome they hold.
   */
  private async check(ids: readonly string[], afterMessage = false): Promise<void> {
    for (let i = 0; i < ids.length; i += CHECK_BATCH) {
      const chunk = ids.slice(i, i + CHECK_BATCH);
      const infos = await Promise.all(chunk.map((id) => this.host.getJob(id).catch((err: unknown) => this.host.onError(err, `reading the kept result of ${id}`))));
      chunk.forEach((id, k) => {
        const wait = this.waits.get(id);
        const info = infos[k];
        if (wait && info !== undefined) this.readOutcome(id, wait, info, afterMessage);
      });
    }
  }

  private readOutcome(id: string, wait: Wait, info: JobInfo<TaskPayload> | null, afterMessage: boolean): void {
    const how = afterMessage ? 'message' : 'read';
    if (info === null) {
      // Not in the queue, no kept result, after this producer's add: removed (or its result trimmed); nothing will come.
      const removed = new JobRemovedError(`task call ${id} is not in the queue and has no kept result: it was removed, or its result is no longer kept`);
      this.settle(id, wait, (w) => w.reject(removed), how);
    } else if (info.state === 'completed' && (afterMessage || info.finishedAt! >= wait.since!)) {
      if (!afterMessage) log('%s: %s: result read from the queue (its message was missed)', this.host.name, id);
      this.settle(id, wait, (w) => w.resolve({ r: info.result }), how);
      if (!afterMessage) this.host.notifier.markDone(id, info.finishedAt!).catch((err) => this.host.onError(err, `marking ${id} done`));
    } else if (info.state === 'failed') {
      // After this producer's add, a failure record is of a run since (an add takes the ID out of failed).
      const { name = 'Error', message, stack, code, cause, data } = info.lastError!;
      const remote: RemoteErrorInfo = { name, message, stack, code, cause, data };
      for (const k of Object.keys(remote) as Array<keyof RemoteErrorInfo>) if (remote[k] === undefined) delete remote[k];
      this.settle(id, wait, (w) => w.resolve({ e: remote }), how);
    }
  }
}
