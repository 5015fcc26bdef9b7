/**
 * Sandboxed handlers, `process(file, { sandbox })`: in worker threads and in
 * child processes, on every backend. The handler module is
 * fixtures/sandbox/handler.ts; its payload says what it does.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import {
  InvalidArgumentError,
  InvalidOptionError,
  Job,
  JobTimeoutError,
  SandboxError,
  UnrecoverableError,
  type Queue,
} from '../src/index.js';
import { ABORT_GRACE_MS, sandboxCounts } from '../src/sandbox/pool.js';
import { forEachBackend, standalone, until, withTimeout } from './helpers/backends.js';
import { tempDir } from './helpers/typecheck.js';
import type { Act } from './fixtures/sandbox/handler.js';

// Thread sandboxes get this process's execArgv: with this, they load .ts too.
process.execArgv.push(`--import=${new URL('./fixtures/sandbox/thread-tsx.mjs', import.meta.url).href}`);

const HANDLER = fileURLToPath(new URL('./fixtures/sandbox/handler.ts', import.meta.url));
const NO_DEFAULT = new URL('./fixtures/sandbox/no-default.ts', import.meta.url);
const KINDS = ['thread', 'process'] as const;
/** The queues' jobTimeout: a sandbox's start (and, here, tsx compiling its .ts) counts in its first job's time. */
const SLOW_START_MS = 30_000;

interface Where {
  pid: number;
  threadId: number;
}

/** What a queue's handler did: completions, failures, retries, stalls and progress, as they come. */
function watch(q: Queue<Act>) {
  const seen = {
    completed: [] as Array<{ id: string; result: unknown }>,
    failed: [] as Array<{ id: string; error: Error }>,
    retrying: [] as string[],
    stalled: [] as string[],
    progress: [] as unknown[],
  };
  q.on('completed', (job, result) => seen.completed.push({ id: job.id, result }));
  q.on('failed', (job, error) => seen.failed.push({ id: job.id, error }));
  q.on('retrying', (job) => seen.retrying.push(job.id));
  q.on('stalled', (ids) => seen.stalled.push(...ids));
  q.on('progress', (_job, value) => seen.progress.push(value));
  q.on('error', () => undefined);
  return seen;
}

function resultOf(seen: ReturnType<typeof watch>, id: string): unknown {
  return seen.completed.find((c) => c.id === id)?.result;
}

function errorOf(seen: ReturnType<typeof watch>, id: string): Error | undefined {
  return seen.failed.find((f) => f.id === id)?.error;
}

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

forEachBackend((test, ctx) => {
  test.serial('process(file) checks its arguments and spawns nothing when they are wrong', (t) => {
    const before = sandboxCounts.spawned;
    const q = ctx.queue<Act>();
    const call = (...args: unknown[]) => () => (q.process as (...a: unknown[]) => void)(...args);
    t.throws(call('./no/such/handler.ts', { sandbox: 'thread' }), { instanceOf: InvalidArgumentError, message: /no\/such\/handler\.ts does not exist/ });
    t.throws(call(new URL('https://example.invalid/h.js'), { sandbox: 'thread' }), { instanceOf: InvalidArgumentError });
    t.throws(call(HANDLER), { instanceOf: InvalidArgumentError, message: /with \{ sandbox: 'thread' \| 'process' \}/ });
    t.throws(call(HANDLER, {}), { instanceOf: InvalidOptionError, message: /`sandbox` must be 'thread' or 'process', got undefined/ });
    t.throws(call(HANDLER, { sandbox: 'fiber' }), { instanceOf: InvalidOptionError });
    t.throws(call(HANDLER, { sandbox: 'thread', maxJobPerSandbox: 2 }), { instanceOf: InvalidOptionError, message: /did you mean `maxJobsPerSandbox`/ });
    t.throws(call(HANDLER, { sandbox: 'thread', maxJobsPerSandbox: 0 }), { instanceOf: InvalidOptionError });
    t.throws(call(HANDLER, 'thread'), { instanceOf: InvalidArgumentError });
    t.throws(call(async () => 1, { sandbox: 'thread' }), { instanceOf: InvalidArgumentError, message: /not a handler function/ });
    t.throws(call(42), { instanceOf: InvalidArgumentError });
    t.is(sandboxCounts.spawned, before);
    // A relative path is taken from process.cwd(); the queue processes after all.
    q.process(`./${join('test', 'fixtures', 'sandbox', 'handler.ts')}`, { sandbox: 'thread' });
    t.throws(() => q.process(HANDLER, { sandbox: 'thread' }), { message: /already processing/ });
  });

  for (const kind of KINDS) {
    test.serial(`${kind}: results, job fields, progress and errors cross as in-process`, async (t) => {
      const q = ctx.queue<Act>({ concurrency: 2, jobTimeout: SLOW_START_MS });
      const seen = watch(q);
      q.process(HANDLER, { sandbox: kind });
      await q.addJobs([
        new Job('echo', { act: 'echo' }, { attempts: 2 }),
        new Job('progress', { act: 'progress' }),
        new Job('throw', { act: 'throw' }, { attempts: 1 }),
        new Job('unrecoverable', { act: 'unrecoverable' }, { attempts: 3 }),
      ]);
      await until(() => seen.completed.length + seen.failed.length, (n) => n === 4, `all four jobs to end in ${kind} sandboxes`);
      const echo = resultOf(seen, 'echo') as Record<string, unknown>;
      t.like(echo, { id: 'echo', payload: { act: 'echo' }, attempt: 1, options: { attempts: 2 }, aborted: false });
      t.true(typeof echo.startedAt === 'number' && Math.abs((echo.startedAt as number) - Date.now()) < 60_000);
      if (kind === 'process') t.not(echo.pid, process.pid, 'ran in another process');
      else t.true(echo.pid === process.pid && echo.threadId !== 0, 'ran in another thread');

      t.is(resultOf(seen, 'progress'), 'refused: InvalidPayloadError', String(errorOf(seen, 'progress')));
      t.deepEqual(seen.progress, [1, { half: true }], "updateProgress emits 'progress' in the parent");

      const thrown = errorOf(seen, 'throw') as Error & { code?: string };
      t.like(thrown, { name: 'RangeError', message: 'bad range', code: 'E_RANGE' });
      t.regex(thrown.stack ?? '', /handler\.ts/);
      const unrecoverable = errorOf(seen, 'unrecoverable');
      t.true(unrecoverable instanceof UnrecoverableError, String(unrecoverable));
      t.deepEqual(seen.retrying, [], 'UnrecoverableError fails for good, attempts left or not');
    });

    test.serial(`${kind}: a CPU-bound handler does not lose its lease (renewals go on)`, async (t) => {
      const q = ctx.queue<Act>({ stallTimeout: 300, jobTimeout: SLOW_START_MS });
      const seen = watch(q);
      q.process(HANDLER, { sandbox: kind });
      await q.addJob(new Job('cpu', { act: 'busy', ms: 1500 }));
      const leases = new Set<number>();
      await until(
        async () => {
          for (const { score } of await ctx.backend.inspect.zRangeWithScores(q.keys.leases, 0, -1)) leases.add(score);
          return seen.completed.length + seen.failed.length;
        },
        (n) => n > 0,
        'the busy job to end',
      );
      t.deepEqual(seen.failed, []);
      t.is(seen.completed.length, 1);
      t.true((resultOf(seen, 'cpu') as { spins: number }).spins > 0);
      t.deepEqual(seen.stalled, [], 'no stall');
      t.true(leases.size >= 3, `the lease was renewed while the handler spun: ${leases.size} lease expiries seen`);
      t.is(await q.countCommitted(), 0);
    });

    test.serial(`${kind}: a handler that exits or throws outside its promise fails its run; the next job runs in a fresh sandbox`, async (t) => {
      const q = ctx.queue<Act>({ concurrency: 1, jobTimeout: SLOW_START_MS });
      const seen = watch(q);
      q.process(HANDLER, { sandbox: kind });
      await q.addJob(new Job('first', { act: 'echo' }));
      await until(() => seen.completed.length, (n) => n === 1, 'the first job');
      await q.addJobs([new Job('exit', { act: 'exit' }, { attempts: 1 }), new Job('uncaught', { act: 'uncaught' }, { attempts: 1 }), new Job('after', { act: 'echo' })]);
      await until(() => seen.completed.length + seen.failed.length, (n) => n === 4, 'the crashing jobs and the one after them');
      const exit = errorOf(seen, 'exit');
      t.true(exit instanceof SandboxError, String(exit));
      t.regex(exit!.message, /running job exit exited with code 3/);
      const uncaught = errorOf(seen, 'uncaught');
      t.true(uncaught instanceof SandboxError, String(uncaught));
      t.regex(uncaught!.message, /running job uncaught .*boom outside the handler/);
      const key = (w: Where) => (kind === 'thread' ? w.threadId : w.pid);
      const first = resultOf(seen, 'first') as Where;
      const after = resultOf(seen, 'after') as Where;
      t.truthy(after, 'the job after the crashes ran');
      t.not(key(after), key(first), 'in a new sandbox');
    });

    test.serial(`${kind}: maxJobsPerSandbox recycles sandboxes`, async (t) => {
      const q = ctx.queue<Act>({ concurrency: 1, jobTimeout: SLOW_START_MS });
      const seen = watch(q);
      q.process(HANDLER, { sandbox: kind, maxJobsPerSandbox: 2 });
      await q.addJobs([1, 2, 3, 4, 5, 6].map((n) => new Job(n, { act: 'echo' })));
      await until(() => seen.completed.length, (n) => n === 6, 'six jobs');
      const where = seen.completed.map((c) => c.result as Where).map((w) => (kind === 'thread' ? w.threadId : w.pid));
      t.is(new Set(where).size, 3, `sandboxes seen: ${where.join(' ')}`);
    });

    test.serial(`${kind}: the signal aborts in the sandbox on timeout; a handler that ignores it is terminated after a grace period`, async (t) => {
      const q = ctx.queue<Act>({ concurrency: 1, jobTimeout: SLOW_START_MS });
      const seen = watch(q);
      q.process(HANDLER, { sandbox: kind });
      const key = (id: string) => {
        const w = resultOf(seen, id) as Where;
        return kind === 'thread' ? w.threadId : w.pid;
      };
      await q.addJob(new Job('a', { act: 'echo' }));
      await until(() => seen.completed.length, (n) => n === 1, 'job a');
      await q.addJobs([new Job('listens', { act: 'await-abort' }, { timeout: 300 }), new Job('b', { act: 'echo' })]);
      await until(() => seen.completed.length, (n) => n === 2, 'job b');
      t.true(errorOf(seen, 'listens') instanceof JobTimeoutError);
      t.is(key('b'), key('a'), 'the handler ended on its abort: its sandbox lives on');

      const started = Date.now();
      await q.addJobs([new Job('deaf', { act: 'ignore-abort' }, { timeout: 300 }), new Job('c', { act: 'echo' })]);
      await until(() => seen.completed.length, (n) => n === 3, 'job c, once the deaf sandbox is terminated');
      t.true(errorOf(seen, 'deaf') instanceof JobTimeoutError);
      t.not(key('c'), key('a'), 'the deaf sandbox was replaced');
      t.true(Date.now() - started >= 300 + ABORT_GRACE_MS - 50, 'after the timeout and the grace period');
    });
  }
});

forEachBackend((test, ctx) => {
  for (const kind of KINDS) {
    test.serial(`${kind}: a module that fails to load fails its jobs with the cause, without respawning in a loop`, async (t) => {
      const tmp = tempDir('sandbox');
      t.teardown(tmp.dispose);
      const broken = join(tmp.path, 'broken.mjs');
      writeFileSync(broken, 'export default async (job) => { return job.id +; }\n');
      for (const [file, cause] of [
        [NO_DEFAULT, /no-default\.ts failed to load: TypeError: its default export is missing/],
        [broken, /broken\.mjs failed to load: SyntaxError/],
      ] as const) {
        const before = sandboxCounts.spawned;
        const q = ctx.queue<Act>({ concurrency: 3, jobTimeout: SLOW_START_MS });
        const seen = watch(q);
        q.process(file, { sandbox: kind });
        await q.addJobs([1, 2, 3, 4, 5, 6, 7, 8].map((n) => new Job(n, { act: 'echo' })));
        await until(() => seen.failed.length, (n) => n === 8, 'all eight jobs to fail');
        for (const { error } of seen.failed) {
          t.true(error instanceof SandboxError, String(error));
          t.regex(error.message, cause);
        }
        t.true(sandboxCounts.spawned - before <= 2, `spawned ${sandboxCounts.spawned - before} sandboxes for 8 jobs`);
        await q.close();
      }
    });

    test.serial(`${kind}: close() terminates every sandbox, running or idle`, async (t) => {
      const alive = sandboxCounts.alive;
      const q = ctx.queue<Act>({ concurrency: 3, jobTimeout: SLOW_START_MS });
      const seen = watch(q);
      q.process(HANDLER, { sandbox: kind });
      await q.addJobs([new Job('e1', { act: 'sleep', ms: 50 }), new Job('e2', { act: 'sleep', ms: 50 }), new Job('e3', { act: 'sleep', ms: 50 })]);
      await until(() => seen.completed.length, (n) => n === 3, 'three jobs');
      await q.addJobs([new Job('long', { act: 'sleep', ms: 60_000 }), new Job('deaf', { act: 'ignore-abort' })]);
      await until(() => q.countProcessing(), (n) => n === 2, 'the long jobs to start');
      t.true(sandboxCounts.alive > alive);
      await withTimeout(q.close({ timeout: 100 }), 10_000, 'close');
      t.is(sandboxCounts.alive, alive, 'no sandbox left');
      const pids = new Set(seen.completed.map((c) => (c.result as Where).pid));
      if (kind === 'process') for (const pid of pids) t.false(isAlive(pid), `child process ${pid} is gone`);
      t.deepEqual(seen.completed.map((c) => c.id).sort(), ['e1', 'e2', 'e3']);
    });
  }

  test('without a sandbox, a CPU-bound handler lets its lease lapse: the reason for sandboxes', async (t) => {
    const q = ctx.queue<Act>({ stallTimeout: 300, jobTimeout: SLOW_START_MS });
    q.on('error', () => undefined);
    const lapsed = new Promise<{ expiry: number; now: number }>((resolve) => {
      q.process(async () => {
        const [lease] = await ctx.backend.inspect.zRangeWithScores(q.keys.leases, 0, -1);
        // Spinning in this process: no renewal can run until it ends.
        const end = Date.now() + 1500;
        while (Date.now() < end);
        resolve({ expiry: lease.score, now: Date.now() });
      });
    });
    await q.addJob(new Job('cpu', { act: 'busy' }));
    const { expiry, now } = await lapsed;
    t.true(expiry < now, `the lease expired at ${expiry}, ${now - expiry} ms before the handler let go`);
  });
}, [standalone]);

