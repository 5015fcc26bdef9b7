/**
 * What a value's type becomes after `JSON.parse(JSON.stringify(value))`: the
 * type a handler receives for a payload added as `T`.
 *
 * - `toJSON()` is honoured: a `Date` becomes `string`.
 * - Object members that are functions, symbols or `undefined` are dropped; a
 *   member that may be one of them becomes optional.
 * - In arrays they become `null`, as JSON.stringify writes them.
 * - Symbol keys are dropped; `unknown` and `any` stay as they are.
 *
 * Payloads that JSON would change are refused at run time anyway (see
 * `InvalidPayloadError`), except for `toJSON`: this type is what arrives.
 */
export type Jsonify<T> = unknown extends T
  ? T
  : T extends { toJSON(...args: never[]): infer R }
    ? Jsonify<R>
    : T extends string | number | boolean | null
      ? T
      : T extends NotJson
        ? undefined
        : T extends bigint
          ? never
          : T extends readonly unknown[]
            ? { [K in keyof T]: JsonifyItem<T[K]> }
            : T extends object
              ? JsonifyObject<T>
              : never;

/** What JSON.stringify leaves out of objects, and writes as null in arrays. */
type NotJson = undefined | symbol | ((...args: never[]) => unknown);

type JsonifyItem<T> = T extends NotJson ? null : Jsonify<T>;

/** Keys kept whatever the member holds. */
type AlwaysKept<T> = {
  [K in keyof T]-?: K extends symbol ? never : [Extract<T[K], NotJson>] extends [never] ? K : never;
}[keyof T];

/** Keys kept only when the member is not (yet) a function, symbol or undefined. */
type MaybeKept<T> = {
  [K in keyof T]-?: K extends symbol
    ? never
    : [Extract<T[K], NotJson>] extends [never]
      ? never
      : [Exclude<T[K], NotJson>] extends [never]
        ? never
        : K;
}[keyof T];

type JsonifyObject<T> = Flat<
  { [K in AlwaysKept<T>]: Jsonify<T[K]> } & { [K in MaybeKept<T>]?: Jsonify<Exclude<T[K], NotJson>> }
>;

type Flat<T> = { [K in keyof T]: T[K] } & {};
