/**
 * Repeatable jobs: a schedule (`every` ms, or a cron expression) that adds a
 * job ID at each of its occurrences. The schedules live in Redis (scripts
 * repeat-set.lua, repeat-remove.lua, repeat-fire.lua, repeats.lua); each
 * worker runs a RepeatScheduler that fires the occurrences when they fall due.
 * Queue's repeat methods delegate to RepeatManager.
 *
 * The scheduler polls nothing: it keeps one timer for the earliest occurrence
 * it knows of, learned from the replies of its own calls, from its worker's
 * lease renewals (every stallTimeout / 3) and from the 'r' marker that
 * repeat-set leaves on the wake list for an idle worker when it creates an
 * earlier occurrence. A queue without repeats pays one TYPE call per renewal.
 */
import { createHash } from 'node:crypto';
import type { RedisArgument } from 'redis';
import { Job, decodePayload, encodePayload } from './job.js';
import { ForeignDataError, InvalidArgumentError, InvalidOptionError } from './errors.js';
import { withDefaults, type AddPolicy, type DuplicatePolicy, type JobOptions, type StoredJobOptions } from './job-options.js';
import type { QueueKeys } from './keys.js';
import type { ResolvedOptions } from './options.js';
import type { ScriptName, ScriptReply } from './scripts.js';
import type { Jsonify } from './jsonify.js';
import { MAX_TIMER_MS, backoff, describe } from './util.js';

/** When a repeatable job ends, whatever its schedule. */
export interface RepeatBounds {
  /** No occurrence before this time (a Date, or ms since the epoch). Default: now. */
  startAt?: Date | number;
  /** No occurrence after this time (a Date, or ms since the epoch); then the repeat is removed. Default: none. */
  endAt?: Date | number;
  /** At most this many occurrences (one whose job was still waiting or running, and so added nothing, counts too); then the repeat is removed. Default: none. */
  limit?: number;
}

/**
 * When a repeatable job is added: every `every` ms (the first one `every` ms
 * from now, or at `startAt`), or at the times of a cron expression
 * (`cron: '0 3 * * *'`; a sixth, leading field gives seconds), read in the
 * time zone `tz` (an IANA name such as 'Europe/Berlin'; default UTC).
 */
export type RepeatSchedule = ({ every: number; cron?: never; tz?: never } | { cron: string; tz?: string; every?: never }) & RepeatBounds;

/** The job options of a repeatable job: those of an add, but its schedule says when. */
export type RepeatJobOptions = Omit<JobOptions, 'delay' | 'runAt'>;

/** The arguments after the schedule of `repeat(id, schedule, payload?, options?)`: as for `new Job`, the payload may be left out only when `P` allows `undefined`. */
export type RepeatArgs<P> = undefined extends P ? [payload?: P, options?: RepeatJobOptions] : [payload: P, options?: RepeatJobOptions];

/** A repeatable job as listRepeats() reads it. */
export interface RepeatInfo<P = unknown> {
  /** the job ID each occurrence adds */
  id: string;
  /** its schedule; startAt and endAt as ms since the epoch */
  schedule: RepeatSchedule;
  /** when its next occurrence adds the job (Redis clock) */
  next: Date;
  /** the payload each occurrence adds, as JSON gives it back; `undefined` when none */
  payload: Jsonify<P> | undefined;
  /** the job options each occurrence adds (the queue's defaultJobOptions included); `{}` when none */
  options: RepeatJobOptions;
  /** occurrences so far, since the schedule was set (a repeat() with another spec starts again at 0) */
  count: number;
}

/** A repeat as kept in Redis (the JSON after the count in repeatspec); key order is fixed, so the same call writes the same string. */
interface Spec {
  every?: number;
  cron?: string;
  tz?: string;
  startAt?: number;
  endAt?: number;
  limit?: number;
  /** the payload JSON */
  payload?: string;
  options?: StoredJobOptions;
  policy?: AddPolicy;
  /** the policy for an occurrence whose ID is processing */
  mode: DuplicatePolicy;
}

const SCHEDULE_KEYS = ['every', 'cron', 'tz', 'startAt', 'endAt', 'limit'] as const;

// ---- occurrences

const loadCron = () => import('cron-parser');
let cronModule: ReturnType<typeof loadCron> | undefined;

/** The first cron occurrence after `after` (ms), or null when there is none. cron-parser is loaded on first use. */
async function cronAfter(spec: Spec, after: number): Promise<number | null> {
  const { CronExpressionParser } = await (cronModule ??= loadCron());
  try {
    return CronExpressionParser.parse(spec.cron!, { currentDate: after, tz: spec.tz }).next().getTime();
  } catch {
    return null;
  }
}

/** The first time after `now` of the series `phase + k × every`. */
function following(phase: number, every: number, now: number): number {
  return phase + every * (Math.floor((now - phase) / every) + 1);
}

function within(spec: Spec, at: number | null): number | null {
  return at === null || (spec.endAt !== undefined && at > spec.endAt) ? null : at;
}

/**
 * The occurrence after the one at `occurrence` fired as number `count`, at
 * Redis time `now`, or null when the schedule is over. After downtime the
 * missed occurrences were one firing (the catch-up): the schedule goes on
 * from now.
 */
async function nextOccurrence(spec: Spec, occurrence: number, now: number, count: number): Promise<number | null> {
  if (spec.limit !== undefined && count >= spec.limit) return null;
  const after = Math.max(now, occurrence);
  return within(spec, spec.every !== undefined ? following(occurrence, spec.every, after) : await cronAfter(spec, after));
}

/** The first occurrence for repeat-set: ms, '+ms' (from now on the Redis clock), or '' when there is none. */
async function firstOccurrence(spec: Spec): Promise<string> {
  const now = Date.now();
  if (spec.every !== undefined && spec.startAt === undefined) {
    return within(spec, now + spec.every) === null ? '' : `+${spec.every}`;
  }
  let at: number | null;
  if (spec.every !== undefined) at = spec.startAt! >= now ? spec.startAt! : following(spec.startAt!, spec.every, now);
  else at = await cronAfter(spec, Math.max(now, (spec.startAt ?? 0) - 1));
  return String(within(spec, at) ?? '');
}

// ---- validation

function bad(what: string, value: unknown, expected: string): never {
  throw new InvalidOptionError(`repeat schedule ${what} must be ${expected}, got ${describe(value)}`);
}

function time(what: string, value: unknown): number {
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) bad(what, value, 'a valid Date or ms since the epoch');
  return ms;
}

/** The schedule part of the spec, checked (the cron expression is parsed by cron-parser). */
async function checkSchedule(schedule: unknown): Promise<Omit<Spec, 'mode'>> {
  if (typeof schedule !== 'object' || schedule === null || Array.isArray(schedule)) {
    throw new InvalidArgumentError(`repeat takes a schedule object ({ every: ms } or { cron: '0 3 * * *' }), got ${describe(schedule)}`);
  }
  const s = schedule as Record<string, unknown>;
  for (const k of Object.keys(s)) {
    if (!(SCHEDULE_KEYS as readonly string[]).includes(k)) throw new InvalidOptionError(`unknown repeat schedule key ${JSON.stringify(k)}; the keys are ${SCHEDULE_KEYS.join(', ')}`);
  }
  if ((s.every === undefined) === (s.cron === undefined)) {
    throw new InvalidOptionError(`a repeat schedule has exactly one of every and cron, got ${describe(schedule)}`);
  }
  const spec: Omit<Spec, 'mode'> = {};
  if (s.every !== undefined) {
    if (typeof s.every !== 'number' || !Number.isSafeInteger(s.every) || s.every < 1) bad('every', s.every, 'an integer number of ms >= 1');
    if (s.tz !== undefined) bad('tz', s.tz, 'absent with every (a time zone is for cron expressions)');
    spec.every = s.every;
  } else {
    if (typeof s.cron !== 'string' || s.cron.trim() === '') bad('cron', s.cron, 'a cron expression');
    spec.cron = s.cron;
    if (s.tz !== undefined) {
      try {
        if (typeof s.tz !== 'string' || s.tz === '') throw new RangeError();
        new Intl.DateTimeFormat('en-US', { timeZone: s.tz });
      } catch {
        bad('tz', s.tz, "an IANA time zone name such as 'Europe/Berlin'");
      }
      spec.tz = s.tz;
    }
    const { CronExpressionParser } = await (cronModule ??= loadCron());
    try {
      CronExpressionParser.parse(s.cron, { tz: spec.tz }).next();
    } catch (err) {
      throw new InvalidOptionError(`repeat schedule cron ${describe(s.cron)} is not a cron expression cron-parser can read: ${(err as Error).message}`);
    }
  }
  if (s.startAt !== undefined) spec.startAt = time('startAt', s.startAt);
  if (s.endAt !== undefined) spec.endAt = time('endAt', s.endAt);
  if (spec.startAt !== undefined && spec.endAt !== undefined && spec.endAt < spec.startAt) bad('endAt', s.endAt, 'at or after startAt');
  if (s.limit !== undefined) {
    if (typeof s.limit !== 'number' || !Number.isSafeInteger(s.limit) || s.limit < 1) bad('limit', s.limit, 'an integer >= 1');
    spec.limit = s.limit;
  }
  return spec;
}

// ---- the stored form

function parseStored(id: string, stored: string, key: string): { count: number; spec: Spec } {
  const sp = stored.indexOf(' ');
  try {
    const spec = JSON.parse(stored.slice(sp + 1)) as Spec;
    if (sp > 0 && typeof spec === 'object' && spec !== null && (spec.every !== undefined || typeof spec.cron === 'string')) {
      return { count: Number(stored.slice(0, sp)), spec };
    }
  } catch {
    // reported below
  }
  throw new ForeignDataError(key, `the repeat of ${JSON.stringify(id)} is not one convoy-queue wrote`);
}

const POLICY_OPTIONS = { waiting: 'duplicateWhileWaiting', processing: 'duplicateWhileProcessing', maxWait: 'maxWait' } as const;

function info<P>(id: string, next: number, count: number, spec: Spec, key: string): RepeatInfo<P> {
  const schedule = Object.fromEntries(SCHEDULE_KEYS.filter((k) => spec[k] !== undefined).map((k) => [k, spec[k]])) as unknown as RepeatSchedule;
  const options: RepeatJobOptions = { ...spec.options };
  for (const [k, name] of Object.entries(POLICY_OPTIONS)) {
    const v = spec.policy?.[k as keyof AddPolicy];
    if (v !== undefined) (options as Record<string, unknown>)[name] = v;
  }
  const payload = spec.payload === undefined ? undefined : (decodePayload(spec.payload, key, id) as Jsonify<P>);
  return { id, schedule, next: new Date(next), payload, options, count };
}

// ---- the queue's calls

/** What the repeat calls need from their queue (and the scheduler from its worker). */
export interface RepeatHost {
  readonly keys: QueueKeys;
  readonly options: ResolvedOptions;
  run(name: ScriptName, args: readonly RedisArgument[], what: string): Promise<ScriptReply>;
  onError(err: unknown, what: string): void;
}

export class RepeatManager<P = unknown> {
  constructor(
    private readonly host: RepeatHost,
    /** Throws the queue's QueueClosedError once its close() was called. */
    private readonly assertOpen: (call: string) => void,
    /** Tells this process's worker, if any, that an occurrence is due in `ms`. */
    private readonly poke: (ms: number) => void,
  ) {}

  async repeat(id: string | number, schedule: RepeatSchedule, ...[payload, options]: RepeatArgs<P>): Promise<Date | null> {
    this.assertOpen('repeat');
    const key = new Job(id).id;
    if (options !== undefined && typeof options === 'object' && options !== null && ('delay' in options || 'runAt' in options)) {
      throw new InvalidOptionError('repeat takes no delay or runAt job option: its schedule says when the job is added');
    }
    const spec = (await checkSchedule(schedule)) as Spec;
    const { defaultJobOptions, duplicateWhileProcessing, maxPayloadBytes } = this.host.options;
    const defaults = defaultJobOptions && { ...defaultJobOptions, delay: undefined, runAt: undefined };
    const { stored, policy } = withDefaults(options, defaults);
    const json = encodePayload(payload, maxPayloadBytes);
    if (json !== '') spec.payload = json;
    if (stored) spec.options = stored;
    if (policy) spec.policy = policy;
    spec.mode = policy?.processing ?? duplicateWhileProcessing;
    this.assertOpen('repeat');
    const reply = (await this.host.run('repeatSet', [key, JSON.stringify(spec), await firstOccurrence(spec)], 'setting a repeatable job')) as ScriptReply[];
    if (reply[1] === null) return null;
    this.poke(Number(reply[2]));
    return new Date(Number(reply[1]));
  }

  async removeRepeat(id: string | number): Promise<boolean> {
    this.assertOpen('removeRepeat');
    return Number(await this.host.run('repeatRemove', [new Job(id).id], 'removing a repeatable job')) === 1;
  }

  async listRepeats(): Promise<RepeatInfo<P>[]> {
    this.assertOpen('listRepeats');
    const reply = (await this.host.run('repeats', ['0', '-1'], 'listing repeatable jobs')) as ScriptReply[];
    const out: RepeatInfo<P>[] = [];
    const key = this.host.keys.repeatspec;
    for (let i = 2; i < reply.length; i += 3) {
      const id = String(reply[i]);
      if (reply[i + 2] === null) continue;
      const { count, spec } = parseStored(id, String(reply[i + 2]), key);
      out.push(info<P>(id, Number(reply[i + 1]), count, spec, key));
    }
    return out;
  }
}

// ---- the scheduler of a worker

/** Due repeats fired per read. */
const FIRE_BATCH = 100;

/**
 * Fires the occurrences of a queue's repeats when they fall due, inside a
 * process that runs a worker. Every worker of the queue may try an
 * occurrence; repeat-fire lets exactly one of them add its job.
 */
export class RepeatScheduler {
  private timer?: NodeJS.Timeout;
  /** When (local clock) the timer fires; Infinity when none is set. */
  private at = Infinity;
  private checking = false;
  private again = false;
  private stopped = false;
  private failures = 0;

  constructor(private readonly host: RepeatHost) {}

  /** A reply said the earliest occurrence is due in `ms` (null or false: it knows of none): fire it then. */
  dueIn(ms: ScriptReply | boolean | undefined): void {
    if (this.stopped || ms === null || ms === undefined || ms === false) return;
    const wait = Math.min(Math.max(0, Number(ms)), MAX_TIMER_MS);
    const at = Date.now() + wait;
    if (at >= this.at) return;
    clearTimeout(this.timer);
    this.at = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.at = Infinity;
      void this.check();
    }, wait);
    this.timer.unref();
  }

  /** Fire what is due now, then set the timer for what comes next. */
  async check(): Promise<void> {
    if (this.stopped) return;
    if (this.checking) {
      this.again = true;
      return;
    }
    this.checking = true;
    try {
      do {
        this.again = false;
        const reply = (await this.host.run('repeats', ['1', String(FIRE_BATCH)], 'reading due repeatable jobs')) as ScriptReply[];
        const now = Number(reply[0]);
        const fires: Promise<void>[] = [];
        for (let i = 2; i < reply.length; i += 3) {
          if (reply[i + 2] !== null) fires.push(this.fire(String(reply[i]), String(reply[i + 1]), String(reply[i + 2]), now));
        }
        await Promise.all(fires);
        this.failures = 0;
        this.dueIn(reply[1]);
      } while (this.again && !this.stopped);
    } catch (err) {
      if (this.stopped) return;
      this.host.onError(err, 'firing repeatable jobs');
      this.dueIn(backoff(this.failures++));
    } finally {
      this.checking = false;
    }
  }

  /** One occurrence: add its job and move the repeat on, unless another worker did already. */
  private async fire(id: string, score: string, stored: string, now: number): Promise<void> {
    const { count, spec } = parseStored(id, stored, this.host.keys.repeatspec);
    const next = await nextOccurrence(spec, Number(score), now, count + 1);
    const options = spec.options ? JSON.stringify({ ...spec.options, addedAt: now }) : '';
    const sha = createHash('sha1').update(stored).digest('hex');
    // a waiting occurrence follows the repeat's own policy, else this queue's
    const { duplicateWhileWaiting, maxWait } = this.host.options;
    const wait = [spec.policy?.waiting ?? duplicateWhileWaiting, String(spec.policy?.maxWait ?? maxWait ?? '')];
    const args = [id, score, sha, next === null ? '' : String(next), spec.mode, spec.payload ?? '', options, ...wait];
    const reply = (await this.host.run('repeatFire', args, 'firing a repeatable job')) as ScriptReply[];
    this.dueIn(reply[1]);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}
