/**
 * Encryption at rest: payloads, progress and error records are stored
 * AES-256-GCM encrypted; keys rotate by id. Run: `npx tsx examples/encryption.ts`.
 * Uses REDIS_URL when set (touching only this example's own keys), otherwise a
 * private redis-server that it starts and stops.
 */
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';
import { Job, createQueue, type ActiveJob } from '../src/index.js';
import { startRedisServer } from '../test/helpers/redis-server.js';

const server = process.env.REDIS_URL ? undefined : await startRedisServer();
const redis = process.env.REDIS_URL ?? server!.url;
const name = `payments-${process.pid}`;

// In production, load the keys from your secret store: 32 bytes each, by id.
const key2024 = randomBytes(32);
const key2025 = randomBytes(32);

// Jobs added now are sealed with key "2024".
const before = createQueue<{ card: string }>(name, { redis, encryption: { keys: { '2024': key2024 }, current: '2024' } });
await before.addJob(new Job('order-1', { card: '4111 1111 1111 1111' }));

// What Redis holds: no card number, only the key id and the sealed bytes.
const raw = createClient({ url: redis });
await raw.connect();
console.log('stored payload:', JSON.stringify(await raw.hGet(before.keys.payload, 'order-1')));

// Rotation: new data is sealed with "2025"; jobs sealed with "2024" still run
// while "2024" is listed. Drop it once no job written with it remains.
const q = createQueue<{ card: string }>(name, { redis, encryption: { keys: { '2024': key2024, '2025': key2025 }, current: '2025' } });
await q.addJob(new Job('order-2', { card: '5500 0000 0000 0004' }));
const done = new Promise<void>((resolve) => {
  let n = 0;
  q.on('completed', () => ++n === 2 && resolve());
});
q.process(async (job: ActiveJob<{ card: string }>) => {
  console.log(`charging ${job.id}: card ending ${job.payload.card.slice(-4)}`);
});
await done;

await q.obliterate(); // this example's keys go
await Promise.all([before.close(), q.close()]);
raw.destroy();
await server?.stop();
