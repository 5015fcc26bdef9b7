/**
 * Flow control kept in Redis, for every worker of a queue in every process:
 * pause and resume, the rate limit, the global concurrency, and the group
 * concurrency and rate limit. The settings live in the queue's `control` hash;
 * each claim reads them in the same script that takes jobs, so a change takes
 * effect at the next claim (scripts/pause.lua, resume.lua, set-control.lua).
 * Queue's methods delegate here.
 */
import type { ManageHost } from './manage.js';
import { InvalidArgumentError } from './errors.js';
import { checkRateLimit, type RateLimit } from './options.js';
import { describe } from './util.js';

/** The control hash's fields of each setting. */
const FIELDS = {
  rate: ['max', 'duration'],
  groupRate: ['gmax', 'gduration'],
  concurrency: ['concurrency'],
  groupConcurrency: ['gconcurrency'],
} as const;

export class FlowControl {
  constructor(
    private readonly host: ManageHost,
    private readonly assertOpen: (call: string) => void,
  ) {}

  async pause(): Promise<void> {
    this.assertOpen('pause');
    await this.host.run('pause', [], 'pausing the queue');
  }

  async resume(): Promise<void> {
    this.assertOpen('resume');
    await this.host.run('resume', [this.markerLife()], 'resuming the queue');
  }

  /** How long (ms) markers wait for workers still on their way to wait for them. */
  private markerLife(): string {
    return String(Math.ceil(this.host.options.blockingTimeout * 1000) + this.host.options.commandTimeout);
  }

  async isPaused(): Promise<boolean> {
    this.assertOpen('isPaused');
    return String(await this.host.command(['HGET', this.host.keys.control, 'paused'], 'reading whether the queue is paused')) === '1';
  }

  async setRateLimit(call: string, which: 'rate' | 'groupRate', limit: RateLimit | null): Promise<void> {
    this.assertOpen(call);
    const checked = limit === null ? null : checkRateLimit(`${call} limit`, limit);
    const [max, duration] = FIELDS[which];
    await this.set(call, [max, checked ? String(checked.max) : '', duration, checked ? String(checked.duration) : '']);
  }

  async getRateLimit(call: string, which: 'rate' | 'groupRate'): Promise<RateLimit | null> {
    this.assertOpen(call);
    const [max, duration] = await this.read(FIELDS[which]);
    return max !== null && duration !== null ? { max, duration } : null;
  }

  async setConcurrency(call: string, which: 'concurrency' | 'groupConcurrency', n: number | null): Promise<void> {
    this.assertOpen(call);
    if (n !== null && (typeof n !== 'number' || !Number.isInteger(n) || n < 1)) {
      throw new InvalidArgumentError(`${call} takes an integer >= 1, or null for no limit; got ${describe(n)}`);
    }
    await this.set(call, [FIELDS[which][0], n === null ? '' : String(n)]);
  }

  async getConcurrency(call: string, which: 'concurrency' | 'groupConcurrency'): Promise<number | null> {
    this.assertOpen(call);
    return (await this.read(FIELDS[which]))[0];
  }

  private async set(call: string, pairs: string[]): Promise<void> {
    await this.host.run('setControl', [this.markerLife(), ...pairs], call);
  }

  private async read(fields: readonly string[]): Promise<Array<number | null>> {
    const values = (await this.host.command(['HMGET', this.host.keys.control, ...fields], 'reading flow control')) as Array<string | null>;
    return values.map((v) => (v === null ? null : Number(v)));
  }
}
