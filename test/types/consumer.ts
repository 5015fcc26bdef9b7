/**
 * A small strict app, as a user writes one: type-checked against the packed
 * package (test/package.test.ts) at the lowest supported and the current
 * @types/node.
 */
import Convoy, { ConvoyError, Job, QueueClosedError, RemoteJobError, createQueue, createQueueEvents, type ActiveJob, type QueueOptions } from 'convoy-queue';

interface Delivery {
  truck: string;
  due: Date;
  stops?: number;
}

const options: QueueOptions = { redis: 'redis://127.0.0.1:6379', concurrency: 4, jobTimeout: 10_000 };
const deliveries = createQueue<Delivery>('deliveries', options);

deliveries.on('completed', (job, result) => {
  console.log(`delivered ${job.id} by ${job.payload.truck}:`, result);
});
deliveries.on('failed', (job: ActiveJob<Delivery>, error: Error) => {
  console.error(job.id, error.message);
});
deliveries.on('error', (error) => console.error(error));

deliveries.process(async (job) => {
  const due = new Date(job.payload.due);
  if (job.signal.aborted) return 'aborted';
  return `${job.payload.truck} due ${due.toISOString()} after ${job.payload.stops ?? 0} stops`;
});

export async function main(): Promise<void> {
  const outcome = await deliveries.addJob(new Job('d-1', { truck: 'Bigfoot', due: new Date() }));
  const outcomes: Array<'queued' | 'scheduled' | 'committed' | 'processing' | 'replaced'> = await deliveries.addJobs([
    new Job(2, { truck: 'Mack', due: new Date(), stops: 3 }),
  ]);
  console.log(outcome, outcomes, await deliveries.stats());
  try {
    console.log('result', await deliveries.waitForResult('d-1', { timeout: 5000 }));
  } catch (err) {
    if (err instanceof RemoteJobError) console.error(err.remote.name, err.remote.code, err.message);
  }
  const events = createQueueEvents('deliveries', { redis: 'redis://127.0.0.1:6379' });
  events.on('completed', (e) => console.log(e.id, e.result));
  for await (const e of events) if (e.event === 'failed') console.log(e.id, e.error.message);
  for (const failed of await deliveries.getFailed({ limit: 10 })) {
    console.log(failed.id, failed.count, failed.lastError?.message, failed.payload?.due.toUpperCase());
  }
  const other = Convoy.createQueue('other');
  await other.addJob(new Convoy.Job(7));
  try {
    await other.close({ timeout: 1000 });
    await other.stats();
  } catch (err) {
    if (err instanceof QueueClosedError) console.log('closed');
    else if (err instanceof ConvoyError) console.log(err.name);
    else throw err;
  }
  await deliveries.close();
}
