/**
 * Encryption at rest (the `encryption` queue option): what a queue keeps of a
 * job's data (payload, progress, failure records, and whatever else is JSON
 * written by JS) goes to Redis sealed with AES-256-GCM, tagged with the id of
 * its key so keys can rotate.
 *
 * Stored form: `\u0000enc1:<key id>:<base64 of iv (12 bytes) | tag (16) | ciphertext>`.
 * JSON text never starts with a control character, so a sealed value cannot be
 * taken for plain JSON, nor plain JSON for a sealed value: a queue with
 * encryption still reads the plain JSON of jobs added before it had one.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { DecryptionError, InvalidOptionError } from './errors.js';
import { describe } from './util.js';

/** The `encryption` queue option: the keys by id, and the id of the one new data is written with. */
export interface EncryptionOptions {
  /** 32-byte AES-256 keys by id; an id is a non-empty string without ':'. Keep the old ones while jobs written with them may remain. */
  keys: Record<string, Buffer | Uint8Array>;
  /** The id (in `keys`) of the key new data is written with. */
  current: string;
}

/** The option as a queue keeps it: copies of the keys, as KeyObjects (so logging the options shows no key bytes). */
export interface ResolvedEncryption {
  readonly current: string;
  readonly keys: ReadonlyMap<string, KeyObject>;
}

const PREFIX = '\u0000enc1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Check the option at createQueue; an InvalidOptionError names what is wrong. */
export function resolveEncryption(value: unknown): ResolvedEncryption {
  const bad = (what: string, got: unknown, expected: string): never => {
    throw new InvalidOptionError(`${what} must be ${expected}, got ${describe(got)}`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad('encryption', value, '{ keys, current }');
  const { keys, current, ...rest } = value as Record<string, unknown>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) throw new InvalidOptionError(`unknown encryption option \`${extra}\` (encryption takes \`keys\` and \`current\`)`);
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys) || Object.keys(keys).length === 0) {
    bad('encryption.keys', keys, 'a non-empty object of 32-byte keys by id');
  }
  const resolved = new Map<string, KeyObject>();
  for (const [id, key] of Object.entries(keys as Record<string, unknown>)) {
    if (id === '' || id.includes(':') || !id.isWellFormed()) bad('an encryption key id', id, 'a non-empty string without ":"');
    if (!(key instanceof Uint8Array) || key.byteLength !== 32) bad(`encryption.keys[${JSON.stringify(id)}]`, key, 'a Buffer or Uint8Array of 32 bytes');
    resolved.set(id, createSecretKey(Buffer.from(key as Uint8Array)));
  }
  if (typeof current !== 'string' || !resolved.has(current)) {
    bad('encryption.current', current, `one of the ids in encryption.keys (${[...resolved.keys()].map((k) => JSON.stringify(k)).join(', ')})`);
  }
  return { current: current as string, keys: resolved };
}

/** JSON text sealed with the current key; '' (no data) stays ''. */
export function encodeStored(json: string, enc: ResolvedEncryption): string {
  if (json === '') return json;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', enc.keys.get(enc.current)!, iv);
  const body = Buffer.concat([cipher.update(json, 'utf8'), cipher.final()]);
  return `${PREFIX}${enc.current}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
}

/** Whether a stored value is sealed (or at least not plain JSON text written by convoy-queue). */
export function isSealed(stored: string): boolean {
  return stored.charCodeAt(0) === 0;
}

/**
 * A stored value as JSON text: plain JSON as it is, a sealed value opened.
 * A sealed value this queue object cannot open (no encryption option, a key id
 * not in its keys, data changed since it was sealed) is a DecryptionError;
 * `where` names the data in its message ("the payload of job \"7\"").
 */
export function decodeStored(stored: string, enc: ResolvedEncryption | undefined, key: string, where: string): string {
  if (!isSealed(stored)) return stored;
  const colon = stored.indexOf(':', PREFIX.length);
  if (!stored.startsWith(PREFIX) || colon < 0) throw new DecryptionError(key, `${where} is in an unknown stored format`);
  const keyId = stored.slice(PREFIX.length, colon);
  if (!enc) throw new DecryptionError(key, `${where} is encrypted (key id ${JSON.stringify(keyId)}) and this queue object has no \`encryption\` option`);
  const secret = enc.keys.get(keyId);
  if (!secret) throw new DecryptionError(key, `${where} is encrypted with key id ${JSON.stringify(keyId)}, which is not in this queue's encryption.keys`);
  const raw = Buffer.from(stored.slice(colon + 1), 'base64');
  try {
    if (raw.length < IV_BYTES + TAG_BYTES) throw new Error('too short');
    const decipher = createDecipheriv('aes-256-gcm', secret, raw.subarray(0, IV_BYTES));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new DecryptionError(key, `${where} does not decrypt with key id ${JSON.stringify(keyId)} (the data or the key is not the one it was sealed with)`);
  }
}

/**
 * An error record (JSON with `id` and `time`) as stored: sealed whole, inside
 * a plain `{ id, time, sealed }` so Redis scripts still read its time
 * (trimFailed); the ID is stored plain anyway.
 */
export function sealRecord(record: { id: string; time: number }, json: string, enc: ResolvedEncryption): string {
  return JSON.stringify({ id: record.id, time: record.time, sealed: encodeStored(json, enc) });
}
