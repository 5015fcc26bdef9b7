/**
 * Type tests of `convoy-queue/tasks` (the subpath export), compiled against
 * the package's declarations like api.ts.
 */
import { expectTypeOf } from 'expect-type';
import { ConvoyError, UnrecoverableError, type Queue } from 'convoy-queue';
import * as tasksApi from 'convoy-queue/tasks';
import {
  RemoteJobError,
  TaskQueue,
  TaskTimeoutError,
  UnknownTaskError,
  createTaskQueue,
  type TaskCall,
  type TaskOptions,
  type TaskPayload,
  type TaskStatus,
} from 'convoy-queue/tasks';

expectTypeOf<keyof typeof tasksApi>().toEqualTypeOf<'TaskQueue' | 'createTaskQueue' | 'TaskTimeoutError' | 'UnknownTaskError' | 'RemoteJobError'>();
expectTypeOf(new UnknownTaskError('x')).toMatchTypeOf<UnrecoverableError>();
expectTypeOf(new TaskTimeoutError('x')).toMatchTypeOf<ConvoyError>();
expectTypeOf<RemoteJobError['remote']['code']>().toEqualTypeOf<unknown>();

const tasks = createTaskQueue('testpackage', { redis: 'redis://127.0.0.1:6379', concurrency: 2, fallbackInterval: 1000 });
expectTypeOf(tasks).toEqualTypeOf<TaskQueue>();
expectTypeOf(tasks.queue).toEqualTypeOf<Queue<TaskPayload>>();

async function factorial(n: number): Promise<number> {
  return n <= 1 ? 1 : n * (await factorial(n - 1));
}
tasks.registerTask(factorial, { name: 'testpackage.factorial', attempts: 3, timeout: 60_000, backoff: { type: 'exponential', delay: 100 } });
tasks.registerTask((a: number, cb: (err: Error | null, r?: number) => void) => cb(null, a), { name: 'cb', callback: true, unique: false, priority: 1 });
// @ts-expect-error an unknown task option
tasks.registerTask(factorial, { nmae: 'x' } satisfies TaskOptions);
// @ts-expect-error a task is a function
tasks.registerTask('factorial');

// Without a callback: a promise (of unknown, or the type asked for); with one: nothing.
expectTypeOf(tasks.delayedCall('testpackage.factorial', 5)).toEqualTypeOf<Promise<unknown>>();
expectTypeOf(tasks.delayedCall<number>(factorial, 5)).toEqualTypeOf<Promise<number>>();
expectTypeOf(tasks.delayedCall(factorial, 5, (err, result) => void [err, result])).toEqualTypeOf<void>();
expectTypeOf(tasks.callWith({ timeout: 100 }, factorial, 5)).toEqualTypeOf<Promise<unknown>>();
// @ts-expect-error an unknown call option
void tasks.callWith({ timout: 100 }, factorial, 5);
const call = tasks.call<number>('testpackage.factorial', 5);
expectTypeOf(call).toEqualTypeOf<TaskCall<number>>();
expectTypeOf(call.id).toEqualTypeOf<string>();
expectTypeOf(tasks.status(call.id)).toEqualTypeOf<Promise<TaskStatus | null>>();
expectTypeOf<TaskStatus>().toEqualTypeOf<'scheduled' | 'running' | 'errored' | 'successful' | 'done'>();
expectTypeOf(tasks.listen({ concurrency: 4 })).toEqualTypeOf<Promise<void>>();
expectTypeOf(tasks.close()).toEqualTypeOf<Promise<void>>();
