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
  | 'ForeignDataError';
expectTypeOf<keyof typeof api>().toEqualTypeOf<
  'default' | 'Job' | 'ActiveJob' | 'MAX_ID_BYTES' | 'Queue' | 'createQueue' | 'queueKeys' | ErrorNames
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
  | 'worker'
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
  | 'jamGuardInterval'
  | 'jamGuardIdle'
  | 'errorLogSize'
  | 'errorLogTtl'
  | 'maxPayloadBytes'
  | 'defaultJobOptions'
  | 'backoffStrategy'
  | 'stallTimeout'
>();

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
expectTypeOf(new Job('x').id).toBeString();

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
// @ts-expect-error process takes a function
loose.process('handler');
// @ts-expect-error the idle time is a number
void loose.jamGuard('5');
// @ts-expect-error getFailed's options
void loose.getFailed({ limt: 5 });
// @ts-expect-error a job id is a string or a number
new Job({ id: 1 });
