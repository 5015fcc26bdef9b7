/**
 * A pool of sandboxes (worker threads or child processes) that run a handler
 * module's jobs, one job per sandbox at a time. To the worker it is just an
 * async handler: at most `concurrency` jobs run at once, so at most that many
 * sandboxes live. A sandbox that dies fails its job and is replaced on demand;
 * one that served `maxJobsPerSandbox` jobs is recycled. A module that fails to
 * load fails jobs at once, without spawning, until a backoff has passed.
 */
import { fork } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker as Thread } from 'node:worker_threads';
import { SandboxError, UnrecoverableError } from '../errors.js';
import type { ActiveJob } from '../job.js';
import { log } from '../log.js';
import { errorData, fromErrorData, type ErrorData, type FromSandbox, type ToSandbox } from './protocol.js';

export type SandboxKind = 'thread' | 'process';

/** How long a sandbox may go on after its job's abort before it is terminated (ms). */
export const ABORT_GRACE_MS = 2000;
/** The first wait after a load failure before a sandbox tries to load the module again (ms); it doubles, up to LOAD_RETRY_MAX_MS. */
const LOAD_RETRY_MS = 1000;
const LOAD_RETRY_MAX_MS = 60_000;

/** child.ts, or child.js when running from the build. */
const ENTRY = new URL(`./child${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/** @internal Sandboxes spawned and alive in this process, for tests. */
export const sandboxCounts = { spawned: 0, alive: 0 };

interface Task {
  readonly job: ActiveJob;
  resolve(result: unknown): void;
  reject(err: Error): void;
  /** Stop listening to the job's signal and clear the grace timer. */
  cleanup(): void;
}

/** One thread or child process. */
class Sandbox {
  jobs = 0;
  /** Dead or being terminated: it takes no more jobs. */
  gone = false;
  readonly label: string;
  readonly loaded: Promise<void>;
  readonly exited: Promise<void>;
  private task?: Task;
  /** What a child process said of its uncaught exception, or a thread's error event. */
  private crash?: ErrorData;
  private readonly post: (message: ToSandbox) => void;
  private readonly terminate: () => void;
  private loadedSettled = false;
  private settleLoaded!: (err?: Error) => void;
  private onExit!: () => void;
  private dead = false;

  constructor(
    kind: SandboxKind,
    private readonly file: string,
  ) {
    this.loaded = new Promise<void>((resolve, reject) => {
      this.settleLoaded = (err) => {
        if (this.loadedSettled) return;
        this.loadedSettled = true;
        if (err) reject(err);
        else resolve();
      };
    });
    this.loaded.catch(() => undefined);
    this.exited = new Promise<void>((resolve) => (this.onExit = resolve));
    const receive = (message: FromSandbox) => this.receive(message);
    if (kind === 'thread') {
      // The parent's execArgv, as it is now: its --import loaders load .ts under tsx.
      const thread = new Thread(ENTRY, { workerData: { file }, execArgv: process.execArgv });
      this.label = `thread ${thread.threadId}`;
      thread.on('message', receive);
      thread.on('error', (err) => (this.crash = errorData(err)));
      thread.on('exit', (code) => this.ended(`exited with code ${code}`));
      this.post = (message) => thread.postMessage(message);
      this.terminate = () => void thread.terminate();
    } else {
      const child = fork(fileURLToPath(ENTRY), [file], { execArgv: process.execArgv, serialization: 'advanced' });
      this.label = `process ${child.pid}`;
      child.on('message', receive);
      child.on('error', (err) => {
        // Failed to spawn or to send: a live child is killed, and 'exit' follows.
        this.crash ??= errorData(err);
        if (child.pid === undefined) this.ended('could not start');
        else child.kill('SIGKILL');
      });
      child.on('exit', (code, signal) => this.ended(signal ? `was killed by ${signal}` : `exited with code ${code}`));
      this.post = (message) => {
        if (child.connected) child.send(message, undefined, undefined, () => undefined);
      };
      this.terminate = () => void child.kill('SIGKILL');
    }
    sandboxCounts.spawned++;
    sandboxCounts.alive++;
  }

  /** Run one job; rejects with a SandboxError when the sandbox dies meanwhile. */
  run(job: ActiveJob): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let grace: NodeJS.Timeout | undefined;
      const onAbort = () => {
        this.send({ type: 'abort', reason: errorData(job.signal.reason) });
        grace = setTimeout(() => this.kill(`job ${job.id} did not end within ${ABORT_GRACE_MS} ms of its abort`), ABORT_GRACE_MS);
      };
      this.jobs++;
      this.task = { job, resolve, reject, cleanup: () => (clearTimeout(grace), job.signal.removeEventListener('abort', onAbort)) };
      this.send({ type: 'run', job: { id: job.id, payload: job.payload, attempt: job.attempt, startedAt: job.startedAt, options: job.options } });
      if (job.signal.aborted) onAbort();
      else job.signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Terminate it; a job it runs fails with `why`. */
  kill(why: string): void {
    this.gone = true;
    this.settle(new SandboxError(`the sandbox (${this.label}) was terminated: ${why}`));
    this.terminate();
  }

  private send(message: ToSandbox): void {
    try {
      this.post(message);
    } catch (err) {
      // Data that cannot cross (structured clone): the job fails, the sandbox stays.
      if (message.type === 'run') this.settle(new SandboxError(`job ${message.job.id} cannot be sent to its sandbox: ${(err as Error).message}`));
    }
  }

  private settle(error: Error | undefined, result?: unknown): void {
    const task = this.task;
    if (!task) return;
    this.task = undefined;
    task.cleanup();
    if (error) task.reject(error);
    else task.resolve(result);
  }

  private receive(message: FromSandbox): void {
    switch (message.type) {
      case 'ready':
        this.settleLoaded();
        break;
      case 'load-failed': {
        const { name, message: detail } = message.error;
        this.settleLoaded(new SandboxError(`the handler module ${fileURLToPath(this.file)} failed to load: ${name}: ${detail}`));
        this.kill('its handler module failed to load');
        break;
      }
      case 'crashed':
        this.crash = message.error;
        break;
      case 'done':
        this.settle(undefined, message.result);
        break;
      case 'failed':
        // The name says UnrecoverableError: fail for good, as in-process.
        this.settle(fromErrorData(message.error, message.error.name === 'UnrecoverableError' ? new UnrecoverableError(message.error.message) : undefined));
        break;
      case 'progress': {
        const reply = (error?: unknown) => this.send({ type: 'progressed', seq: message.seq, error: error === undefined ? undefined : errorData(error) });
        if (!this.task) reply(new SandboxError('the job is over'));
        else this.task.job.updateProgress(message.value as object).then(() => reply(), reply);
        break;
      }
    }
  }

  private ended(how: string): void {
    if (this.dead) return;
    this.dead = true;
    const crash = this.crash ? `: ${this.crash.name}: ${this.crash.message}` : '';
    this.gone = true;
    this.settleLoaded(new SandboxError(`the handler module ${fileURLToPath(this.file)} did not load: its sandbox (${this.label}) ${how}${crash}`));
    const id = this.task?.job.id;
    this.settle(new SandboxError(`the sandbox (${this.label}) running job ${id} ${how}${crash}`));
    sandboxCounts.alive--;
    this.onExit();
  }
}

export class SandboxPool {
  private readonly idle: Sandbox[] = [];
  private readonly all = new Set<Sandbox>();
  private closed = false;
  /** The module loaded in the last sandbox that tried. */
  private healthy = false;
  /** While not healthy: the one spawn trying to load the module; others wait for it. */
  private probe?: Promise<void>;
  /** After a load failure: its message, and when to try again. */
  private broken?: { message: string; until: number; failures: number };

  constructor(
    private readonly file: string,
    private readonly kind: SandboxKind,
    private readonly maxJobs: number,
  ) {}

  async run(job: ActiveJob): Promise<unknown> {
    const sandbox = await this.take();
    try {
      return await sandbox.run(job);
    } finally {
      if (this.closed || sandbox.jobs >= this.maxJobs) sandbox.kill(`it ran ${sandbox.jobs} jobs`);
      else if (!sandbox.gone) this.idle.push(sandbox);
    }
  }

  /** Terminate every sandbox; a job still running fails. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.all];
    for (const sandbox of all) sandbox.kill('the queue stopped processing');
    await Promise.all(all.map((s) => s.exited));
  }

  /** An idle sandbox, or a new one once it has loaded the module. */
  private async take(): Promise<Sandbox> {
    for (;;) {
      if (this.closed) throw new SandboxError('the queue stopped processing');
      const idle = this.idle.pop();
      if (idle) {
        if (idle.gone) continue;
        return idle;
      }
      if (this.broken && Date.now() < this.broken.until) throw new SandboxError(this.broken.message);
      if (this.probe) {
        await this.probe.catch(() => undefined);
        continue;
      }
      let sandbox: Sandbox;
      try {
        sandbox = new Sandbox(this.kind, this.file);
      } catch (err) {
        // Node refused to start it (execArgv a thread cannot take, no memory).
        this.failedToLoad(`a sandbox for the handler module ${fileURLToPath(this.file)} could not start: ${(err as Error).message}`);
        throw new SandboxError(this.broken!.message);
      }
      this.all.add(sandbox);
      void sandbox.exited.then(() => this.all.delete(sandbox));
      if (!this.healthy) this.probe = sandbox.loaded;
      try {
        await sandbox.loaded;
        this.healthy = true;
        this.broken = undefined;
      } catch (err) {
        sandbox.kill('its handler module failed to load');
        if (this.closed) throw new SandboxError('the queue stopped processing');
        this.failedToLoad((err as Error).message);
        throw err;
      } finally {
        if (this.probe === sandbox.loaded) this.probe = undefined;
      }
      if (!this.closed) return sandbox;
      sandbox.kill('the queue stopped processing');
    }
  }

  private failedToLoad(message: string): void {
    const failures = (this.broken?.failures ?? 0) + 1;
    const wait = Math.min(LOAD_RETRY_MAX_MS, LOAD_RETRY_MS * 2 ** (failures - 1));
    log('%s; jobs fail for %d ms before a sandbox tries to load it again', message, wait);
    this.healthy = false;
    const until = Date.now() + wait;
    this.broken = { message: `${message} (no sandbox tries to load it again before ${new Date(until).toISOString()})`, until, failures };
  }
}
