/**
 * Type tests of the public API, compiled against the package's declarations
 * (test/types.test.ts, test/package.test.ts): what a user sees, and the misuse
 * that must not compile. A failing expectation or an unused @ts-expect-error
 * fails the compile.
 */
import { expectTypeOf } from 'expect-type';
import type { EventEmitter } from 'node:events';
import * as api from 'convoy-queue';
import Convoy, {
  ActiveJob,
  ConvoyError,
  Job,
  Queue,
  createQueue,
  type AddOutcome,
  type FailedJob,
  type Jsonify,
  type QueueEvents,
  type QueueOptions,
  type EncryptionOptions,
  type RateLimit,
  type RepeatInfo,
  type RepeatSchedule,
  type SandboxJob,
  type SandboxOptions,
  type KeepResults,
  type Plugin,
  type QueueEvent,
  type QueueEventMap,
} from 'convoy-queue';

// ---- The exports: exactly these names.
type ErrorNames =
  | 'ConvoyError'
  | 'InvalidArgumentError'
  | 'InvalidJobIdError'
  | 'InvalidPayloadError'
  | 'InvalidOptionError'
  | 'AlreadyProcessingError'
  | 'QueueClosedError'
  | 'ConnectionError'
  | 'JobTimeoutError'
  | 'JobExpiredError'
  | 'UnrecoverableError'
  | 'QueueBusyError'
  | 'ForeignDataError'
  | 'DecryptionError'
  | 'RateLimitError'
  | 'SandboxError'
  | 'RemoteJobError'
  | 'JobRemovedError'
  | 'WaitTimeoutError';
expectTypeOf<keyof typeof api>().toEqualTypeOf<
  'default' | 'Job' | 'ActiveJob' | 'MAX_ID_BYTES' | 'Queue' | 'createQueue' | 'queueKeys' | 'describeError' | 'createQueueEvents' | 'QueueEventStream' | ErrorNames
>();
expectTypeOf<keyof typeof Convoy>().toEqualTypeOf<'createQueue' | 'Job' | 'Queue' | 'errors'>();
expectTypeOf<keyof typeof Convoy.errors>().toEqualTypeOf<ErrorNames>();
expectTypeOf(new Convoy.errors.QueueClosedError('x')).toMatchTypeOf<ConvoyError>();
expectTypeOf(new api.InvalidOptionError('x')).toMatchTypeOf<Error>();

// ---- The surface of a queue: its own public members, and no internals.
type OwnMembers<T> = Exclude<keyof T, keyof EventEmitter>;
expectTypeOf<OwnMembers<Queue>>().toEqualTypeOf<
  | 'name'
  | 'keys'
  | 'options'
  | 'addJob'
  | 'addJobs'
  | 'process'
  | 'stopProcessing'
  | 'jamGuard'
  | 'countQueued'
  | 'countScheduled'
  | 'countCommitted'
  | 'countProcessing'
  | 'countFailed'
  | 'stats'
  | 'getFailed'
  | 'removeFailed'
  | 'trimFailed'
  | 'promote'
  | 'getJob'
  | 'listJobs'
  | 'removeJob'
  | 'retryFailed'
  | 'drain'
  | 'obliterate'
  | 'getWorkers'
  | 'pause'
  | 'resume'
  | 'isPaused'
  | 'setRateLimit'
  | 'getRateLimit'
  | 'setGlobalConcurrency'
  | 'getGlobalConcurrency'
  | 'setGroupConcurrency'
  | 'getGroupConcurrency'
  | 'setGroupRateLimit'
  | 'getGroupRateLimit'
  | 'repeat'
  | 'removeRepeat'
  | 'listRepeats'
  | 'waitForResult'
  | 'close'
>();
type Internals =
  | 'run'
  | 'command'
  | 'connection'
  | 'onError'
  | 'onCompleted'
  | 'onFailed'
  | 'onRetrying'
  | 'onProgress'
  | 'onStalled'
  | 'onStarted'
  | 'results'
  | 'worker'
  | 'repeats'
  | 'closing';
expectTypeOf<Extract<keyof Queue, Internals>>().toBeNever();
expectTypeOf<keyof ActiveJob>().toEqualTypeOf<'id' | 'payload' | 'options' | 'startedAt' | 'attempt' | 'signal' | 'updateProgress'>();
expectTypeOf<keyof Job>().toEqualTypeOf<'id' | 'payload' | 'options'>();
expectTypeOf<keyof QueueOptions>().toEqualTypeOf<
  | 'redis'
  | 'prefix'
  | 'concurrency'
  | 'concurrentWorkers'
  | 'jobTimeout'
  | 'blockingTimeout'
  | 'commandTimeout'
  | 'duplicateWhileProcessing'
  | 'duplicateWhileWaiting'
  | 'maxWait'
  | 'rateLimit'
  | 'jamGuardInterval'
  | 'jamGuardIdle'
  | 'errorLogSize'
  | 'errorLogTtl'
  | 'maxPayloadBytes'
  | 'defaultJobOptions'
  | 'backoffStrategy'
  | 'stallTimeout'
  | 'encryption'
  | 'events'
  | 'eventsMaxLen'
  | 'keepResults'
  | 'plugins'
>();

// ---- Results and events
expectTypeOf(createQueue('r').waitForResult).toEqualTypeOf<(id: string | number, options?: { timeout?: number }) => Promise<unknown>>();
expectTypeOf<QueueOptions['keepResults']>().toEqualTypeOf<KeepResults | false | undefined>();
void createQueue('r', { keepResults: { count: 100 }, eventsMaxLen: 1000, events: true, plugins: [{ onJobComplete: (job, result) => void [job.id, result] }] });
// @ts-expect-error an unknown hook
void createQueue('r', { plugins: [{ onJobDone: () => undefined }] });
{
  const events = api.createQueueEvents('r', { from: '$' });
  events.on('completed', (e) => expectTypeOf(e).toEqualTypeOf<QueueEventMap['completed']>());
  events.on('failed', (e) => expectTypeOf(e.error.message).toEqualTypeOf<string>());
  events.on('event', (e) => expectTypeOf(e).toEqualTypeOf<QueueEvent>());
  // @ts-expect-error no such event
  events.on('finished', () => undefined);
  expectTypeOf(events).toMatchTypeOf<AsyncIterable<QueueEvent>>();
  expectTypeOf(new api.RemoteJobError('m', { name: 'E', message: 'm' }, 'x').remote.code).toEqualTypeOf<unknown>();
  expectTypeOf<Plugin['onJobAdded']>().toMatchTypeOf<((job: Job, outcome: AddOutcome) => unknown) | undefined>();
}
// Encryption keys: Buffers (or Uint8Arrays) by id.
void createQueue('sealed', { encryption: { keys: { k1: Buffer.alloc(32), k2: new Uint8Array(32) }, current: 'k2' } });
expectTypeOf<QueueOptions['encryption']>().toEqualTypeOf<EncryptionOptions | undefined>();
// @ts-expect-error a key is bytes, not a string
void createQueue('sealed', { encryption: { keys: { k1: 'secret' }, current: 'k1' } });
expectTypeOf(new api.DecryptionError('key', 'detail').key).toBeString();

// ---- Jsonify: what JSON gives back.
expectTypeOf<Jsonify<{ when: Date }>>().toEqualTypeOf<{ when: string }>();
expectTypeOf<Jsonify<{ n: number; f: () => void; u: undefined; s: symbol }>>().toEqualTypeOf<{ n: number }>();
expectTypeOf<Jsonify<{ o?: number; m: string | undefined }>>().toEqualTypeOf<{ o?: number; m?: string }>();
expectTypeOf<Jsonify<(Date | undefined | (() => void))[]>>().toEqualTypeOf<(string | null)[]>();
expectTypeOf<Jsonify<[Date, number]>>().toEqualTypeOf<[string, number]>();
expectTypeOf<Jsonify<{ toJSON(): { a: 1 } }>>().toEqualTypeOf<{ a: 1 }>();
expectTypeOf<Jsonify<{ deep: { d: Date[]; t: boolean | null } }>>().toEqualTypeOf<{ deep: { d: string[]; t: boolean | null } }>();
expectTypeOf<Jsonify<string | number>>().toEqualTypeOf<string | number>();
expectTypeOf<Jsonify<undefined>>().toEqualTypeOf<undefined>();
expectTypeOf<Jsonify<unknown>>().toEqualTypeOf<unknown>();

// ---- Payloads: a queue with a payload type requires one, and its handler gets Jsonify of it.
const typed = createQueue<{ when: Date; n: number }>('typed');
void typed.addJob(new Job(1, { when: new Date(), n: 1 }));
void typed.addJobs([new Job('a', { when: new Date(), n: 2 })]);
expectTypeOf<AddOutcome>().toEqualTypeOf<'queued' | 'scheduled' | 'committed' | 'processing' | 'replaced'>();
expectTypeOf(typed.addJob(new Job(1, { when: new Date(), n: 1 }, { duplicateWhileWaiting: 'debounce', maxWait: 500, delay: 300 }))).resolves.toEqualTypeOf<AddOutcome>();
// @ts-expect-error not a duplicate policy
void new Job(1, undefined, { duplicateWhileProcessing: 'replace' });
// @ts-expect-error a job of a queue with a payload type must carry a payload
void typed.addJob(new Job(1));
// @ts-expect-error a payload of the wrong type
void typed.addJob(new Job(1, { when: 'yesterday', n: 1 }));
const bare = new Job(2);
// @ts-expect-error a job made without a payload does not fit either
void typed.addJob(bare);
typed.process(async (job) => {
  expectTypeOf(job).toEqualTypeOf<ActiveJob<{ when: Date; n: number }>>();
  expectTypeOf(job.payload).toEqualTypeOf<{ when: string; n: number }>();
  expectTypeOf(job.id).toBeString();
  expectTypeOf(job.startedAt).toBeNumber();
  expectTypeOf(job.signal).toEqualTypeOf<AbortSignal>();
});
typed.process((job, done) => {
  expectTypeOf(job.payload.when).toBeString();
  done();
});
expectTypeOf(typed.getFailed()).resolves.toEqualTypeOf<FailedJob<{ when: Date; n: number }>[]>();
expectTypeOf<FailedJob<{ when: Date }>['payload']>().toEqualTypeOf<{ when: string } | undefined>();
expectTypeOf(typed.jamGuard(60)).resolves.toEqualTypeOf<Job<{ when: string; n: number }>[]>();

// The default: payloads optional and of any type; handlers get unknown.
const loose = createQueue('loose');
void loose.addJob(new Job(1));
void loose.addJob(new Job(1, { any: ['thing'] }));
loose.process(async (job) => {
  expectTypeOf(job.payload).toBeUnknown();
});

// A payload type that allows undefined: payloads optional.
const optional = createQueue<{ n: number } | undefined>('optional');
void optional.addJob(new Job(1));
void optional.addJob(new Job(1, { n: 1 }));
optional.process(async (job) => {
  expectTypeOf(job.payload).toEqualTypeOf<{ n: number } | undefined>();
});
expectTypeOf(new Job(1, { n: 1 }).payload).toEqualTypeOf<{ n: number }>();

// Sandboxed handlers: a module's path or file URL, with { sandbox }.
typed.process('./handlers/deliver.js', { sandbox: 'thread' });
loose.process(new URL('file:///srv/handlers/deliver.js'), { sandbox: 'process', maxJobsPerSandbox: 100 });
expectTypeOf<SandboxOptions['sandbox']>().toEqualTypeOf<'thread' | 'process'>();
// What the module's default export gets: the job's data, signal and updateProgress.
const sandboxed = async (job: SandboxJob<{ when: Date; n: number }>) => {
  expectTypeOf(job.payload).toEqualTypeOf<{ when: string; n: number }>();
  expectTypeOf(job.signal).toEqualTypeOf<AbortSignal>();
  expectTypeOf(job.attempt).toBeNumber();
  await job.updateProgress(50);
  return job.payload.n;
};
void sandboxed;
// @ts-expect-error a module path needs its sandbox
loose.process('./handlers/deliver.js', {});
// @ts-expect-error an unknown kind of sandbox
loose.process('./handlers/deliver.js', { sandbox: 'fiber' });
// @ts-expect-error sandbox options go with a module path, not a function
loose.process(async () => 1, { sandbox: 'thread' });
expectTypeOf(new Job('x').id).toBeString();

// ---- Flow control.
expectTypeOf(loose.getRateLimit()).resolves.toEqualTypeOf<RateLimit | null>();
expectTypeOf(loose.getGlobalConcurrency()).resolves.toEqualTypeOf<number | null>();
expectTypeOf(loose.stats()).resolves.toHaveProperty('paused').toBeBoolean();
void loose.setRateLimit(null);
void createQueue('limited', { rateLimit: { max: 100, duration: 60_000 } });
void new Job(1, undefined, { priority: 3, group: 'customer-7' });
expectTypeOf(new api.RateLimitError(500).ms).toBeNumber();
// @ts-expect-error a rate limit has both max and duration
void loose.setRateLimit({ max: 5 });
// @ts-expect-error a group is a string
void new Job(1, undefined, { group: 7 });
// ---- Repeatable jobs: a schedule of every or cron (not both), payloads typed as for addJob.
void typed.repeat('nightly', { cron: '0 3 * * *', tz: 'Europe/Berlin' }, { when: new Date(), n: 1 }, { attempts: 3 });
void loose.repeat(1, { every: 200, startAt: new Date(), endAt: Date.now() + 1000, limit: 5 });
expectTypeOf(loose.repeat('x', { every: 1 })).resolves.toEqualTypeOf<Date | null>();
expectTypeOf(loose.removeRepeat('x')).resolves.toBeBoolean();
expectTypeOf(typed.listRepeats()).resolves.toEqualTypeOf<RepeatInfo<{ when: Date; n: number }>[]>();
expectTypeOf<RepeatInfo<{ when: Date }>['payload']>().toEqualTypeOf<{ when: string } | undefined>();
expectTypeOf<RepeatInfo['next']>().toEqualTypeOf<Date>();
expectTypeOf<RepeatInfo['count']>().toBeNumber();
expectTypeOf<RepeatInfo['schedule']>().toEqualTypeOf<RepeatSchedule>();
// @ts-expect-error a repeat of a queue with a payload type must carry a payload
void typed.repeat('x', { every: 100 });
// @ts-expect-error every and cron together
void loose.repeat('x', { every: 100, cron: '* * * * *' });
// @ts-expect-error a time zone is for cron schedules
void loose.repeat('x', { every: 100, tz: 'UTC' });
// @ts-expect-error the schedule says when: no delay
void loose.repeat('x', { every: 100 }, undefined, { delay: 5 });

// ---- Events: names and listener arguments.
expectTypeOf<keyof QueueEvents>().toEqualTypeOf<
  'completed' | 'failed' | 'retrying' | 'progress' | 'jammed' | 'stalled' | 'error' | 'warning'
>();
typed.on('retrying', (job, error, delay) => {
  expectTypeOf(job.attempt).toBeNumber();
  expectTypeOf(error).toEqualTypeOf<Error>();
  expectTypeOf(delay).toBeNumber();
});
typed.on('stalled', (ids) => expectTypeOf(ids).toEqualTypeOf<string[]>());
typed.on('completed', (job, result) => {
  expectTypeOf(job).toEqualTypeOf<ActiveJob<{ when: Date; n: number }>>();
  expectTypeOf(job.payload.when).toBeString();
  expectTypeOf(result).toBeUnknown();
});
typed.on('failed', (job, error) => {
  expectTypeOf(job.id).toBeString();
  expectTypeOf(error).toEqualTypeOf<Error>();
});
typed.once('jammed', (jobs) => {
  expectTypeOf(jobs).toEqualTypeOf<Job<{ when: string; n: number }>[]>();
});
typed.prependListener('error', (error) => expectTypeOf(error).toEqualTypeOf<Error>());
const onWarning = (message: string): void => void message;
expectTypeOf(typed.on('warning', onWarning)).toEqualTypeOf<Queue<{ when: Date; n: number }>>();
typed.off('warning', onWarning).removeListener('warning', onWarning);
// @ts-expect-error an unknown event name
typed.on('progres', () => undefined);
// @ts-expect-error an unknown event name, on once too
loose.once('complete', () => undefined);
// @ts-expect-error a listener of the wrong shape
typed.on('warning', (message: number) => void message);
// @ts-expect-error emit checks its arguments too
typed.emit('error', 'not an error');
// A queue is still an EventEmitter for code that takes one.
const emitter: EventEmitter = loose;
void emitter;

// ---- Misuse that does not compile (and throws at run time; see test/errors.test.ts).
// @ts-expect-error a misspelt option
createQueue('q', { concurrncy: 4 });
// @ts-expect-error an option that does not exist
createQueue('q', { attempts: 3 });
// @ts-expect-error an option of the wrong type
createQueue('q', { concurrency: '4' });
// @ts-expect-error addJob takes a Job
void loose.addJob({ id: 'x' });
// @ts-expect-error addJobs takes an array
void loose.addJobs(new Job(1));
// @ts-expect-error process takes a function, or a module path with { sandbox }
loose.process('handler');
// @ts-expect-error the idle time is a number
void loose.jamGuard('5');
// @ts-expect-error getFailed's options
void loose.getFailed({ limt: 5 });
// @ts-expect-error a job id is a string or a number
new Job({ id: 1 });
