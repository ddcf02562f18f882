/**
 * Encoding and decoding of messages: one table-driven validator for the whole catalog.
 *
 * Wire form: one canonical CBOR map; key 0 = message type, key 1 = request id, keys 2..23 =
 * the message's fields (nested structs use keys 0..23). Decoding checks everything the
 * catalog says (types, ranges, lengths, required and unknown keys) and reports the first
 * problem as a CodecError whose `detail` carries the request id whenever it could be read,
 * so a terminal can answer `Error` under the right id.
 */
import { type CborLimits, type CborValue, decodeCanonical, encodeCanonical } from '../cbor-codec.js';
import { CodecError, type CodecErrorCode } from '../errors.js';
import { MESSAGE_SCHEMAS, type Message, type MessageName } from './catalog.js';
import type { FieldSpec, FieldType, MessageKind, MessageSchema } from './schema.js';

/** Envelope key of the message type. */
export const KEY_TYPE = 0;
/** Envelope key of the request id. */
export const KEY_ID = 1;
/** Largest request id (uint32). */
export const MAX_REQUEST_ID = 0xffff_ffff;
/** The request id of unsolicited events. */
export const EVENT_ID = 0;

/**
 * Decoder limits for one message. The largest v1 messages are a firmware chunk (16 KiB of
 * data) and a log page (64 entries); the deepest is StatusResult (map → array → map → array).
 */
export const DEFAULT_MESSAGE_LIMITS: Readonly<Required<CborLimits>> = Object.freeze({
  maxBytes: 65_536,
  maxDepth: 8,
  maxItems: 4096,
  maxStringBytes: 16_384,
});

// ---------------------------------------------------------------------------------------
// The catalog, compiled once into lookup tables (immutable after module load).
// ---------------------------------------------------------------------------------------

interface CompiledField {
  readonly name: string;
  readonly key: number;
  readonly type: CompiledType;
  readonly optional: boolean;
  readonly nullable: boolean;
}
interface CompiledStruct {
  readonly byKey: ReadonlyMap<number, CompiledField>;
  readonly byName: ReadonlyMap<string, CompiledField>;
  /** Fields in key order. */
  readonly fields: readonly CompiledField[];
  readonly exactlyOne: readonly (readonly string[])[];
}
type CompiledType =
  | { readonly kind: 'uint'; readonly min: number; readonly max: number }
  | { readonly kind: 'bool' }
  | { readonly kind: 'bytes'; readonly minLen: number; readonly maxLen: number }
  | { readonly kind: 'text'; readonly minBytes: number; readonly maxBytes: number }
  | { readonly kind: 'enum'; readonly toWire: ReadonlyMap<string, number>; readonly fromWire: ReadonlyMap<number, string> }
  | { readonly kind: 'array'; readonly of: CompiledType; readonly minItems: number; readonly maxItems: number }
  | { readonly kind: 'struct'; readonly struct: CompiledStruct };

/** A message type from the catalog, ready for the validator. */
export interface CompiledMessage {
  readonly name: MessageName;
  readonly type: number;
  readonly kind: MessageKind;
  readonly answers: MessageName | undefined;
  readonly body: CompiledStruct;
}

function compileType(t: FieldType): CompiledType {
  switch (t.kind) {
    case 'enum': {
      const toWire = new Map(Object.entries(t.values));
      const fromWire = new Map<number, string>();
      for (const [n, v] of toWire) fromWire.set(v, n);
      return { kind: 'enum', toWire, fromWire };
    }
    case 'array':
      return { kind: 'array', of: compileType(t.of), minItems: t.minItems, maxItems: t.maxItems };
    case 'struct':
      return { kind: 'struct', struct: compileStruct(t.fields, [], 0) };
    default:
      return t;
  }
}

function compileStruct(
  fields: Readonly<Record<string, FieldSpec>>,
  exactlyOne: readonly (readonly string[])[],
  firstKey: number,
): CompiledStruct {
  const list: CompiledField[] = Object.entries(fields).map(([name, f]) => {
    if (!Number.isInteger(f.key) || f.key < firstKey || f.key > 23) {
      throw new Error(`catalog: field ${name} has key ${f.key} outside ${firstKey}..23`);
    }
    return { name, key: f.key, type: compileType(f.type), optional: f.optional === true, nullable: f.nullable === true };
  });
  list.sort((a, b) => a.key - b.key);
  const byKey = new Map(list.map((f) => [f.key, f] as const));
  if (byKey.size !== list.length) throw new Error('catalog: duplicate field key');
  return { byKey, byName: new Map(list.map((f) => [f.name, f] as const)), fields: list, exactlyOne };
}

const BY_NAME = new Map<MessageName, CompiledMessage>();
const BY_TYPE = new Map<number, CompiledMessage>();
for (const [name, s] of Object.entries(MESSAGE_SCHEMAS) as [MessageName, MessageSchema][]) {
  const m: CompiledMessage = {
    name,
    type: s.type,
    kind: s.kind,
    answers: s.answers as MessageName | undefined,
    body: compileStruct(s.fields, s.exactlyOne ?? [], 2),
  };
  if (BY_TYPE.has(s.type)) throw new Error(`catalog: duplicate message type ${s.type}`);
  BY_NAME.set(name, m);
  BY_TYPE.set(s.type, m);
}

/** The catalog entry for a message name. */
export function messageInfo(name: MessageName): CompiledMessage {
  return BY_NAME.get(name) as CompiledMessage;
}
/** The catalog entry for a wire type number, or undefined when the type is unknown. */
export function messageInfoByType(type: number): CompiledMessage | undefined {
  return BY_TYPE.get(type);
}
/** Every message in the catalog, ordered by type number. */
export function allMessages(): CompiledMessage[] {
  return [...BY_TYPE.values()].sort((a, b) => a.type - b.type);
}
/** The result type answering request `name`, or undefined when `name` is not a request. */
export function resultNameFor(name: MessageName): MessageName | undefined {
  for (const m of BY_NAME.values()) if (m.answers === name) return m.name;
  return undefined;
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

/** What can be read of a message before its body is checked. */
export interface Envelope {
  /** Request id, when key 1 holds a valid uint32; otherwise undefined. */
  readonly id: number | undefined;
  /** Wire type, when key 0 holds a uint; otherwise undefined. */
  readonly type: number | undefined;
  /** Catalog name of the type, when known. */
  readonly name: MessageName | undefined;
}

interface Ctx {
  id: number | undefined;
  name: MessageName | undefined;
}

function bad(code: CodecErrorCode, ctx: Ctx, path: string, message: string): CodecError {
  const detail: Record<string, unknown> = { field: path };
  if (ctx.id !== undefined) detail.requestId = ctx.id;
  if (ctx.name !== undefined) detail.messageType = ctx.name;
  const where = ctx.name !== undefined ? `${ctx.name}${path ? '.' + path : ''}` : path || 'message';
  return new CodecError(code, `${where}: ${message}`, detail);
}

/**
 * Decode and validate one message.
 *
 * @param bytes the message's canonical CBOR (one frame payload, after unsealing)
 * @param limits CBOR limits; DEFAULT_MESSAGE_LIMITS when omitted
 * @throws CodecError: a CBOR_* code when the bytes are not canonical CBOR within the limits;
 *   MSG_NOT_A_MAP, MSG_UNKNOWN_TYPE, MSG_MISSING_FIELD, MSG_UNKNOWN_FIELD, MSG_WRONG_TYPE,
 *   MSG_OUT_OF_RANGE or MSG_FIELD_CONFLICT when the message breaks the catalog. `detail.requestId`
 *   is set whenever the id was readable (see requestIdOf).
 */
export function decodeMessage(bytes: Uint8Array, limits: CborLimits = DEFAULT_MESSAGE_LIMITS): Message {
  return messageFromCbor(decodeCanonical(bytes, limits));
}

/** Validate an already decoded CBOR value as a message (see decodeMessage). */
export function messageFromCbor(value: CborValue): Message {
  const ctx: Ctx = { id: undefined, name: undefined };
  if (!(value instanceof Map)) throw bad('MSG_NOT_A_MAP', ctx, '', 'a message must be a CBOR map');
  const env = readEnvelope(value);
  ctx.id = env.id;
  const rawType = value.get(KEY_TYPE);
  if (rawType === undefined) throw bad('MSG_MISSING_FIELD', ctx, 'type', 'key 0 (message type) is missing');
  if (env.type === undefined) {
    const isInt = typeof rawType === 'bigint' || typeof rawType === 'number';
    throw bad(isInt ? 'MSG_UNKNOWN_TYPE' : 'MSG_WRONG_TYPE', ctx, 'type', `key 0 must be a known uint message type, got ${cborTypeName(rawType)}`);
  }
  const info = BY_TYPE.get(env.type);
  if (info === undefined) throw bad('MSG_UNKNOWN_TYPE', ctx, 'type', `unknown message type ${env.type}`);
  ctx.name = info.name;

  const rawId = value.get(KEY_ID);
  if (rawId === undefined) throw bad('MSG_MISSING_FIELD', ctx, 'id', 'key 1 (request id) is missing');
  if (typeof rawId !== 'number' && typeof rawId !== 'bigint') throw bad('MSG_WRONG_TYPE', ctx, 'id', 'request id must be a uint');
  if (env.id === undefined) throw bad('MSG_OUT_OF_RANGE', ctx, 'id', 'request id must be a uint32');
  checkIdForKind(env.id, info, ctx);

  const out = readStruct(value, info.body, ctx, '', true) as Record<string, unknown>;
  return { type: info.name, id: env.id, ...out } as Message;
}

/**
 * Read key 0 and key 1 without judging the rest: for logging, and for answering `Error`
 * under the right id when the body is invalid. Throws only CBOR_* errors (from decoding);
 * fields that are absent or invalid come back undefined.
 */
export function decodeEnvelope(bytes: Uint8Array, limits: CborLimits = DEFAULT_MESSAGE_LIMITS): Envelope {
  const v = decodeCanonical(bytes, limits);
  if (!(v instanceof Map)) return { id: undefined, type: undefined, name: undefined };
  return readEnvelope(v);
}

function readEnvelope(m: Map<number | string, CborValue>): Envelope {
  const t = m.get(KEY_TYPE);
  const i = m.get(KEY_ID);
  const type = typeof t === 'number' && t >= 0 ? t : undefined;
  const id = typeof i === 'number' && i >= 0 && i <= MAX_REQUEST_ID ? i : undefined;
  return { id, type, name: type === undefined ? undefined : BY_TYPE.get(type)?.name };
}

/**
 * The request id a decode error was about, or 0 (EVENT_ID) when it could not be read.
 * A terminal answers `Error` with this id.
 */
export function requestIdOf(e: unknown): number {
  if (e instanceof CodecError && e.detail !== undefined) {
    const id = e.detail.requestId;
    if (typeof id === 'number') return id;
  }
  return EVENT_ID;
}

function checkIdForKind(id: number, info: CompiledMessage, ctx: Ctx): void {
  if (info.kind === 'event') {
    if (id !== EVENT_ID) throw bad('MSG_OUT_OF_RANGE', ctx, 'id', 'an event carries request id 0');
  } else if (info.name !== 'Error' && id === EVENT_ID) {
    throw bad('MSG_OUT_OF_RANGE', ctx, 'id', 'request id 0 is reserved for events');
  }
}

function readStruct(m: Map<number | string, CborValue>, s: CompiledStruct, ctx: Ctx, path: string, top: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of m) {
    if (top && (k === KEY_TYPE || k === KEY_ID)) continue;
    const f = typeof k === 'number' ? s.byKey.get(k) : undefined;
    if (f === undefined) throw bad('MSG_UNKNOWN_FIELD', ctx, join(path, `#${String(k)}`), `unknown key ${JSON.stringify(k)}`);
    const p = join(path, f.name);
    if (v === null) {
      if (!f.nullable) throw bad('MSG_WRONG_TYPE', ctx, p, 'must not be null');
      out[f.name] = null;
    } else {
      out[f.name] = readValue(v, f.type, ctx, p);
    }
  }
  for (const f of s.fields) {
    if (!f.optional && !(f.name in out)) throw bad('MSG_MISSING_FIELD', ctx, join(path, f.name), `required key ${f.key} is missing`);
  }
  for (const group of s.exactlyOne) {
    const present = group.filter((n) => n in out);
    if (present.length === 0) throw bad('MSG_MISSING_FIELD', ctx, join(path, group.join('|')), `one of ${group.join(', ')} is required`);
    if (present.length > 1) throw bad('MSG_FIELD_CONFLICT', ctx, join(path, group.join('|')), `only one of ${group.join(', ')} may be present`);
  }
  return out;
}

function join(path: string, name: string): string {
  return path === '' ? name : `${path}.${name}`;
}

function readValue(v: CborValue, t: CompiledType, ctx: Ctx, path: string): unknown {
  switch (t.kind) {
    case 'uint':
      if (typeof v === 'bigint') throw bad('MSG_OUT_OF_RANGE', ctx, path, `${v} is out of range ${t.min}..${t.max}`);
      if (typeof v !== 'number') throw bad('MSG_WRONG_TYPE', ctx, path, `expected uint, got ${cborTypeName(v)}`);
      if (v < t.min || v > t.max) throw bad('MSG_OUT_OF_RANGE', ctx, path, `${v} is out of range ${t.min}..${t.max}`);
      return v;
    case 'bool':
      if (typeof v !== 'boolean') throw bad('MSG_WRONG_TYPE', ctx, path, `expected bool, got ${cborTypeName(v)}`);
      return v;
    case 'bytes':
      if (!(v instanceof Uint8Array)) throw bad('MSG_WRONG_TYPE', ctx, path, `expected bstr, got ${cborTypeName(v)}`);
      if (v.length < t.minLen || v.length > t.maxLen) throw bad('MSG_OUT_OF_RANGE', ctx, path, `length ${v.length} not in ${lenRange(t.minLen, t.maxLen)}`);
      return v;
    case 'text': {
      if (typeof v !== 'string') throw bad('MSG_WRONG_TYPE', ctx, path, `expected tstr, got ${cborTypeName(v)}`);
      const n = utf8Length(v);
      if (n < t.minBytes || n > t.maxBytes) throw bad('MSG_OUT_OF_RANGE', ctx, path, `UTF-8 length ${n} not in ${lenRange(t.minBytes, t.maxBytes)}`);
      return v;
    }
    case 'enum': {
      if (typeof v === 'bigint') throw bad('MSG_OUT_OF_RANGE', ctx, path, `unknown value ${v}`);
      if (typeof v !== 'number') throw bad('MSG_WRONG_TYPE', ctx, path, `expected uint, got ${cborTypeName(v)}`);
      const name = t.fromWire.get(v);
      if (name === undefined) throw bad('MSG_OUT_OF_RANGE', ctx, path, `unknown value ${v}`);
      return name;
    }
    case 'array': {
      if (!Array.isArray(v)) throw bad('MSG_WRONG_TYPE', ctx, path, `expected array, got ${cborTypeName(v)}`);
      if (v.length < t.minItems || v.length > t.maxItems) throw bad('MSG_OUT_OF_RANGE', ctx, path, `${v.length} items, not in ${lenRange(t.minItems, t.maxItems)}`);
      return v.map((x, i) => {
        const p = `${path}[${i}]`;
        if (x === null) throw bad('MSG_WRONG_TYPE', ctx, p, 'must not be null');
        return readValue(x, t.of, ctx, p);
      });
    }
    case 'struct':
      if (!(v instanceof Map)) throw bad('MSG_WRONG_TYPE', ctx, path, `expected map, got ${cborTypeName(v)}`);
      return readStruct(v, t.struct, ctx, path, false);
  }
}

function lenRange(min: number, max: number): string {
  return min === max ? `exactly ${min}` : `${min}..${max}`;
}

function cborTypeName(v: CborValue): string {
  if (v === null) return 'null';
  if (v instanceof Uint8Array) return 'bstr';
  if (Array.isArray(v)) return 'array';
  if (v instanceof Map) return 'map';
  switch (typeof v) {
    case 'number':
    case 'bigint':
      return 'int';
    case 'string':
      return 'tstr';
    default:
      return 'bool';
  }
}

/** UTF-8 length of a well-formed string, without allocating. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

/**
 * Validate `msg` against the catalog and encode it in canonical CBOR.
 *
 * @throws CodecError MSG_ENCODE_INVALID (detail.field names the offending field) when the
 *   message would not pass decodeMessage: so no end ever sends what the other must reject.
 */
export function encodeMessage(msg: Message): Uint8Array {
  return encodeCanonical(messageToCbor(msg));
}

/** The CBOR map of a message (validated as in encodeMessage). */
export function messageToCbor(msg: Message): Map<number, CborValue> {
  const ctx: Ctx = { id: undefined, name: undefined };
  if (typeof msg !== 'object' || msg === null) throw encodeBad(ctx, '', 'a message must be an object');
  const info = BY_NAME.get((msg as { type: MessageName }).type);
  if (info === undefined) throw encodeBad(ctx, 'type', `unknown message type ${JSON.stringify((msg as { type: unknown }).type)}`);
  ctx.name = info.name;
  const id: unknown = (msg as { id: unknown }).id;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > MAX_REQUEST_ID) {
    throw encodeBad(ctx, 'id', 'request id must be a uint32');
  }
  ctx.id = id;
  try {
    checkIdForKind(id, info, ctx);
  } catch (e) {
    throw encodeBad(ctx, 'id', (e as Error).message);
  }
  const m = new Map<number, CborValue>([
    [KEY_TYPE, info.type],
    [KEY_ID, id],
  ]);
  writeStruct(msg as unknown as Record<string, unknown>, info.body, ctx, '', m, true);
  return m;
}

function encodeBad(ctx: Ctx, path: string, message: string): CodecError {
  const e = bad('MSG_ENCODE_INVALID', ctx, path, message);
  return e;
}

function writeStruct(
  obj: Record<string, unknown>,
  s: CompiledStruct,
  ctx: Ctx,
  path: string,
  into: Map<number, CborValue>,
  top: boolean,
): Map<number, CborValue> {
  for (const name of Object.keys(obj)) {
    if (top && (name === 'type' || name === 'id')) continue;
    if (!s.byName.has(name) && obj[name] !== undefined) throw encodeBad(ctx, join(path, name), 'not a field of this message');
  }
  for (const f of s.fields) {
    const v = obj[f.name];
    const p = join(path, f.name);
    if (v === undefined) {
      if (!f.optional) throw encodeBad(ctx, p, 'required field is missing');
      continue;
    }
    if (v === null) {
      if (!f.nullable) throw encodeBad(ctx, p, 'must not be null');
      into.set(f.key, null);
      continue;
    }
    into.set(f.key, writeValue(v, f.type, ctx, p));
  }
  for (const group of s.exactlyOne) {
    const present = group.filter((n) => obj[n] !== undefined);
    if (present.length !== 1) throw encodeBad(ctx, join(path, group.join('|')), `exactly one of ${group.join(', ')} is required`);
  }
  return into;
}

function writeValue(v: unknown, t: CompiledType, ctx: Ctx, path: string): CborValue {
  switch (t.kind) {
    case 'uint':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < t.min || v > t.max) {
        throw encodeBad(ctx, path, `must be an integer in ${t.min}..${t.max}`);
      }
      return v;
    case 'bool':
      if (typeof v !== 'boolean') throw encodeBad(ctx, path, 'must be a boolean');
      return v;
    case 'bytes':
      if (!(v instanceof Uint8Array) || v.length < t.minLen || v.length > t.maxLen) {
        throw encodeBad(ctx, path, `must be a Uint8Array of ${lenRange(t.minLen, t.maxLen)} bytes`);
      }
      return v;
    case 'text': {
      if (typeof v !== 'string') throw encodeBad(ctx, path, 'must be a string');
      const n = utf8Length(v);
      if (n < t.minBytes || n > t.maxBytes) throw encodeBad(ctx, path, `UTF-8 length ${n} not in ${lenRange(t.minBytes, t.maxBytes)}`);
      return v;
    }
    case 'enum': {
      const w = typeof v === 'string' ? t.toWire.get(v) : undefined;
      if (w === undefined) throw encodeBad(ctx, path, `must be one of ${[...t.toWire.keys()].join(', ')}`);
      return w;
    }
    case 'array':
      if (!Array.isArray(v) || v.length < t.minItems || v.length > t.maxItems) {
        throw encodeBad(ctx, path, `must be an array of ${lenRange(t.minItems, t.maxItems)} items`);
      }
      return v.map((x: unknown, i) => {
        if (x === null || x === undefined) throw encodeBad(ctx, `${path}[${i}]`, 'must not be null');
        return writeValue(x, t.of, ctx, `${path}[${i}]`);
      });
    case 'struct':
      if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array || v instanceof Map) {
        throw encodeBad(ctx, path, 'must be an object');
      }
      return writeStruct(v as Record<string, unknown>, t.struct, ctx, path, new Map(), false);
  }
}

// ---------------------------------------------------------------------------------------
// JSON form (vectors, logs, the CLI's monitor): the message object with byte strings as
// lowercase hex. Everything else is already JSON.
// ---------------------------------------------------------------------------------------

/** JSON form of a message: byte strings become lowercase hex strings. */
export function messageToJson(msg: Message): Record<string, unknown> {
  const info = BY_NAME.get(msg.type);
  if (info === undefined) throw encodeBad({ id: undefined, name: undefined }, 'type', 'unknown message type');
  return mapJson(msg as unknown as Record<string, unknown>, info.body, 'out') as Record<string, unknown>;
}

/**
 * Message from its JSON form (hex strings for byte strings), validated as by encodeMessage.
 * @throws CodecError MSG_ENCODE_INVALID
 */
export function messageFromJson(json: unknown): Message {
  const ctx: Ctx = { id: undefined, name: undefined };
  if (typeof json !== 'object' || json === null) throw encodeBad(ctx, '', 'a message must be an object');
  const info = BY_NAME.get((json as { type: MessageName }).type);
  if (info === undefined) throw encodeBad(ctx, 'type', 'unknown message type');
  const msg = mapJson(json as Record<string, unknown>, info.body, 'in') as Message;
  messageToCbor(msg); // validate
  return msg;
}

function mapJson(obj: Record<string, unknown>, s: CompiledStruct, dir: 'in' | 'out'): unknown {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    const f = s.byName.get(k);
    out[k] = f === undefined || v === null || v === undefined ? v : mapJsonValue(v, f.type, dir);
  }
  return out;
}

function mapJsonValue(v: unknown, t: CompiledType, dir: 'in' | 'out'): unknown {
  switch (t.kind) {
    case 'bytes':
      if (dir === 'out') return v instanceof Uint8Array ? toHex(v) : v;
      return typeof v === 'string' ? fromHexOrKeep(v) : v;
    case 'array':
      return Array.isArray(v) ? v.map((x: unknown) => mapJsonValue(x, t.of, dir)) : v;
    case 'struct':
      return typeof v === 'object' && v !== null && !Array.isArray(v) ? mapJson(v as Record<string, unknown>, t.struct, dir) : v;
    default:
      return v;
  }
}

function toHex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/** Hex to bytes; anything that is not even-length lowercase/uppercase hex is kept as is (and then refused by validation). */
function fromHexOrKeep(s: string): unknown {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return s;
  const b = new Uint8Array(s.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return b;
}
