/**
 * Reading a method's named parameters with errors that name the field. A method's `params`
 * function reads what it needs and calls done(), which refuses any field it did not read
 * (a misspelt `terminalID` is an error, not a silently ignored field).
 */
import { type ApiError, invalidParams } from './api-errors.js';

/** Longest string parameter accepted unless a method says otherwise. */
export const DEFAULT_MAX_STRING = 256;

/** Reads one request's params. */
export class ParamReader {
  private readonly raw: Record<string, unknown>;
  private readonly read = new Set<string>();

  /** @param raw the request's `params` (an object, or undefined when absent). */
  constructor(raw: Record<string, unknown> | undefined) {
    this.raw = raw ?? {};
  }

  private take(name: string): unknown {
    this.read.add(name);
    return Object.hasOwn(this.raw, name) ? this.raw[name] : undefined;
  }

  /**
   * The raw JSON value of a parameter this reader has no typed helper for (an array of
   * objects, say), marked as read; the caller validates it and names the field in errors.
   */
  unchecked(name: string): unknown {
    return this.take(name);
  }

  /** A required non-empty string. */
  string(name: string, maxLength = DEFAULT_MAX_STRING): string {
    const v = this.take(name);
    if (v === undefined) throw this.missing(name);
    return checkString(name, v, maxLength);
  }

  /** An optional non-empty string. */
  optionalString(name: string, maxLength = DEFAULT_MAX_STRING): string | undefined {
    const v = this.take(name);
    return v === undefined ? undefined : checkString(name, v, maxLength);
  }

  /** An optional integer in [min, max]. */
  optionalInt(name: string, min: number, max: number): number | undefined {
    const v = this.take(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw invalidParams(name, {
        kind: 'type',
        en: `an integer from ${min} to ${max}`,
        ar: `عددًا صحيحًا من ${min} إلى ${max}`,
      });
    }
    return v;
  }

  /** A required integer in [min, max]. */
  int(name: string, min: number, max: number): number {
    const v = this.optionalInt(name, min, max);
    if (v === undefined) throw this.missing(name);
    return v;
  }

  /** An optional boolean. */
  optionalBoolean(name: string): boolean | undefined {
    const v = this.take(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw invalidParams(name, { kind: 'type', en: 'true or false', ar: 'true أو false' });
    return v;
  }

  /**
   * A required array of strings, each one of `allowed` when given; element errors name the
   * element (`events[2]`).
   */
  stringArray(name: string, options: { allowed?: readonly string[]; maxItems?: number } = {}): string[] {
    const v = this.take(name);
    if (v === undefined) throw this.missing(name);
    return checkStringArray(name, v, options);
  }

  /** An optional array of strings (see {@link stringArray}). */
  optionalStringArray(name: string, options: { allowed?: readonly string[]; maxItems?: number } = {}): string[] | undefined {
    const v = this.take(name);
    return v === undefined ? undefined : checkStringArray(name, v, options);
  }

  private missing(name: string): ApiError {
    const lower = name.toLowerCase();
    const found = Object.keys(this.raw).find((k) => k !== name && k.toLowerCase() === lower);
    return invalidParams(name, found === undefined ? { kind: 'missing' } : { kind: 'miscased', found });
  }

  /** Refuses any field that was not read. */
  done(): void {
    for (const key of Object.keys(this.raw)) {
      if (!this.read.has(key)) throw invalidParams(key, { kind: 'unknown' });
    }
  }
}

function checkString(name: string, v: unknown, maxLength: number): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > maxLength) {
    throw invalidParams(name, {
      kind: 'type',
      en: `a non-empty string of at most ${maxLength} characters`,
      ar: `نصًا غير فارغ لا يزيد عن ${maxLength} حرفًا`,
    });
  }
  return v;
}

function checkStringArray(name: string, v: unknown, options: { allowed?: readonly string[]; maxItems?: number }): string[] {
  const maxItems = options.maxItems ?? 64;
  if (!Array.isArray(v) || v.length > maxItems) {
    throw invalidParams(name, {
      kind: 'type',
      en: `an array of at most ${maxItems} strings`,
      ar: `مصفوفة نصوص لا تزيد عن ${maxItems} عنصرًا`,
    });
  }
  const out: string[] = [];
  for (const [i, item] of v.entries()) {
    const field = `${name}[${i}]`;
    if (typeof item !== 'string') throw invalidParams(field, { kind: 'type', en: 'a string', ar: 'نصًا' });
    if (options.allowed !== undefined && !options.allowed.includes(item)) {
      const list = options.allowed.join(', ');
      throw invalidParams(field, { kind: 'type', en: `one of: ${list}`, ar: `واحدًا من: ${list}` });
    }
    out.push(item);
  }
  return out;
}
