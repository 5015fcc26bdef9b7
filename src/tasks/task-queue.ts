/**
 * Ivy's tasks on a convoy queue: functions registered by name on producers and
 * consumers alike, called from a producer as if they were local
 * (`delayedCall`), run on a consumer (`listen`), their outcome sent back over
 * the notifier (notifier.ts). A call is a job `{ task, arguments }` whose ID is
 * the task name and a hash of its arguments: overlapping calls with equal
 * arguments share one run and its result. A producer's calls wait for their
 * outcome in waits.ts. Reaches the core only through its public API.
 */
import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';
import createDebug from 'debug';
import {
  AlreadyProcessingError,
  InvalidArgumentError,
  InvalidOptionError,
  Job,
  QueueClosedError,
  RemoteJobError,
  createQueue,
  describeError,
  type ActiveJob,
  type JobOptions,
  type Queue,
  type QueueOptions,
} from '../index.js';
import { canonicalJson } from './canonical.js';
import { Notifier, encode, type Outcome } from './notifier.js';
import { TaskTimeoutError, UnknownTaskError } from './errors.js';
import { CallWaits } from './waits.js';
import { TASK_OPTION_KEYS, type CallOptions, type TaskCall, type TaskCallback, type TaskFunction, type TaskOptions, type TaskPayload, type TaskQueueOptions, type TaskStatus } from './types.js';

export type { CallOptions, TaskCall, TaskCallback, TaskFunction, TaskOptions, TaskPayload, TaskQueueOptions, TaskStatus } from './types.js';

const log = createDebug('convoy:tasks');

interface Task {
  readonly fn: TaskFunction;
  readonly name: string;
  readonly callback: boolean;
  readonly unique: boolean;
  readonly jobOptions: JobOptions | undefined;
}

const HASH_CHARS = 32;

export class TaskQueue extends EventEmitter {
  readonly name: string;
  /** The core queue the calls are added to (a consumer runs them on a second queue object, made by listen). */
  readonly queue: Queue<TaskPayload>;
  private readonly queueOptions: QueueOptions;
  private readonly byName = new Map<string, Task>();
  private readonly byFn = new Map<TaskFunction, Task>();
  private readonly notifying = new Set<Promise<void>>();
  /** Consumer: the runs whose result went out before the core kept it: the message, and how many callers got it. */
  private readonly early = new WeakMap<ActiveJob<TaskPayload>, { message: string; sent: Promise<number> }>();
  private readonly notifier: Notifier;
  /** Producer: the calls waiting for their outcome. */
  private readonly waits: CallWaits;
  /** The queue keeps what it stores encrypted: messages carry no outcome, producers read the kept result. */
  private readonly sealed: boolean;
  private consumer?: Queue<TaskPayload>;
  private closing?: Promise<void>;

  constructor(name: string, options: TaskQueueOptions = {}) {
    super();
    const { fallbackInterval = 5000, ...queueOptions } = options ?? {};
    if (typeof fallbackInterval !== 'number' || !(fallbackInterval >= 10 && fallbackInterval <= 2 ** 31 - 1)) {
      throw new InvalidOptionError(`task queue option \`fallbackInterval\` must be ms from 10 to 2^31 - 1, got ${show(fallbackInterval)}`);
    }
    if (queueOptions.keepResults === false) {
      throw new InvalidOptionError('task queues need the queue to keep results (keepResults): a producer that misses a message reads the kept result');
    }
    this.queueOptions = queueOptions;
    this.queue = createQueue<TaskPayload>(name, queueOptions);
    this.name = this.queue.name;
    this.queue.on('error', (err) => this.onError(err, 'the queue'));
    const { keepResults, encryption, redis, prefix } = this.queue.options;
    this.sealed = encryption !== undefined;
    this.notifier = new Notifier(redis, `${prefix}:{${this.name}}`, keepResults ? keepResults.age : undefined, {
      onMessage: (message) => this.waits.onMessage(message),
      onReconnect: () => this.waits.checkRegistered(),
      onError: (err, what) => this.onError(err, what),
    });
    this.waits = new CallWaits({
      name: this.name,
      notifier: this.notifier,
      fallbackInterval,
      getJob: (id) => this.queue.getJob(id),
      onError: (err, what) => this.onError(err, what),
    });
  }

  /**
   * Register `fn` as a task, on producers and consumers alike. Registering the
   * same function under the same name again does nothing; another function
   * under a name taken, or one function under two names, throws.
   */
  registerTask(fn: TaskFunction, options: TaskOptions = {}): void {
    this.assertOpen('registerTask');
    if (typeof fn !== 'function') throw new InvalidArgumentError(`registerTask takes a function, got ${show(fn)}`);
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`registerTask takes options as an object, got ${show(options)}`);
    for (const key of Object.keys(options)) {
      if (!(TASK_OPTION_KEYS as readonly string[]).includes(key)) throw new InvalidOptionError(`unknown task option \`${key}\`; the options are ${TASK_OPTION_KEYS.join(', ')}`);
    }
    const { name = fn.name, callback = false, unique = true, attempts, timeout, backoff, priority } = options;
    if (typeof name !== 'string' || name === '') {
      throw new InvalidArgumentError(`registerTask needs a name for an anonymous function: registerTask(fn, { name: 'package.task' }); got ${show(options.name)}`);
    }
    for (const [key, value] of Object.entries({ callback, unique })) {
      if (typeof value !== 'boolean') throw new InvalidOptionError(`task option \`${key}\` must be a boolean, got ${show(value)}`);
    }
    const given = Object.entries({ attempts, timeout, backoff, priority }).filter(([, v]) => v !== undefined);
    const jobOptions = given.length ? (Object.fromEntries(given) as JobOptions) : undefined;
    // The longest ID a call can have, with these options: a bad name or option is refused now.
    new Job(`${name}:${'0'.repeat(Math.max(HASH_CHARS, 36))}`, undefined, jobOptions);
    const taken = this.byName.get(name);
    if (taken?.fn === fn) return;
    if (taken) throw new InvalidArgumentError(`task name ${JSON.stringify(name)} is already registered on task queue ${JSON.stringify(this.name)} with another function`);
    const other = this.byFn.get(fn);
    if (other) throw new InvalidArgumentError(`this function is already registered as task ${JSON.stringify(other.name)}`);
    const task: Task = { fn, name, callback, unique, jobOptions };
    this.byName.set(name, task);
    this.byFn.set(fn, task);
  }

  /**
   * Call a task (by name or function) with JSON arguments; resolves with its
   * result, rejects with a RemoteJobError when it failed for good. With a
   * function as the last argument, that is a Node-style callback instead:
   * `(err)` or `(null, result)`, and for a `callback` task `(null, ...results)`.
   * (A function can never be a task argument, so the last one is unambiguous.)
   */
  delayedCall(task: string | TaskFunction, ...args: [...args: unknown[], callback: TaskCallback]): void;
  delayedCall<R = unknown>(task: string | TaskFunction, ...args: unknown[]): Promise<R>;
  delayedCall(task: string | TaskFunction, ...args: unknown[]): Promise<unknown> | void {
    return this.invoke({}, task, args);
  }

  /** delayedCall with options for this call: `callWith({ timeout: 5000 }, 'pkg.task', ...args)`. */
  callWith(options: CallOptions, task: string | TaskFunction, ...args: [...args: unknown[], callback: TaskCallback]): void;
  callWith<R = unknown>(options: CallOptions, task: string | TaskFunction, ...args: unknown[]): Promise<R>;
  callWith(options: CallOptions, task: string | TaskFunction, ...args: unknown[]): Promise<unknown> | void {
    return this.invoke(options, task, args);
  }

  /**
   * Call a task and get its job ID at once (for `status`) beside its result.
   * Throws at once for a task not registered or arguments JSON would change.
   */
  call<R = unknown>(task: string | TaskFunction, ...args: unknown[]): TaskCall<R> {
    return this.start<R>({}, task, args);
  }

  /**
   * Where a call is (Ivy's task status), by its job ID; null for an ID the
   * queue neither holds nor keeps a result of (unknown, or a result older
   * than keepResults).
   */
  async status(id: string): Promise<TaskStatus | null> {
    this.assertOpen('status');
    if (typeof id !== 'string' || id === '') throw new InvalidArgumentError(`status takes a call's job ID, got ${show(id)}`);
    const [info, doneAt] = await Promise.all([this.queue.getJob(id), this.notifier.doneAt(id)]);
    if (!info) return null;
    if (info.state === 'completed') return doneAt !== null && doneAt >= info.finishedAt! ? 'done' : 'successful';
    return info.state === 'processing' ? 'running' : info.state === 'failed' ? 'errored' : 'scheduled';
  }

  /**
   * Run the registered tasks' calls, up to `concurrency` at a time, and send
   * their outcomes back to the producers. A call of a task not registered here
   * fails for good with an UnknownTaskError (its failure record names the task).
   */
  async listen(options: { concurrency?: number } = {}): Promise<void> {
    this.assertOpen('listen');
    if (this.consumer) throw new AlreadyProcessingError(`task queue ${JSON.stringify(this.name)} is already listening`);
    const { concurrency, ...rest } = options ?? {};
    const unknown = Object.keys(rest);
    if (unknown.length) throw new InvalidOptionError(`unknown listen option \`${unknown[0]}\`; the option is concurrency`);
    const consumer = createQueue<TaskPayload>(this.name, concurrency === undefined ? this.queueOptions : { ...this.queueOptions, concurrency });
    this.consumer = consumer;
    consumer.on('error', (err) => this.onError(err, 'the consumer'));
    // 'failed' is a failure for good ('retrying' is not an outcome); both come once the outcome is kept
    consumer.on('completed', (job, result) => this.notify(job.id, { r: result }, this.early.get(job)));
    consumer.on('failed', (job, err) => this.notify(job.id, { e: describeError(err) }));
    consumer.process((job) => this.run(job));
  }

  /**
   * Stop listening (running tasks finish and their producers are notified),
   * reject the calls still waiting with a QueueClosedError, and let go of the
   * connections.
   */
  close(options: { timeout?: number } = {}): Promise<void> {
    this.closing ??= (async () => {
      this.waits.stop();
      await Promise.allSettled([this.consumer?.close(options), this.queue.close(options)]);
      while (this.notifying.size) await Promise.allSettled([...this.notifying]);
      const closed = new QueueClosedError(`task queue ${JSON.stringify(this.name)} closed before the result came`);
      this.waits.rejectAll(closed);
      this.notifier.close();
    })();
    return this.closing;
  }

  // ---- producer

  private invoke(options: CallOptions, task: string | TaskFunction, args: unknown[]): Promise<unknown> | void {
    const callback = typeof args.at(-1) === 'function' ? (args.pop() as TaskCallback) : undefined;
    let call: TaskCall;
    try {
      call = this.start(options, task, args);
    } catch (err) {
      if (!callback) return Promise.reject(err as Error);
      process.nextTick(() => callback(err as Error));
      return;
    }
    if (!callback) return call.result;
    const spread = this.lookup(task).callback;
    call.result.then(
      (result) => process.nextTick(() => (spread ? callback(null, ...(result as unknown[])) : callback(null, result))),
      (err: Error) => process.nextTick(() => callback(err)),
    );
  }

  private start<R>(options: CallOptions, target: string | TaskFunction, args: unknown[]): TaskCall<R> {
    this.assertOpen('delayedCall');
    const timeout = checkCallOptions(options);
    const task = this.lookup(target);
    const canonical = canonicalJson(args);
    const id = task.unique ? `${task.name}:${createHash('sha256').update(canonical).digest('hex').slice(0, HASH_CHARS)}` : `${task.name}:${randomUUID()}`;
    const job = new Job<TaskPayload>(id, { task: task.name, arguments: args }, task.jobOptions);
    const { wait, waiter, outcome } = this.waits.join(id);
    const result = (async () => {
      let timer: NodeJS.Timeout | undefined;
      if (timeout !== undefined) {
        timer = setTimeout(() => waiter.reject(new TaskTimeoutError(`task call ${id} had no result within ${timeout} ms (the task goes on)`)), timeout);
      }
      try {
        // Subscribed before any registration: a message sent to this producer's channel reaches it.
        if (!this.notifier.subscribed) await this.notifier.subscribe();
        const added = this.queue.addJob(job);
        void this.waits.register(id, wait, added);
        await added;
        const o = await outcome;
        if ('e' in o) throw new RemoteJobError(o.e.message, o.e, id);
        return o.r as R;
      } finally {
        clearTimeout(timer);
        this.waits.leave(id, wait, waiter);
      }
    })();
    return { id, result };
  }

  private lookup(target: string | TaskFunction): Task {
    if (typeof target !== 'string' && typeof target !== 'function') {
      throw new InvalidArgumentError(`a task is called by its name or function, got ${show(target)}`);
    }
    const task = typeof target === 'string' ? this.byName.get(target) : this.byFn.get(target);
    if (!task) {
      const what = typeof target === 'string' ? JSON.stringify(target) : `function ${target.name || '(anonymous)'}`;
      throw new UnknownTaskError(`task ${what} is not registered on task queue ${JSON.stringify(this.name)}: register it with registerTask, on producers and consumers alike`);
    }
    return task;
  }

  // ---- consumer

  private async run(job: ActiveJob<TaskPayload>): Promise<unknown> {
    const { task: name, arguments: args } = (job.payload ?? {}) as Partial<TaskPayload>;
    const task = typeof name === 'string' ? this.byName.get(name) : undefined;
    if (!task || !Array.isArray(args)) {
      throw new UnknownTaskError(
        task
          ? `job ${job.id} is not a task call (no arguments array)`
          : `task ${JSON.stringify(name)} is not registered on this consumer of task queue ${JSON.stringify(this.name)} (job ${job.id}): register it with registerTask`,
      );
    }
    const result = task.callback
      ? await new Promise((resolve, reject) => {
          task.fn(...args, (err: unknown, ...results: unknown[]) => (err ? reject(err) : resolve(results)));
        })
      : await task.fn(...args);
    // A result is final (no retry follows it): send it now, beside the core's write rather than after it
    // (a round trip sooner), unless the run lost its claim or timed out: the core then records something
    // else. The worker takes the result in this same tick, before any timer can fire.
    if (!job.signal.aborted && !this.sealed) {
      const message = encode([job.id, { r: result }]);
      this.early.set(job, { message, sent: this.send(job.id, message) });
    }
    return result;
  }

  /**
   * A run's outcome is kept ('completed', 'failed'): send it to the callers
   * registered since its result went out (`early`; all of them without), and
   * write down its end, and whether anyone got it. A caller that registers
   * later reads the kept result (see register).
   */
  private notify(id: string, outcome: Outcome, early?: { message: string; sent: Promise<number> }): void {
    const message = early?.message ?? encode(this.sealed ? [id] : [id, outcome]);
    void this.send(id, message, early?.sent ?? Promise.resolve(0));
  }

  /** Publish `message` (`before`: the outcome is kept, and how many got it already); resolves with how many got it. */
  private send(id: string, message: string, before?: Promise<number>): Promise<number> {
    const sent = (async () => {
      try {
        return await this.notifier.publish(id, message, before && (await before));
      } catch (err) {
        this.onError(err, `notifying the producers of ${id}`);
        return 0;
      }
    })();
    const tracked = sent.then(() => undefined);
    this.notifying.add(tracked);
    void tracked.finally(() => this.notifying.delete(tracked));
    return sent;
  }

  private assertOpen(call: string): void {
    if (this.closing) throw new QueueClosedError(`task queue ${JSON.stringify(this.name)} is closed; ${call}() cannot run after close()`);
  }

  /** Background errors go to 'error' listeners; without one they are only logged. */
  private onError(err: unknown, what: string): void {
    const error = err instanceof Error ? err : new Error(String(err));
    log('%s: %s: %s', this.name, what, error.message);
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }
}

function checkCallOptions(options: CallOptions): number | undefined {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError(`callWith takes options as an object, got ${show(options)}`);
  const { timeout, ...rest } = options;
  const unknown = Object.keys(rest);
  if (unknown.length) throw new InvalidOptionError(`unknown call option \`${unknown[0]}\`; the option is timeout`);
  if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout > 0 && timeout <= 2 ** 31 - 1))) {
    throw new InvalidOptionError(`call option \`timeout\` must be ms from 1 to 2^31 - 1, got ${show(timeout)}`);
  }
  return timeout;
}

function show(value: unknown): string {
  return inspect(value, { depth: 1, breakLength: Infinity });
}

/** A task queue named `name` (a convoy queue of that name holds its calls). */
export function createTaskQueue(name: string, options?: TaskQueueOptions): TaskQueue {
  return new TaskQueue(name, options);
}
