/** The messages between a sandbox (child.ts) and its pool (pool.ts), and how errors cross. */

/** A job as it crosses to the sandbox: the data of an ActiveJob. */
export interface JobData {
  id: string;
  payload: unknown;
  attempt: number;
  startedAt: number;
  options: unknown;
}

/** An error as it crosses between parent and sandbox. */
export interface ErrorData {
  name: string;
  message: string;
  stack?: string;
  code?: string | number;
}

export type ToSandbox =
  | { type: 'run'; job: JobData }
  | { type: 'abort'; reason: ErrorData }
  | { type: 'progressed'; seq: number; error?: ErrorData };

export type FromSandbox =
  | { type: 'ready' }
  | { type: 'load-failed'; error: ErrorData }
  | { type: 'done'; result: unknown }
  | { type: 'failed'; error: ErrorData }
  | { type: 'progress'; seq: number; value: unknown }
  | { type: 'crashed'; error: ErrorData };

/** Any thrown value as ErrorData; never throws itself. */
export function errorData(err: unknown): ErrorData {
  try {
    if (err instanceof Error) {
      const code = (err as { code?: unknown }).code;
      return {
        name: String(err.name),
        message: String(err.message),
        stack: err.stack === undefined ? undefined : String(err.stack),
        code: typeof code === 'string' || typeof code === 'number' ? code : undefined,
      };
    }
    return { name: 'Error', message: typeof err === 'string' ? err : `handler failed with ${String(err)}` };
  } catch {
    return { name: 'Error', message: 'the handler failed with an error that could not be read' };
  }
}

/** ErrorData back as an Error (name, stack and code kept). */
export function fromErrorData(data: ErrorData, error = new Error(data.message)): Error {
  error.name = data.name;
  if (data.stack !== undefined) error.stack = data.stack;
  if (data.code !== undefined) (error as { code?: unknown }).code = data.code;
  return error;
}
