/**
 * A chaos worker (a child process): runs jobs with a handler that takes a random
 * short time, sometimes throws, and now and then runs past jobTimeout (it then
 * stops at the abort signal). Every run's start and end go to the log, each as
 * one synchronous write, so a SIGKILL leaves an exact record of what ran.
 */
import { createQueue } from '../src/index.js';
import { QUEUE, JsonLog, rand, type ChildConfig, type ChildMessage, type RunLine } from './common.js';

const cfg = JSON.parse(process.argv[2]) as ChildConfig;
const send = (m: ChildMessage) => process.send?.(m);
const log = new JsonLog(cfg.log);
const jobTimeout = cfg.jobTimeout ?? 1000;
const q = createQueue(QUEUE, {
  redis: cfg.url,
  concurrency: cfg.concurrency ?? 6,
  jobTimeout,
  blockingTimeout: 1,
  commandTimeout: 2000,
});
let errors = 0;
q.on('error', () => errors++);
process.on('disconnect', () => process.exit(1));

let k = 0;
const pid = process.pid;

q.process(async (job) => {
  const run = ++k;
  const signal = job.signal;
  const start: RunLine = { e: 's', id: job.id, pid, k: run, t: Date.now(), c: job.startedAt };
  if (job.payload == null) start.np = 1;
  if (!cfg.quiet) log.write(start);
  let ended = false;
  const end = (r: RunLine['r']) => {
    if (ended) return;
    ended = true;
    if (!cfg.quiet) log.write({ e: 'e', id: job.id, pid, k: run, t: Date.now(), r } satisfies RunLine);
  };
  // Logged in the abort event itself: before the worker writes the timeout to Redis.
  const onAbort = () => end('abort');
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const slow = Math.random() < (cfg.slowRate ?? 0);
    const ms = slow ? jobTimeout + 500 : rand(cfg.minMs ?? 1, cfg.maxMs ?? 20);
    if (ms >= 1) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, ms);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(signal.reason as Error);
        }, { once: true });
      });
    }
    if (Math.random() < (cfg.failRate ?? 0)) {
      end('fail');
      const err = new Error(`boom ${job.id}`);
      if (cfg.shortStacks) err.stack = 'Error: boom';
      throw err;
    }
    end('ok');
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
});

await q.countQueued().catch(() => 0);
send({ type: 'ready' });
process.on('message', (m) => {
  if (m !== 'stop') return;
  void q.close().then(() => {
    log.close();
    send({ type: 'done', runs: k, errors });
    process.disconnect?.();
  });
});
