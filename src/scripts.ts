/**
 * Loads the Lua scripts in `scripts/` once, as node-redis script definitions
 * (sent by SHA, re-sent in full only after a NOSCRIPT).
 *
 * Each script's header declares its keys by name (`-- KEYS: queued committed`)
 * and the library pieces it uses (`-- INCLUDE: claim`). The loader prepends a
 * table `K` mapping those names to `KEYS[i]`, so the scripts name their keys
 * and every key they touch still arrives in KEYS.
 *
 * A script that includes lib/events.lua gets the queue object's settings for
 * events and kept results as its first ARGV (see `runScript`); the library
 * takes it off, so the script's own ARGV start at 1 as its header says.
 */
import { readFileSync } from 'node:fs';
import { defineScript, type RedisArgument } from 'redis';
import type { KeyName, QueueKeys } from './keys.js';

const dir = new URL('./scripts/', import.meta.url);

function header(source: string, field: string): string[] {
  const line = source.match(new RegExp(`^-- ${field}:(.*)$`, 'm'));
  return line ? line[1].trim().split(/\s+/).filter(Boolean) : [];
}

function read(file: string): string {
  return readFileSync(new URL(file, dir), 'utf8');
}

function build(name: string) {
  const main = read(`${name}.lua`);
  const keys = header(main, 'KEYS') as KeyName[];
  const parts: string[] = [];
  const libs = header(main, 'INCLUDE');
  for (const lib of libs) {
    const source = read(`lib/${lib}.lua`);
    const missing = header(source, 'KEYS').filter((k) => !keys.includes(k as KeyName));
    if (missing.length) throw new Error(`script ${name} includes ${lib} but does not declare keys ${missing.join(', ')}`);
    parts.push(source);
  }
  const table = keys.map((k, i) => `${k} = KEYS[${i + 1}]`).join(', ');
  const definition = defineScript({
    SCRIPT: `local K = { ${table} }\n${parts.join('\n')}\n${main}`,
    NUMBER_OF_KEYS: keys.length,
    parseCommand(parser, keyNames: readonly string[], args: readonly RedisArgument[], settings?: string) {
      for (const key of keyNames) parser.pushKey(key);
      if (settings !== undefined) parser.push(settings);
      for (const arg of args) parser.push(arg);
    },
    transformReply: (reply: unknown) => reply as never,
  });
  return { keys, definition, settings: libs.includes('events') };
}

const NAMES = ['add', 'claim', 'complete', 'fail', 'renew', 'release', 'promote', 'progress', 'sweep', 'unlock', 'removeFailed', 'failed', 'stats',
  'getJob', 'listJobs', 'removeJob', 'retryFailed', 'drain', 'obliterate', 'workers', 'pause', 'resume', 'setControl',
  'repeatSet', 'repeatRemove', 'repeatFire', 'repeats', 'waitResult'] as const;
export type ScriptName = (typeof NAMES)[number];

const built = Object.fromEntries(
  NAMES.map((n) => [n, build(n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`))]),
) as Record<ScriptName, ReturnType<typeof build>>;

/** The definitions handed to node-redis's `createClient({ scripts })`. */
export const scriptDefinitions = Object.fromEntries(
  NAMES.map((n) => [n, built[n].definition]),
) as Record<ScriptName, ReturnType<typeof build>['definition']>;

export type ScriptReply = null | string | number | ScriptReply[];

/** Anything that can run our scripts: a client or a cluster created with `scriptDefinitions`. */
export interface ScriptRunner {
  [name: string]: unknown;
}

/** Each script's KEYS for one queue, worked out once per queue object. */
export type ScriptKeys = Record<ScriptName, readonly string[]>;

export function scriptKeys(keys: QueueKeys): ScriptKeys {
  return Object.fromEntries(NAMES.map((n) => [n, built[n].keys.map((k) => keys[k])])) as unknown as ScriptKeys;
}

/**
 * Run a script with its KEYS (from scriptKeys); `args` become ARGV, after
 * `settings` (eventSettings) for the scripts that take them.
 */
export function runScript(
  runner: ScriptRunner,
  name: ScriptName,
  keys: ScriptKeys,
  args: readonly RedisArgument[],
  settings: string,
): Promise<ScriptReply> {
  const call = runner[name] as (this: ScriptRunner, k: readonly string[], a: readonly RedisArgument[], s?: string) => Promise<ScriptReply>;
  return call.call(runner, keys[name], args, built[name].settings ? settings : undefined);
}

/**
 * The settings lib/events.lua reads: events MAXLEN (0: no events), whether
 * results are kept, their age (s) and count bounds (0: none).
 */
export function eventSettings(eventsMaxLen: number, keep: { age?: number; count?: number } | false): string {
  return `${eventsMaxLen} ${keep ? 1 : 0} ${keep ? Math.ceil(keep.age ?? 0) : 0} ${keep ? (keep.count ?? 0) : 0}`;
}
