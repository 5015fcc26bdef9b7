/**
 * The entry of a sandbox, a worker thread or a child process (see pool.ts): it
 * imports the handler module, says whether that worked, then runs one job at
 * a time as the parent's messages say. It imports nothing of convoy-queue but
 * protocol.ts, so a sandbox costs little more than the handler module itself.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorData, fromErrorData, type FromSandbox, type JobData, type ToSandbox } from './protocol.js';

function send(message: FromSandbox, then?: () => void): void {
  if (parentPort) {
    parentPort.postMessage(message);
    then?.();
  } else {
    process.send!(message, undefined, undefined, () => then?.());
  }
}

type SandboxHandler = (job: unknown) => unknown;

let current: AbortController | undefined;
let seq = 0;
const progressWaiters = new Map<number, { resolve(): void; reject(err: Error): void }>();

async function run(data: JobData, handler: SandboxHandler): Promise<void> {
  const controller = new AbortController();
  current = controller;
  const job = {
    ...data,
    signal: controller.signal,
    updateProgress: (value: unknown) =>
      new Promise<void>((resolve, reject) => {
        const n = ++seq;
        progressWaiters.set(n, { resolve, reject });
        try {
          send({ type: 'progress', seq: n, value });
        } catch (err) {
          progressWaiters.delete(n);
          reject(err as Error);
        }
      }),
  };
  let reply: FromSandbox;
  try {
    reply = { type: 'done', result: await handler(job) };
  } catch (err) {
    reply = { type: 'failed', error: errorData(err) };
  }
  current = undefined;
  try {
    send(reply);
  } catch (err) {
    const detail = `the result of job ${data.id} cannot be sent to the parent (results must be JSON data): ${errorData(err).message}`;
    send({ type: 'failed', error: errorData(new TypeError(detail)) });
  }
}

async function main(): Promise<void> {
  const file = parentPort ? (workerData as { file: string }).file : process.argv[2];
  if (!parentPort) {
    // A child process: say why it dies, and die with its parent.
    process.on('uncaughtException', (err) => send({ type: 'crashed', error: errorData(err) }, () => process.exit(1)));
    process.on('disconnect', () => process.exit(1));
  }
  let handler: SandboxHandler;
  try {
    const module = (await import(file)) as { default?: unknown };
    if (typeof module.default !== 'function') {
      throw new TypeError(`its default export is ${module.default === undefined ? 'missing' : `a ${typeof module.default}`}; it must be a function (job) => result`);
    }
    handler = module.default as SandboxHandler;
  } catch (err) {
    // The parent terminates this sandbox.
    send({ type: 'load-failed', error: errorData(err) });
    return;
  }
  const onMessage = (message: ToSandbox) => {
    switch (message.type) {
      case 'run':
        void run(message.job, handler);
        break;
      case 'abort':
        current?.abort(fromErrorData(message.reason));
        break;
      case 'progressed': {
        const waiter = progressWaiters.get(message.seq);
        progressWaiters.delete(message.seq);
        if (message.error) waiter?.reject(fromErrorData(message.error));
        else waiter?.resolve();
        break;
      }
    }
  };
  if (parentPort) parentPort.on('message', onMessage);
  else process.on('message', onMessage);
  send({ type: 'ready' });
}

void main();
