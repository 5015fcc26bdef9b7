/**
 * `queue.process(file, { sandbox })`: the arguments checked at the boundary,
 * and a handler that hands each job to a pool of sandboxes. The pool (and
 * node:worker_threads / node:child_process with it) is imported only here, on
 * first use, so queues without sandboxes load none of it.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { InvalidArgumentError, InvalidOptionError } from '../errors.js';
import type { ActiveJob } from '../job.js';
import { callOptions, checkCallNumber } from '../options.js';
import { describe } from '../util.js';
import type { SandboxPool } from './pool.js';

/** The options of `process(file, options)`. */
export interface SandboxOptions {
  /**
   * Run the handler module in worker threads (`'thread'`: cheap to start, same
   * process) or child processes (`'process'`: own memory, own crash), one per
   * concurrency slot.
   */
  sandbox: 'thread' | 'process';
  /**
   * Replace a sandbox after it ran this many jobs (contains leaks).
   * @default Infinity (never)
   */
  maxJobsPerSandbox?: number;
}

/**
 * The job a sandboxed handler module gets: the data of an ActiveJob, its
 * signal (aborted when the parent aborts the run) and updateProgress (stored
 * by the parent).
 */
export type SandboxJob<P = unknown> = Pick<ActiveJob<P>, 'id' | 'payload' | 'attempt' | 'startedAt' | 'options' | 'signal' | 'updateProgress'>;

/** A sandboxed handler and the way to terminate its sandboxes. */
export interface Sandboxes {
  handler(job: ActiveJob): Promise<unknown>;
  close(): Promise<void>;
}

/**
 * Check `process(file, options)`: undefined for a plain handler function, else
 * the sandboxed handler (nothing spawned until the first job).
 */
export function sandboxes(handler: unknown, options: unknown): Sandboxes | undefined {
  if (typeof handler === 'function') {
    if (options !== undefined) throw new InvalidArgumentError(`process options (sandbox) go with a handler module's path, not a handler function; got ${describe(options)}`);
    return undefined;
  }
  if (options === undefined) {
    throw new InvalidArgumentError(`process takes a handler function, or a handler module's path or file URL with { sandbox: 'thread' | 'process' }; got ${describe(handler)}`);
  }
  const file = handlerFile(handler);
  const { sandbox, maxJobsPerSandbox } = callOptions('process', options as SandboxOptions | undefined, ['sandbox', 'maxJobsPerSandbox']);
  if (sandbox !== 'thread' && sandbox !== 'process') {
    throw new InvalidOptionError(`process option \`sandbox\` must be 'thread' or 'process', got ${describe(sandbox)}`);
  }
  if (maxJobsPerSandbox !== undefined && maxJobsPerSandbox !== Infinity) checkCallNumber('process', 'maxJobsPerSandbox', maxJobsPerSandbox, 1, true);
  const pool: Promise<SandboxPool> = import('./pool.js').then((m) => new m.SandboxPool(file, sandbox, maxJobsPerSandbox ?? Infinity));
  pool.catch(() => undefined);
  return {
    handler: async (job) => (await pool).run(job),
    close: async () => (await pool).close(),
  };
}

/** A handler module's file URL: from a file URL, or a path (a relative one from process.cwd()). */
function handlerFile(file: unknown): string {
  let url: URL;
  if (file instanceof URL || (typeof file === 'string' && file.startsWith('file:'))) {
    url = new URL(file);
  } else if (typeof file === 'string' && file !== '') {
    url = pathToFileURL(resolve(process.cwd(), file));
  } else {
    throw new InvalidArgumentError(`process takes a handler function, or a handler module's path or file URL with { sandbox }; got ${describe(file)}`);
  }
  if (url.protocol !== 'file:') throw new InvalidArgumentError(`process takes a handler module's path or file URL, got ${describe(url.href)}`);
  const path = fileURLToPath(url);
  if (!existsSync(path) || !statSync(path).isFile()) throw new InvalidArgumentError(`process: the handler module ${path} does not exist or is not a file`);
  return url.href;
}
