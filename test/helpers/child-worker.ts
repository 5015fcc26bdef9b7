/** A child process that runs jobs of a queue (see fixtures/hanging-worker.ts), for the crash tests. */
import { fork, type ChildProcess } from 'node:child_process';

/** Runs jobs of queue `name` and reports what happened; each job takes `runMs` (default: forever). */
export function childWorker(redis: unknown, name: string, options: object, runMs?: number) {
  const child: ChildProcess = fork(
    new URL('../fixtures/hanging-worker.ts', import.meta.url),
    [typeof redis === 'string' ? redis : JSON.stringify(redis), name, JSON.stringify(options), ...(runMs ? [String(runMs)] : [])],
    { execArgv: ['--import', 'tsx'], stdio: 'ignore' },
  );
  const seen: Array<Record<string, string>> = [];
  child.on('message', (m: Record<string, string>) => seen.push(m));
  return {
    child,
    seen,
    has: (kind: string, id: string) => seen.some((m) => m[kind] === id),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
