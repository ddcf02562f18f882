/**
 * A small schema checker for JSON configuration: each schema is a function that checks a
 * value at a path and either returns the typed value or records an issue and returns
 * {@link INVALID}. Every issue names the field the way an operator reads the file,
 * `terminals.serial[1].path: must be a string`, and a check never stops at the first problem,
 * so one run of unicardd lists everything wrong.
 *
 * Hand-written rather than a validator library: the config is small, the messages are the
 * product, and no schema library is a dependency of this project.
 */
import type { ConfigIssue } from './config-error.js';

/** Marks a value that failed its check (the issue is already recorded). */
export const INVALID: unique symbol = Symbol('invalid');
export type Invalid = typeof INVALID;

/** Where issues are collected. */
export interface CheckContext {
  readonly issues: ConfigIssue[];
}

/** Checks `value` found at `path`; returns the value or INVALID (with an issue recorded). */
export type Schema<T> = (value: unknown, path: string, ctx: CheckContext) => T | Invalid;

/** The path of a field of an object at `path`. */
export function fieldPath(path: string, name: string): string {
  const plain = /^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(name);
  if (path === '') return plain ? name : JSON.stringify(name);
  return plain ? `${path}.${name}` : `${path}[${JSON.stringify(name)}]`;
}

/** The path of an array element. */
export function indexPath(path: string, index: number): string {
  return `${path}[${index}]`;
}

/** Records an issue and returns INVALID. */
export function fail(ctx: CheckContext, path: string, message: string): Invalid {
  ctx.issues.push({ path, message });
  return INVALID;
}

/** What JSON calls the type of `value`, for "must be a string (got a number)". */
export function jsonTypeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

/** Options of {@link str}. */
export interface StringRule {
  minLength?: number;
  maxLength?: number;
  /** The value must match; `patternHint` says what that means ("16 hex digits"). */
  pattern?: RegExp;
  patternHint?: string;
}

/** A string. */
export function str(rule: StringRule = {}): Schema<string> {
  return (value, path, ctx) => {
    if (typeof value !== 'string') return fail(ctx, path, `must be a string (got ${jsonTypeOf(value)})`);
    const min = rule.minLength ?? 0;
    if (value.length < min) {
      return fail(ctx, path, min === 1 ? 'must not be empty' : `must be at least ${min} characters long (got ${value.length})`);
    }
    if (rule.maxLength !== undefined && value.length > rule.maxLength) {
      return fail(ctx, path, `must be at most ${rule.maxLength} characters long (got ${value.length})`);
    }
    if (rule.pattern !== undefined && !rule.pattern.test(value)) {
      return fail(ctx, path, `must be ${rule.patternHint ?? `a string matching ${String(rule.pattern)}`} (got ${JSON.stringify(value)})`);
    }
    return value;
  };
}

/** An integer from `min` to `max`. */
export function int(min: number, max: number): Schema<number> {
  return (value, path, ctx) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      const got = typeof value === 'number' ? String(value) : jsonTypeOf(value);
      return fail(ctx, path, `must be an integer from ${min} to ${max} (got ${got})`);
    }
    return value;
  };
}

/** true or false. */
export function bool(): Schema<boolean> {
  return (value, path, ctx) => (typeof value === 'boolean' ? value : fail(ctx, path, `must be true or false (got ${jsonTypeOf(value)})`));
}

/** One of a few strings. */
export function oneOf<const T extends string>(choices: readonly T[]): Schema<T> {
  return (value, path, ctx) => {
    if (typeof value === 'string' && (choices as readonly string[]).includes(value)) return value as T;
    const list = choices.map((c) => JSON.stringify(c)).join(', ');
    const got = typeof value === 'string' ? JSON.stringify(value) : jsonTypeOf(value);
    return fail(ctx, path, `must be one of ${list} (got ${got})`);
  };
}

/** An array whose elements all pass `item`. */
export function arrayOf<T>(item: Schema<T>, rule: { maxItems?: number } = {}): Schema<T[]> {
  return (value, path, ctx) => {
    if (!Array.isArray(value)) return fail(ctx, path, `must be an array (got ${jsonTypeOf(value)})`);
    if (rule.maxItems !== undefined && value.length > rule.maxItems) {
      return fail(ctx, path, `must have at most ${rule.maxItems} entries (got ${value.length})`);
    }
    const out: T[] = [];
    let bad = false;
    value.forEach((v: unknown, i) => {
      const r = item(v, indexPath(path, i), ctx);
      if (r === INVALID) bad = true;
      else out.push(r);
    });
    return bad ? INVALID : out;
  };
}

/** A field of an {@link object} schema: its schema and whether it may be left out. */
export interface FieldRule<T> {
  schema: Schema<T>;
  optional?: boolean;
}

type FieldsOf<F> = { [K in keyof F]: F[K] extends FieldRule<infer T> ? (F[K] extends { optional: true } ? T | undefined : T) : never };

/** A required field. */
export function required<T>(schema: Schema<T>): FieldRule<T> & { optional?: false } {
  return { schema };
}

/** A field that may be left out (undefined in the result). */
export function optional<T>(schema: Schema<T>): FieldRule<T> & { optional: true } {
  return { schema, optional: true };
}

/**
 * A JSON object with exactly these fields (unknown fields are issues, with a "did you mean"
 * when one is close to a known name: a misspelt option must never be silently ignored).
 */
export function object<F extends Record<string, FieldRule<unknown>>>(fields: F): Schema<FieldsOf<F>> {
  return (value, path, ctx) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return fail(ctx, path, `must be an object (got ${jsonTypeOf(value)})`);
    }
    const obj = value as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    let bad = false;
    for (const key of Object.keys(obj)) {
      if (!Object.hasOwn(fields, key)) {
        const near = closest(key, Object.keys(fields));
        fail(ctx, fieldPath(path, key), `unknown field${near === undefined ? '' : ` (did you mean "${near}"?)`}`);
        bad = true;
      }
    }
    for (const [name, rule] of Object.entries(fields)) {
      const p = fieldPath(path, name);
      if (!Object.hasOwn(obj, name) || obj[name] === undefined) {
        if (rule.optional !== true) {
          fail(ctx, p, 'is required');
          bad = true;
        }
        continue;
      }
      const r = rule.schema(obj[name], p, ctx);
      if (r === INVALID) bad = true;
      else out[name] = r;
    }
    return bad ? INVALID : (out as FieldsOf<F>);
  };
}

/** An object used as a map: keys checked by `key`, values by `item`. */
export function record<T>(key: StringRule, item: Schema<T>): Schema<Map<string, T>> {
  const keyCheck = str(key);
  return (value, path, ctx) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return fail(ctx, path, `must be an object (got ${jsonTypeOf(value)})`);
    }
    const out = new Map<string, T>();
    let bad = false;
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const p = fieldPath(path, k);
      const sub: CheckContext = { issues: [] };
      if (keyCheck(k, p, sub) === INVALID) {
        for (const issue of sub.issues) ctx.issues.push({ path: issue.path, message: `name ${issue.message}` });
        bad = true;
        continue;
      }
      const r = item(v, p, ctx);
      if (r === INVALID) bad = true;
      else out.set(k, r);
    }
    return bad ? INVALID : out;
  };
}

/**
 * The first schema that accepts the value, chosen by a discriminating test, so the issue
 * reported is the one of the form the operator meant (a string path, or an object).
 */
export function either<A, B>(
  isA: (value: unknown) => boolean,
  a: Schema<A>,
  b: Schema<B>,
): Schema<A | B> {
  return (value, path, ctx) => (isA(value) ? a(value, path, ctx) : b(value, path, ctx));
}

/** Runs `schema` on a value and returns its result with every issue. */
export function check<T>(schema: Schema<T>, value: unknown): { value: T | Invalid; issues: ConfigIssue[] } {
  const ctx: CheckContext = { issues: [] };
  const v = schema(value, '', ctx);
  return { value: v, issues: ctx.issues };
}

/** The known name nearest to `name` (edit distance ≤ 2, or a case-only difference). */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === name.toLowerCase() ? 0 : editDistance(name, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.min(2, Math.max(1, Math.floor(name.length / 3))) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return Infinity;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = cur;
  }
  return prev[b.length] ?? Infinity;
}
