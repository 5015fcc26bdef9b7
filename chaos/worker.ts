/**
 * A chaos worker (a child process): runs jobs with a handler that takes a random
 * short time, sometimes throws, and now and then runs past jobTimeout. Every
 * run's start and end go to the log, each as one synchronous write, so a
 * SIGKILL leaves an exact record of what ran.
 *
 * Its mode (ChildConfig) says how the handler behaves:
 *  - `handler: 'async'` returns a promise; `'callback'` is `(job, done) => …`
 *    and, when its signal fires, stops and calls `done(reason)` from the
 *    abort listener itself;
 *  - `ignoreSignal`: slow runs do not stop at the signal and go on past
 *    jobTimeout (for a callback handler, half of them: those call done only
 *    when their work is over, and the listener does nothing);
 *  - `rerun`: the queue object has duplicateWhileProcessing 'rerun';
 *  - `queue`: BARE_QUEUE is swept by no jam guard.
 *
 * Inside the handlers it counts the handlers running at once in this process
 * (logged with each start as `n`): the audit compares it with `concurrency`.
 * A run is live from the handler's start to the end of its own work (for a
 * callback handler: its first call of done, after which it does nothing
 * more), which for a handler that ignores its signal is after the worker
 * timed it out.
 * The queue's 'completed', 'failed' and 'retrying' events are logged per run,
 * so a run reported twice shows; each start logs the run's `job.attempt` and
 * its attempts option.
 */
import type { EventEmitter } from 'node:events';
import { createQueue, InvalidOptionError, type ActiveJob, type Queue, type QueueOptions } from '../src/index.js';
import { QUEUE, JsonLog, idOf, rand, sleep, type ChildConfig, type ChildMessage, type RunLine, type WorkerEventLine } from './common.js';

const cfg = JSON.parse(process.argv[2]) as ChildConfig;
const send = (m: ChildMessage) => process.send?.(m);
const log = new JsonLog(cfg.log);
const jobTimeout = cfg.jobTimeout ?? 1000;
const concurrency = cfg.concurrency ?? 6;
const queueName = cfg.queue ?? QUEUE;
const pid = process.pid;
process.on('disconnect', () => process.exit(1));

// stallTimeout is passed only when asked for (older cores do not know it).
const options: QueueOptions & { stallTimeout?: number } = {
  redis: cfg.url,
  concurrency,
  jobTimeout,
  blockingTimeout: 1,
  commandTimeout: cfg.commandTimeout ?? 2000,
  duplicateWhileProcessing: cfg.rerun ? 'rerun' : 'ignore',
};
if (cfg.stallTimeout) options.stallTimeout = cfg.stallTimeout;
let q: Queue;
try {
  q = createQueue(queueName, options);
} catch (err) {
  const message =
    err instanceof InvalidOptionError && cfg.stallTimeout && /stall/i.test(err.message)
      ? `the queue refused stallTimeout (${err.message}); this core may not know it: run with --no-stall-timeout`
      : `createQueue failed: ${(err as Error).message}`;
  process.stderr.write(message + '\n');
  send({ type: 'fatal', message });
  await sleep(100);
  process.exit(2);
}
let errors = 0;
q.on('error', (err) => {
  errors++;
  if (/renew/i.test(err.message)) write({ e: 'rx', pid, t: Date.now() });
});

const write = (line: RunLine | WorkerEventLine) => {
  if (!cfg.quiet) log.write(line);
};
write({ e: 'h', pid, t: Date.now(), q: queueName, mode: cfg.mode ?? 'async', concurrency, jobTimeout });

let k = 0;
/** handlers running right now in this process, and the most seen */
let live = 0;
let maxLive = 0;
const runOf = new WeakMap<object, number>();

const report = (e: 'c' | 'f') => (job: ActiveJob) => write({ e, pid, t: Date.now(), k: runOf.get(job) ?? 0, id: job.id });
q.on('completed', report('c'));
q.on('failed', report('f'));
q.on('retrying', (job, _err, ms) => write({ e: 'r', pid, t: Date.now(), k: runOf.get(job) ?? 0, id: job.id, ms }));
// Cores with lease recovery say which stalled runs a renewal put back (older ones have no such event).
(q as unknown as EventEmitter).on('stalled', (ids: string[]) => write({ e: 'st', pid, t: Date.now(), ids: [...ids] }));

/** Start a run: count it, log it; returns its end (idempotent). */
function begin(job: ActiveJob) {
  const run = ++k;
  live++;
  maxLive = Math.max(maxLive, live);
  runOf.set(job, run);
  const start: RunLine = { e: 's', id: job.id, pid, k: run, t: Date.now(), c: job.startedAt, n: live, a: job.attempt };
  if (job.options?.attempts !== undefined) start.ax = job.options.attempts;
  if (job.options?.group !== undefined) start.g = job.options.group;
  if (job.options?.priority) start.pr = job.options.priority;
  if (job.payload == null) start.np = 1;
  write(start);
  let ended = false;
  return {
    run,
    end(r: RunLine['r']) {
      if (ended) return;
      ended = true;
      live--;
      write({ e: 'e', id: job.id, pid, k: run, t: Date.now(), r });
    },
  };
}

const hot = new Set(Array.from({ length: cfg.hotPool ?? 0 }, (_, i) => idOf(i)));

/** How long this run takes, whether it ignores its signal, whether it fails. */
function plan(id: string) {
  const slow = Math.random() < ((hot.has(id) ? cfg.hotSlowRate : undefined) ?? cfg.slowRate ?? 0);
  const ignore = slow && !!cfg.ignoreSignal && (cfg.handler !== 'callback' || Math.random() < 0.5);
  const ms = slow ? jobTimeout + (ignore ? rand(200, 900) : 500) : rand(cfg.minMs ?? 1, cfg.maxMs ?? 20);
  return { ms, ignore, fail: Math.random() < (cfg.failRate ?? 0) };
}

function boom(id: string): Error {
  const err = new Error(`boom ${id}`);
  if (cfg.shortStacks) err.stack = 'Error: boom';
  return err;
}

if (cfg.handler === 'callback') {
  q.process((job, done) => {
    const { run, end } = begin(job);
    const { ms, ignore, fail } = plan(job.id);
    const signal = job.signal;
    let aborted = false;
    const timer = setTimeout(() => {
      end(aborted ? 'late' : fail ? 'fail' : 'ok');
      done(fail ? boom(job.id) : undefined);
    }, ms);
    signal.addEventListener(
      'abort',
      () => {
        aborted = true;
        write({ e: 'a', pid, t: Date.now(), k: run, id: job.id });
        // A handler that ignores its signal goes on and calls done when its work is over.
        if (ignore) return;
        // Stop the work and report the reason, from the listener itself.
        clearTimeout(timer);
        end('abort');
        done(signal.reason);
      },
      { once: true },
    );
  });
} else {
  q.process(async (job) => {
    const { run, end } = begin(job);
    const { ms, ignore, fail } = plan(job.id);
    const signal = job.signal;
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      write({ e: 'a', pid, t: Date.now(), k: run, id: job.id });
      // A handler that stops at its signal ends here (before the worker writes the timeout to Redis).
      if (!ignore) end('abort');
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      if (ms >= 1) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(resolve, ms);
          if (ignore) return;
          signal.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(signal.reason as Error);
          }, { once: true });
        });
      }
      if (fail) {
        end(aborted ? 'late' : 'fail');
        throw boom(job.id);
      }
      end(aborted ? 'late' : 'ok');
    } finally {
      end(aborted ? (ignore ? 'late' : 'abort') : 'fail');
      signal.removeEventListener('abort', onAbort);
    }
  });
}

await q.countQueued().catch(() => 0);
send({ type: 'ready' });
process.on('message', (m) => {
  if (m !== 'stop') return;
  void q.close().then(() => {
    log.close();
    send({ type: 'done', runs: k, errors, maxLive });
    process.disconnect?.();
  });
});
