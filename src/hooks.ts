/**
 * Plugins (the `plugins` queue option): hooks called in the process where each
 * thing happens. A hook that throws or rejects is reported and changes nothing.
 */
import type { ActiveJob, Job } from './job.js';
import { InvalidOptionError } from './errors.js';
import { describe } from './util.js';

/** What added jobs became (as addJob resolves). */
type Outcome = 'queued' | 'scheduled' | 'committed' | 'processing' | 'replaced';

/** Hooks of the `plugins` queue option; each is optional and may be async (its promise is not awaited). */
export interface Plugin {
  /** in the producer, once the add is written */
  onJobAdded?(job: Job, outcome: Outcome): unknown;
  /** in the worker, as its handler starts */
  onJobStart?(job: ActiveJob): unknown;
  /** in the worker, once the progress is stored */
  onJobProgress?(job: ActiveJob, value: unknown): unknown;
  /** in the worker, once the result is written */
  onJobComplete?(job: ActiveJob, result: unknown): unknown;
  /** in the worker, once a failed run with attempts left is written */
  onJobRetry?(job: ActiveJob, error: Error, delay: number): unknown;
  /** in the worker, once a run that failed for good is written */
  onJobFail?(job: ActiveJob, error: Error): unknown;
  /** in the worker whose lease renewal recovered a stalled run */
  onJobStalled?(id: string): unknown;
}

export type HookName = keyof Plugin;

const HOOKS: readonly HookName[] = ['onJobAdded', 'onJobStart', 'onJobProgress', 'onJobComplete', 'onJobRetry', 'onJobFail', 'onJobStalled'];

export function checkPlugins(value: unknown): Plugin[] {
  if (!Array.isArray(value)) throw new InvalidOptionError(`plugins must be an array of plugin objects, got ${describe(value)}`);
  value.forEach((p: unknown, i) => {
    if (typeof p !== 'object' || p === null) throw new InvalidOptionError(`plugins[${i}] must be an object of hooks, got ${describe(p)}`);
    for (const [k, v] of Object.entries(p)) {
      if (HOOKS.includes(k as HookName) && typeof v !== 'function') throw new InvalidOptionError(`plugins[${i}].${k} must be a function, got ${describe(v)}`);
    }
  });
  return [...(value as Plugin[])];
}

/** Call hook `name` of every plugin that has it; a throw or rejection goes to `report`, never to the caller. */
export function callHooks<N extends HookName>(
  plugins: readonly Plugin[],
  name: N,
  args: Parameters<NonNullable<Plugin[N]>>,
  report: (err: unknown, what: string) => void,
): void {
  for (const plugin of plugins) {
    const hook = plugin[name] as ((...a: unknown[]) => unknown) | undefined;
    if (!hook) continue;
    const what = `plugin hook ${name}`;
    try {
      const ret = hook.apply(plugin, args);
      if (ret instanceof Promise) ret.catch((err: unknown) => report(err, what));
    } catch (err) {
      report(err, what);
    }
  }
}
