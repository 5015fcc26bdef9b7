/**
 * The jam guard: one sweep over a queue's processing zset that puts runs older
 * than the idle time (their worker died or hung) back on the queue. Sweeps of a
 * queue never overlap, across processes: each holds a lock in Redis, and every
 * batch checks it still holds it.
 */
import { randomUUID } from 'node:crypto';
import { Job, decodePayload } from './job.js';
import type { ScriptReply } from './scripts.js';
import type { WorkerHost } from './worker.js';
import { log } from './log.js';

/** Runs requeued per script call: bounds how long one call holds Redis. */
export const SWEEP_BATCH = 500;
/** Lock lifetime (ms), renewed by each batch: a sweeper that dies frees it soon. */
export const SWEEP_LOCK_MS = 30_000;

export async function sweep(host: WorkerHost, idleSeconds: number): Promise<Job[]> {
  const { keys, options } = host;
  const token = randomUUID();
  const unlock = () =>
    host.run('unlock', [token], 'unlocking the jam guard').catch((err: Error) => log('unlock failed: %s', err.message));
  let locked: unknown;
  try {
    locked = await host.command(['SET', keys.lock, token, 'NX', 'PX', String(SWEEP_LOCK_MS)], 'locking the jam guard');
  } catch (err) {
    // The SET may still have happened: free the lock rather than leave it for its TTL.
    void unlock();
    throw err;
  }
  if (locked === null) {
    log('%s: another jam guard sweep is running', keys.processing);
    return [];
  }
  const requeued: Job[] = [];
  try {
    for (;;) {
      const reply = (await host.run('sweep', [
        token,
        String(Math.round(idleSeconds * 1e6)),
        String(SWEEP_BATCH),
        String(options.errorLogSize),
        String(options.errorLogTtl),
        String(SWEEP_LOCK_MS),
      ], 'sweeping jammed jobs')) as ScriptReply[] | null;
      if (reply === null) break; // the lock expired under us; whoever has it now carries on
      for (let i = 0; i < reply.length; i += 2) {
        const id = String(reply[i]);
        let payload: unknown;
        try {
          payload = decodePayload(reply[i + 1] as string | null, keys.payload, id, options.encryption);
        } catch {
          payload = undefined; // the worker that claims it reports the bad payload
        }
        requeued.push(new Job(id, payload));
      }
      if (reply.length / 2 < SWEEP_BATCH) break;
    }
  } finally {
    await unlock();
  }
  return requeued;
}
