import { ForeignDataError, InvalidJobIdError, InvalidPayloadError } from './errors.js';
import { describe } from './util.js';
import { checkJobOptions, type AddPolicy, type JobOptions, type StoredJobOptions } from './job-options.js';
import type { Jsonify } from './jsonify.js';
import { decodeStored, encodeStored, isSealed, type ResolvedEncryption } from './crypto.js';

/** Longest job ID, in UTF-8 bytes. */
export const MAX_ID_BYTES = 1024;

/**
 * The arguments after the ID of `new Job(id, payload?, options?)`: the payload
 * may be left out only when `P` allows `undefined` (as `unknown`, the default,
 * does). So where a `Job<{ n: number }>` is expected, `new Job(1)` does not
 * type-check.
 */
export type JobArgs<P> = undefined extends P ? [payload?: P, options?: JobOptions] : [payload: P, options?: JobOptions];

/**
 * A job is its unique ID, with optional JSON data and options. `P` is the type
 * of the payload as added; a handler receives it after a JSON round trip, as
 * `Jsonify<P>` (see ActiveJob).
 */
export class Job<P = unknown> {
  /** The ID as stored in Redis: numbers become their decimal string. */
  readonly id: string;
  /** The payload; `undefined` when the job has none. */
  readonly payload: P;
  /** The options as given (checked when the Job is made). */
  readonly options: JobOptions | undefined;
  /** @internal What is kept in Redis, the delay from now in ms, and the add's duplicate policies. */
  readonly prepared: { stored?: StoredJobOptions; delay: number; policy?: AddPolicy };

  constructor(id: string | number, ...[payload, options]: JobArgs<P>) {
    this.id = jobId(id);
    this.payload = payload as P;
    this.prepared = checkJobOptions(options);
    this.options = options;
  }
}

/**
 * A job handed to a handler of a `Queue<P>`: its payload is what JSON gave
 * back (`Jsonify<P>`: a `Date` arrives as a string), and it also says when it
 * started, which attempt it is, and when to give up.
 */
export class ActiveJob<P = unknown> extends Job<Jsonify<P>> {
  /** When this worker claimed it (ms since the epoch, Redis clock). */
  readonly startedAt: number;
  /** The 1-based number of this run: 2 is the first retry. */
  readonly attempt: number;
  #controller?: AbortController;
  #reason?: unknown;
  #report: (value: unknown) => Promise<void>;

  /** Made by the worker; a test may make one to call a handler directly. */
  constructor(
    id: string,
    payload: Jsonify<P>,
    startedAt: number,
    attempt = 1,
    options?: StoredJobOptions,
    report: (value: unknown) => Promise<void> = async () => undefined,
  ) {
    super(id, ...([payload, options] as unknown as JobArgs<Jsonify<P>>));
    this.startedAt = startedAt;
    this.attempt = attempt;
    this.#report = report;
  }

  /**
   * Store this run's progress (a number or JSON data) with the running job and
   * emit 'progress' (job, value) in this process. Resolves once it is stored.
   */
  updateProgress(value: number | object): Promise<void> {
    return this.#report(value);
  }

  /** Aborted when the run times out or the queue closes without waiting for it: stop work then. */
  get signal(): AbortSignal {
    // Made on first use: most handlers never look, and a busy worker starts many jobs.
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#reason !== undefined) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** @internal */
  abort(reason: unknown): void {
    if (this.#reason !== undefined) return;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

function jobId(id: unknown): string {
  let value: string;
  if (typeof id === 'number') {
    if (!Number.isFinite(id)) throw new InvalidJobIdError(`job id must be a finite number or a non-empty string, got ${describe(id)}`);
    value = String(id);
  } else if (typeof id === 'string') {
    if (id === '') throw new InvalidJobIdError('job id must not be an empty string, got ""');
    value = id;
  } else {
    throw new InvalidJobIdError(`job id must be a number or a non-empty string, got ${describe(id)}`);
  }
  if (!value.isWellFormed()) throw new InvalidJobIdError(`job id must be well-formed unicode (it has a lone surrogate), got ${describe(value)}`);
  const bytes = Buffer.byteLength(value);
  if (bytes > MAX_ID_BYTES) throw new InvalidJobIdError(`job id is ${bytes} bytes; the most is ${MAX_ID_BYTES}: ${describe(value)}`);
  return value;
}

/**
 * The payload as JSON, or '' for none. Only data that JSON keeps as it is may
 * pass: what JSON.stringify would silently change (NaN, -0, undefined members,
 * functions) or cannot write (BigInt, cycles) is refused, so a worker gets
 * exactly what was added. Objects with toJSON (Date) are sent as that returns.
 * With `enc`, the JSON (its size checked first) is stored sealed.
 */
export function encodePayload(payload: unknown, maxBytes: number, enc?: ResolvedEncryption): string {
  if (payload === undefined) return '';
  let json: string;
  try {
    json = JSON.stringify(payload, strictValue);
  } catch (err) {
    if (err instanceof InvalidPayloadError) throw err;
    throw new InvalidPayloadError(`payload cannot be written as JSON: ${(err as Error).message}`);
  }
  if (json.length > maxBytes || Buffer.byteLength(json) > maxBytes) {
    throw new InvalidPayloadError(`payload is ${Buffer.byteLength(json)} bytes of JSON; the most is ${maxBytes}`);
  }
  return enc ? encodeStored(json, enc) : json;
}

function strictValue(this: unknown, key: string, value: unknown): unknown {
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value) || Object.is(value, -0)) {
        throw new InvalidPayloadError(`payload${where(key)} is ${Object.is(value, -0) ? '-0' : value}, which JSON cannot keep`);
      }
      return value;
    case 'string':
      if (!value.isWellFormed()) throw new InvalidPayloadError(`payload${where(key)} has a lone surrogate`);
      return value;
    case 'undefined':
    case 'function':
    case 'symbol':
    case 'bigint':
      throw new InvalidPayloadError(`payload${where(key)} is a ${typeof value}, which JSON cannot keep`);
    case 'object':
      if (value !== null) plainData(value, key);
      return value;
    default:
      return value;
  }
}

/** Only arrays and plain objects: a Map, Set, typed array or boxed number would arrive as something else. */
function plainData(value: object, key: string): void {
  if (Array.isArray(value)) return;
  const proto = Object.getPrototypeOf(value) as object | null;
  if (proto !== Object.prototype && proto !== null) {
    const kind = (value as { constructor?: { name?: string } }).constructor?.name ?? 'object';
    throw new InvalidPayloadError(`payload${where(key)} is a ${kind}, which JSON cannot keep (use plain objects and arrays)`);
  }
  if (Object.getOwnPropertySymbols(value).length > 0) {
    throw new InvalidPayloadError(`payload${where(key)} has symbol keys, which JSON drops`);
  }
}

function where(key: string): string {
  return key === '' ? '' : ` member ${JSON.stringify(key)}`;
}

/**
 * A stored payload back as data; JSON convoy-queue did not write is a
 * ForeignDataError, a sealed value `enc` cannot open a DecryptionError.
 */
export function decodePayload(json: string | null, key: string, id: string, enc?: ResolvedEncryption): unknown {
  if (json === null) return undefined;
  if (isSealed(json)) json = decodeStored(json, enc, key, `the data of job ${JSON.stringify(id)}`);
  try {
    return JSON.parse(json) as unknown;
  } catch {
    throw new ForeignDataError(key, `the payload of job ${JSON.stringify(id)} is not JSON`);
  }
}
