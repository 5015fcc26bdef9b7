/**
 * Task arguments as canonical JSON: object keys sorted, so equal arguments
 * give equal text (and one job ID) whatever order their keys were written in.
 * Only what JSON keeps exactly may pass: a task gets its arguments after a JSON
 * round trip, so undefined, functions, symbols, bigints, NaN, ±Infinity, -0,
 * lone surrogates, class instances (a Date, a Map), symbol keys, sparse arrays
 * and cycles are refused with an InvalidPayloadError. (Stricter than job
 * payloads, which let a Date through as its toJSON string.)
 */
import { InvalidPayloadError } from '../index.js';

export function canonicalJson(value: unknown): string {
  return write(value, 'arguments', new Set());
}

function write(value: unknown, path: string, open: Set<object>): string {
  switch (typeof value) {
    case 'string':
      if (!value.isWellFormed()) refuse(path, 'has a lone surrogate');
      return JSON.stringify(value);
    case 'boolean':
      return String(value);
    case 'number':
      if (!Number.isFinite(value) || Object.is(value, -0)) refuse(path, `is ${Object.is(value, -0) ? '-0' : value}`);
      return String(value);
    case 'object':
      if (value === null) return 'null';
      return writeObject(value, path, open);
    default:
      return refuse(path, `is a ${typeof value}`);
  }
}

function writeObject(value: object, path: string, open: Set<object>): string {
  if (open.has(value)) refuse(path, 'refers to itself (a cycle)');
  open.add(value);
  let text: string;
  if (Array.isArray(value)) {
    const items: string[] = [];
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) refuse(`${path}[${i}]`, 'is a hole in a sparse array');
      items.push(write(value[i], `${path}[${i}]`, open));
    }
    text = `[${items.join(',')}]`;
  } else {
    const proto = Object.getPrototypeOf(value) as object | null;
    if (proto !== Object.prototype && proto !== null) {
      refuse(path, `is a ${(value as { constructor?: { name?: string } }).constructor?.name ?? 'class instance'} (use plain objects and arrays)`);
    }
    if (Object.getOwnPropertySymbols(value).length) refuse(path, 'has symbol keys');
    const record = value as Record<string, unknown>;
    const members = Object.keys(record)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${write(record[k], `${path}.${k}`, open)}`);
    text = `{${members.join(',')}}`;
  }
  open.delete(value);
  return text;
}

function refuse(path: string, what: string): never {
  throw new InvalidPayloadError(`task ${path} ${what}, which JSON cannot keep`);
}
