/** Small helpers shared by the core. */

/** The longest delay Node's timers take (ms); a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Jobs claimed, reported or renewed per script call: bounds its time and its Lua argument lists. */
export const MAX_BATCH = 1000;

/** Delay before retry number `attempt` (0-based): exponential from 50 ms, capped at 5 s, with jitter. */
export function backoff(attempt: number): number {
  const ceiling = Math.min(5000, 50 * 2 ** Math.min(attempt, 10));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

/**
 * A short, readable description of any value for an error message: strings
 * quoted, numbers and other primitives as written, objects as JSON where
 * possible. Never throws (cycles, BigInt, hostile getters, revoked proxies).
 */
export function describeValue(value: unknown): string {
  try {
    switch (typeof value) {
      case 'string':
        return JSON.stringify(value);
      case 'bigint':
        return `${value}n`;
      case 'symbol':
        return value.toString();
      case 'function':
        return `a function${value.name ? ` ${value.name}` : ''}`;
      case 'object': {
        if (value === null) return 'null';
        const seen = new WeakSet<object>();
        const json = JSON.stringify(value, (_k, v: unknown) => {
          if (typeof v === 'bigint') return `${v}n`;
          if (typeof v === 'object' && v !== null) {
            if (seen.has(v)) return '[Circular]';
            seen.add(v);
          }
          return v;
        });
        return json.length > 200 ? `${json.slice(0, 200)}…` : json;
      }
      default:
        return String(value);
    }
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Resolve after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

const LONGEST_QUOTE = 60;

/**
 * A value as it was given, for error messages: strings in quotes (so `'5'`
 * shows as `"5"`, not `5`), numbers, booleans, null and undefined bare, other
 * things by their kind (`an object`, `an array`, `a Map`, `function f`).
 */
export function describe(value: unknown): string {
  switch (typeof value) {
    case 'string': {
      const chars = [...value];
      if (chars.length <= LONGEST_QUOTE) return JSON.stringify(value);
      return `${JSON.stringify(chars.slice(0, LONGEST_QUOTE).join(''))}… (${chars.length} characters)`;
    }
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'symbol':
      return value.toString();
    case 'function':
      return value.name ? `function ${value.name}` : 'a function';
    default: {
      if (value === null) return 'null';
      if (Array.isArray(value)) return 'an array';
      const proto = Object.getPrototypeOf(value) as object | null;
      if (proto === null || proto === Object.prototype) return 'an object';
      const kind = (value as { constructor?: { name?: unknown } }).constructor?.name;
      if (typeof kind !== 'string' || kind === '') return 'an object';
      return `${/^[AEIOU]/.test(kind) ? 'an' : 'a'} ${kind}`;
    }
  }
}
