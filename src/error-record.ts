/**
 * What crosses processes of a run's end: a failure as an error record (name,
 * message, stack, code, cause chain, own data), a result as JSON. Both are
 * stored as the queue keeps data: sealed when it has `encryption`.
 */
import { encodeStored, sealRecord, type ResolvedEncryption } from './crypto.js';
import type { RemoteErrorInfo } from './errors.js';

/** How deep a cause chain is kept. */
const MAX_CAUSES = 5;
/** Most bytes of JSON an error's own data may take in its record. */
const MAX_DATA_BYTES = 8192;
/** Fields an error record names itself; not repeated in `data`. */
const OWN = new Set(['name', 'message', 'stack', 'code', 'cause']);

/** JSON data as JSON would keep it, or undefined when JSON cannot (cycles, BigInt, a getter that throws). */
function jsonData(value: unknown): unknown {
  try {
    const json = JSON.stringify(value);
    return json === undefined ? undefined : (JSON.parse(json) as unknown);
  } catch {
    return undefined;
  }
}

/**
 * An error as the record a RemoteJobError carries (its `remote`): name,
 * message, stack, `code`, the `cause` chain (as records, five deep) and the
 * error's own data, all as JSON keeps them. Anything thrown that is not an
 * Error becomes `{ name: 'Error', message }`. Never throws.
 *
 * @param depth how deep in a cause chain `err` is (leave it out)
 */
export function describeError(err: unknown, depth = 0): RemoteErrorInfo {
  if (!(err instanceof Error)) return { name: 'Error', message: typeof err === 'string' ? err : String(jsonData(err) ?? err) };
  const info: RemoteErrorInfo = { name: 'Error', message: '' };
  try {
    info.name = String(err.name);
    info.message = String(err.message);
    if (err.stack !== undefined) info.stack = String(err.stack);
    const { code, cause } = err as { code?: unknown; cause?: unknown };
    if (code !== undefined) info.code = jsonData(code);
    if (cause !== undefined) {
      info.cause = cause instanceof Error ? (depth + 1 < MAX_CAUSES ? describeError(cause, depth + 1) : { name: String(cause.name), message: String(cause.message) }) : jsonData(cause);
    }
    const data: Record<string, unknown> = {};
    let any = false;
    for (const key of Object.keys(err)) {
      if (OWN.has(key)) continue;
      const value = jsonData((err as unknown as Record<string, unknown>)[key]);
      if (value !== undefined) [data[key], any] = [value, true];
    }
    if (any && JSON.stringify(data).length <= MAX_DATA_BYTES) info.data = data;
  } catch {
    // A getter that throws: keep what we have.
    if (!info.message) info.message = 'the handler failed with an error that could not be read';
  }
  return info;
}

/** The error record of a failed run, as stored: sealed with `enc` when the queue has encryption. */
export function errorRecord(id: string, err: unknown, enc: ResolvedEncryption | undefined): string {
  const record = { id, ...describeError(err), time: Date.now() };
  const json = JSON.stringify(record);
  return enc ? sealRecord(record, json, enc) : json;
}

/**
 * A handler's result as stored: its JSON (`undefined`, a function or a symbol
 * become null, as JSON has no word for them), sealed with `enc`. A result JSON
 * cannot write (a cycle, a BigInt) or larger than `maxBytes` is kept as null,
 * and `problem` says why.
 */
export function resultJson(value: unknown, maxBytes: number, enc: ResolvedEncryption | undefined): { stored: string; problem?: string } {
  let json: string | undefined;
  let problem: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    problem = `it cannot be written as JSON (${(err as Error).message})`;
  }
  if (json !== undefined && json.length * 3 > maxBytes && Buffer.byteLength(json) > maxBytes) {
    problem = `it is ${Buffer.byteLength(json)} bytes of JSON, more than maxPayloadBytes (${maxBytes})`;
    json = undefined;
  }
  json ??= 'null';
  return { stored: enc ? encodeStored(json, enc) : json, problem };
}
