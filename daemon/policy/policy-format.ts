/**
 * The policy's two forms and its signature.
 *
 * Signed form (what the issuer publishes and the daemon loads): a signed structure as in
 * protocol/crypto, domain `unicard/v1/policy`: envelope CBOR [body bstr, signature bstr(64)],
 * body a canonical CBOR map with integer keys, signature by an issuer root over
 * UTF-8(domain) ‖ 0x00 ‖ body. Field numbers are in {@link PolicyKey} and the tables below.
 *
 * JSON form (what a person reads and writes): the same fields by name, plus
 * `"format": "unicard-policy/1"`. Both forms go through one validator, so a JSON policy the
 * issuer signs is exactly what every daemon will read back.
 *
 * Lists whose order means nothing (governorates, weekend days, holidays, services) must be
 * sorted and free of duplicates, so one policy has exactly one encoding; signPolicy sorts them.
 */
import type { CborLimits, CborValue } from '../../protocol/cbor-codec.js';
import { encodeCanonical } from '../../protocol/cbor-codec.js';
import { toHex } from '../../protocol/crypto/bytes.js';
import { Domain } from '../../protocol/crypto/domains.js';
import type { Ed25519 } from '../../protocol/crypto/ed25519.js';
import {
  BODY_KEY_DOMAIN,
  decodeBody,
  decodeSignedStructure,
  KEY_ID_LENGTH,
  keyIdOf,
  lookupTrustedKey,
  signedBytes,
  type TrustedKeys,
} from '../../protocol/crypto/signed-structure.js';
import { isUnicardError } from '../../protocol/errors.js';
import { isDay } from './cairo-calendar.js';
import { PolicyError } from './policy-error.js';
import { SERVICES, type GovernorateException, type Policy, type RationItem, type ServiceName } from './policy-types.js';

/** Value of the JSON form's "format" field. */
export const POLICY_JSON_FORMAT = 'unicard-policy/1';

/** Integer keys of the policy body. */
export const PolicyKey = {
  domain: 0,
  issuerKeyId: 1,
  version: 2,
  effectiveFrom: 3,
  bread: 4,
  ration: 5,
  governorateExceptions: 6,
  cardStates: 7,
} as const;
/** Integer keys of the bread map. */
export const BreadKey = { loavesPerPersonPerDay: 1, maxDaysAtOnce: 2, largeHouseholdSize: 3, maxDaysAtOnceLarge: 4, piastresPerUnusedLoaf: 5 } as const;
/** Integer keys of the ration map. */
export const RationKey = { creditPerPerson: 1, fullCreditMembers: 2, creditPerFurtherPerson: 3, items: 4, exclusiveGroups: 5 } as const;
/** Integer keys of one item map. */
export const ItemKey = { id: 1, nameEn: 2, nameAr: 3, unitEn: 4, unitAr: 5, price: 6, perPerson: 7, perCard: 8 } as const;
/** Integer keys of one governorate exception map. */
export const ExceptionKey = { from: 1, to: 2, cardGovernorates: 3, shopGovernorates: 4, services: 5, note: 6 } as const;
/** Integer keys of the card-state map. */
export const CardStatesKey = { suspendedWorkingDays: 1, weekendDays: 2, holidays: 3 } as const;

/** Decoding limits: a policy is small; nothing larger is allocated. */
export const POLICY_LIMITS: Readonly<Required<CborLimits>> = Object.freeze({
  maxBytes: 1_048_576,
  maxDepth: 5,
  maxItems: 65_536,
  maxStringBytes: 1024,
});

const ENVELOPE_LIMITS: Readonly<Required<CborLimits>> = Object.freeze({ ...POLICY_LIMITS, maxStringBytes: POLICY_LIMITS.maxBytes });

/** Upper bounds the validator enforces (documented in POLICY.md). */
export const POLICY_BOUNDS = Object.freeze({
  maxMoney: 10_000_000,
  maxItems: 100,
  maxGroups: 50,
  maxExceptions: 1000,
  maxHolidays: 1000,
  maxNameChars: 64,
  maxNoteChars: 256,
});

// ---- shapes: field name ↔ CBOR key, so one table drives both directions ----

type Shape = { readonly map: Readonly<Record<string, readonly [number, Shape]>> } | { readonly list: Shape } | 'leaf';

const LEAF = 'leaf' as const;
const list = (of: Shape): Shape => ({ list: of });
function mapShape(keys: Readonly<Record<string, number>>, nested: Readonly<Record<string, Shape>> = {}): Shape {
  const m: Record<string, readonly [number, Shape]> = {};
  for (const [name, key] of Object.entries(keys)) m[name] = [key, nested[name] ?? LEAF];
  return { map: m };
}

const ITEM_SHAPE = mapShape(ItemKey);
const POLICY_SHAPE = mapShape(
  { version: PolicyKey.version, effectiveFrom: PolicyKey.effectiveFrom, bread: PolicyKey.bread, ration: PolicyKey.ration, governorateExceptions: PolicyKey.governorateExceptions, cardStates: PolicyKey.cardStates },
  {
    bread: mapShape(BreadKey),
    ration: mapShape(RationKey, { items: list(ITEM_SHAPE), exclusiveGroups: list(list(LEAF)) }),
    governorateExceptions: list(mapShape(ExceptionKey, { cardGovernorates: list(LEAF), shopGovernorates: list(LEAF), services: list(LEAF) })),
    cardStates: mapShape(CardStatesKey, { weekendDays: list(LEAF), holidays: list(LEAF) }),
  },
);

function toCbor(value: unknown, shape: Shape): CborValue {
  if (shape === LEAF) return value as CborValue;
  if ('list' in shape) return (value as unknown[]).map((v) => toCbor(v, shape.list));
  const out = new Map<number, CborValue>();
  for (const [name, [key, sub]] of Object.entries(shape.map)) {
    const v = (value as Record<string, unknown>)[name];
    if (v !== undefined) out.set(key, toCbor(v, sub));
  }
  return out;
}

function fromCbor(value: CborValue, shape: Shape, path: string): unknown {
  if (shape === LEAF) return value;
  if ('list' in shape) {
    if (!Array.isArray(value)) malformed(path, 'expected an array');
    return value.map((v, i) => fromCbor(v, shape.list, `${path}[${i}]`));
  }
  if (!(value instanceof Map)) malformed(path, 'expected a map');
  const byKey = new Map<number, [string, Shape]>();
  for (const [name, [key, sub]] of Object.entries(shape.map)) byKey.set(key, [name, sub]);
  const out: Record<string, unknown> = {};
  for (const [k, v] of value) {
    const field = typeof k === 'number' ? byKey.get(k) : undefined;
    if (field === undefined) malformed(path, `unknown key ${String(k)}`);
    out[field[0]] = fromCbor(v, field[1], path === '' ? field[0] : `${path}.${field[0]}`);
  }
  return out;
}

// ---- the one validator ----

function malformed(path: string, what: string): never {
  throw new PolicyError('POLICY_MALFORMED', `${path === '' ? 'policy' : path}: ${what}`, { path });
}

class Fields {
  private readonly seen = new Set<string>();
  constructor(
    private readonly obj: Record<string, unknown>,
    readonly path: string,
  ) {}

  static of(value: unknown, path: string): Fields {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) malformed(path, 'expected an object');
    return new Fields(value as Record<string, unknown>, path);
  }

  at(name: string): string {
    return this.path === '' ? name : `${this.path}.${name}`;
  }

  has(name: string): boolean {
    this.seen.add(name);
    return Object.hasOwn(this.obj, name) && this.obj[name] !== undefined;
  }

  raw(name: string): unknown {
    this.seen.add(name);
    if (!this.has(name)) malformed(this.at(name), 'missing');
    return this.obj[name];
  }

  int(name: string, min: number, max: number): number {
    return intValue(this.raw(name), this.at(name), min, max);
  }

  optInt(name: string, min: number, max: number): number | undefined {
    return this.has(name) ? this.int(name, min, max) : undefined;
  }

  text(name: string, maxChars: number): string {
    return textValue(this.raw(name), this.at(name), maxChars);
  }

  day(name: string): string {
    const v = this.raw(name);
    if (!isDay(v)) malformed(this.at(name), "expected a calendar day 'YYYY-MM-DD'");
    return v;
  }

  array(name: string, max: number, min = 0): unknown[] {
    const v = this.raw(name);
    if (!Array.isArray(v) || v.length < min || v.length > max) malformed(this.at(name), `expected a list of ${min}..${max} entries`);
    return v;
  }

  finish(): void {
    for (const k of Object.keys(this.obj)) if (!this.seen.has(k)) malformed(this.at(k), 'unknown field');
  }
}

function intValue(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) malformed(path, `expected a whole number in ${min}..${max}`);
  return v;
}

function textValue(v: unknown, path: string, maxChars: number): string {
  if (typeof v !== 'string' || v.trim().length === 0 || v.length > maxChars) malformed(path, `expected text of 1..${maxChars} characters`);
  return v;
}

function sortedUnique<T>(values: readonly T[], path: string): void {
  for (let i = 1; i < values.length; i++) {
    if (!((values[i - 1] as T) < (values[i] as T))) malformed(path, 'must be sorted, without duplicates');
  }
}

function governorates(v: unknown[], path: string): number[] {
  const out = v.map((g, i) => intValue(g, `${path}[${i}]`, 0, 99));
  sortedUnique(out, path);
  return out;
}

const ITEM_ID_RE = /^[a-z0-9_-]{1,32}$/;

function readItem(value: unknown, path: string): RationItem {
  const f = Fields.of(value, path);
  const id = f.text('id', 32);
  if (!ITEM_ID_RE.test(id)) malformed(f.at('id'), "expected 1..32 characters of a-z, 0-9, '_' or '-'");
  const item: RationItem = {
    id,
    nameEn: f.text('nameEn', POLICY_BOUNDS.maxNameChars),
    nameAr: f.text('nameAr', POLICY_BOUNDS.maxNameChars),
    unitEn: f.text('unitEn', 32),
    unitAr: f.text('unitAr', 32),
    price: f.int('price', 1, POLICY_BOUNDS.maxMoney),
    perPerson: f.optInt('perPerson', 1, 1000),
    perCard: f.optInt('perCard', 1, 10_000),
  };
  f.finish();
  if (item.perPerson === undefined) delete (item as { perPerson?: number }).perPerson;
  if (item.perCard === undefined) delete (item as { perCard?: number }).perCard;
  return item;
}

function readException(value: unknown, path: string): GovernorateException {
  const f = Fields.of(value, path);
  const from = f.day('from');
  const to = f.day('to');
  if (to < from) malformed(f.at('to'), 'is before from');
  const e: { -readonly [K in keyof GovernorateException]: GovernorateException[K] } = {
    from,
    to,
    cardGovernorates: governorates(f.array('cardGovernorates', 100, 1), f.at('cardGovernorates')),
  };
  if (f.has('shopGovernorates')) e.shopGovernorates = governorates(f.array('shopGovernorates', 100, 1), f.at('shopGovernorates'));
  if (f.has('services')) {
    const s = f.array('services', SERVICES.length, 1).map((x, i) => {
      if (!SERVICES.includes(x as ServiceName)) malformed(`${f.at('services')}[${i}]`, `expected one of ${SERVICES.join(', ')}`);
      return x as ServiceName;
    });
    sortedUnique(s, f.at('services'));
    e.services = s;
  }
  if (f.has('note')) e.note = f.text('note', POLICY_BOUNDS.maxNoteChars);
  f.finish();
  return e;
}

/**
 * Checks a policy in its named form (an object as in policy-types.ts) and returns a fresh,
 * plain copy. POLICY_MALFORMED names the first field that is wrong.
 */
export function readPolicy(value: unknown): Policy {
  const top = Fields.of(value, '');
  const version = top.int('version', 1, 0xffff_ffff);
  const effectiveFrom = top.day('effectiveFrom');

  const b = Fields.of(top.raw('bread'), 'bread');
  const bread = {
    loavesPerPersonPerDay: b.int('loavesPerPersonPerDay', 1, 1000),
    maxDaysAtOnce: b.int('maxDaysAtOnce', 1, 31),
    largeHouseholdSize: b.int('largeHouseholdSize', 1, 65),
    maxDaysAtOnceLarge: b.int('maxDaysAtOnceLarge', 1, 31),
    piastresPerUnusedLoaf: b.int('piastresPerUnusedLoaf', 0, 100_000),
  };
  b.finish();

  const r = Fields.of(top.raw('ration'), 'ration');
  const items = r.array('items', POLICY_BOUNDS.maxItems, 1).map((it, i) => readItem(it, `ration.items[${i}]`));
  const ids = new Set<string>();
  for (const [i, it] of items.entries()) {
    if (ids.has(it.id)) malformed(`ration.items[${i}].id`, `duplicate item id ${it.id}`);
    ids.add(it.id);
  }
  const exclusiveGroups = r.array('exclusiveGroups', POLICY_BOUNDS.maxGroups).map((g, gi) => {
    const path = `ration.exclusiveGroups[${gi}]`;
    if (!Array.isArray(g) || g.length < 2 || g.length > POLICY_BOUNDS.maxItems) malformed(path, `expected a list of 2..${POLICY_BOUNDS.maxItems} item ids`);
    const group = g.map((id, i) => {
      if (typeof id !== 'string' || !ids.has(id)) malformed(`${path}[${i}]`, 'expected the id of an item on the price list');
      return id;
    });
    if (new Set(group).size !== group.length) malformed(path, 'names an item twice');
    return group;
  });
  const ration = {
    creditPerPerson: r.int('creditPerPerson', 0, POLICY_BOUNDS.maxMoney),
    fullCreditMembers: r.int('fullCreditMembers', 0, 64),
    creditPerFurtherPerson: r.int('creditPerFurtherPerson', 0, POLICY_BOUNDS.maxMoney),
    items,
    exclusiveGroups,
  };
  r.finish();

  const governorateExceptions = top
    .array('governorateExceptions', POLICY_BOUNDS.maxExceptions)
    .map((e, i) => readException(e, `governorateExceptions[${i}]`));

  const c = Fields.of(top.raw('cardStates'), 'cardStates');
  // At most 6 weekend days: a week with no working day would never end a suspension.
  const weekendDays = c.array('weekendDays', 6).map((d, i) => intValue(d, `cardStates.weekendDays[${i}]`, 0, 6));
  sortedUnique(weekendDays, 'cardStates.weekendDays');
  const holidays = c.array('holidays', POLICY_BOUNDS.maxHolidays).map((d, i) => {
    if (!isDay(d)) malformed(`cardStates.holidays[${i}]`, "expected a calendar day 'YYYY-MM-DD'");
    return d;
  });
  sortedUnique(holidays, 'cardStates.holidays');
  const cardStates = { suspendedWorkingDays: c.int('suspendedWorkingDays', 0, 60), weekendDays, holidays };
  c.finish();

  top.finish();
  return { version, effectiveFrom, bread, ration, governorateExceptions, cardStates };
}

/** Sorts the order-free lists (governorates, services, weekend days, holidays). */
export function normalizePolicy(p: Policy): Policy {
  const num = (a: number, b: number): number => a - b;
  const svc = (a: ServiceName, b: ServiceName): number => SERVICES.indexOf(a) - SERVICES.indexOf(b);
  return {
    ...p,
    governorateExceptions: p.governorateExceptions.map((e) => ({
      ...e,
      cardGovernorates: [...e.cardGovernorates].sort(num),
      ...(e.shopGovernorates === undefined ? {} : { shopGovernorates: [...e.shopGovernorates].sort(num) }),
      ...(e.services === undefined ? {} : { services: [...e.services].sort(svc) }),
    })),
    cardStates: { ...p.cardStates, weekendDays: [...p.cardStates.weekendDays].sort(num), holidays: [...p.cardStates.holidays].sort() },
  };
}

// ---- JSON form ----

/** The JSON form: the policy's fields by name, plus the format tag. */
export type PolicyJson = { readonly format: typeof POLICY_JSON_FORMAT } & Policy;

/** The JSON form of a policy (checked first: POLICY_MALFORMED). Stringify it to write a file. */
export function policyToJson(policy: Policy): PolicyJson {
  return { format: POLICY_JSON_FORMAT, ...readPolicy(policy) };
}

/** Reads the JSON form (a parsed JSON value). POLICY_MALFORMED on any defect. */
export function policyFromJson(value: unknown): Policy {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) malformed('', 'expected a JSON object');
  const { format, ...rest } = value as Record<string, unknown>;
  if (format !== POLICY_JSON_FORMAT) malformed('format', `expected "${POLICY_JSON_FORMAT}"`);
  return readPolicy(rest);
}

// ---- signed form ----

/** A policy read from its signed form. */
export interface SignedPolicy {
  readonly policy: Policy;
  readonly issuerKeyId: Uint8Array;
  readonly body: Uint8Array;
  readonly signature: Uint8Array;
}

/** The canonical CBOR body of a policy (validated first) for the issuer key id. */
export function encodePolicyBody(policy: Policy, issuerKeyId: Uint8Array): Uint8Array {
  if (!(issuerKeyId instanceof Uint8Array) || issuerKeyId.length !== KEY_ID_LENGTH) {
    throw new PolicyError('POLICY_MALFORMED', `issuer key id must be ${KEY_ID_LENGTH} bytes`);
  }
  const fields = toCbor(readPolicy(policy), POLICY_SHAPE) as Map<number, CborValue>;
  return encodeCanonical(new Map<number, CborValue>([[BODY_KEY_DOMAIN, Domain.policy], [PolicyKey.issuerKeyId, issuerKeyId], ...fields]));
}

/** Signs a policy with an issuer root; returns the envelope bytes. Order-free lists are sorted first. */
export function signPolicy(ed: Ed25519, issuerSeed: Uint8Array, policy: Policy): Uint8Array {
  const issuerKeyId = keyIdOf(ed.publicKeyFromSeed(issuerSeed));
  const body = encodePolicyBody(normalizePolicy(policy), issuerKeyId);
  return encodeCanonical([body, ed.sign(issuerSeed, signedBytes(Domain.policy, body))]);
}

function asPolicyError(e: unknown): never {
  if (e instanceof PolicyError) throw e;
  const code = isUnicardError(e) && e.code === 'STRUCT_WRONG_DOMAIN' ? 'POLICY_WRONG_DOMAIN' : 'POLICY_MALFORMED';
  throw new PolicyError(code, e instanceof Error ? e.message : 'not a policy', { cause: isUnicardError(e) ? e.code : 'unknown' });
}

/** Reads a signed policy WITHOUT checking its signature (for inspection tools). */
export function parsePolicy(bytes: Uint8Array): SignedPolicy {
  try {
    const { body, signature } = decodeSignedStructure(bytes, 'STRUCT_MALFORMED', ENVELOPE_LIMITS);
    const map = decodeBody(body, Domain.policy, 'STRUCT_MALFORMED', 'STRUCT_WRONG_DOMAIN', POLICY_LIMITS);
    const keyId = map.get(PolicyKey.issuerKeyId);
    if (!(keyId instanceof Uint8Array) || keyId.length !== KEY_ID_LENGTH) malformed('issuerKeyId', `expected ${KEY_ID_LENGTH} bytes`);
    const rest = new Map(map);
    rest.delete(BODY_KEY_DOMAIN);
    rest.delete(PolicyKey.issuerKeyId);
    const policy = readPolicy(fromCbor(rest, POLICY_SHAPE, ''));
    return { policy, issuerKeyId: keyId, body, signature };
  } catch (e) {
    return asPolicyError(e);
  }
}

/**
 * Reads and verifies a signed policy against the trusted issuer roots.
 * POLICY_MALFORMED, POLICY_WRONG_DOMAIN, POLICY_UNKNOWN_ISSUER, POLICY_BAD_SIGNATURE.
 */
export function verifyPolicy(bytes: Uint8Array, trustedIssuers: TrustedKeys, ed: Ed25519): SignedPolicy {
  const signed = parsePolicy(bytes);
  const key = lookupTrustedKey(trustedIssuers, signed.issuerKeyId);
  if (key === undefined) {
    throw new PolicyError('POLICY_UNKNOWN_ISSUER', 'policy signed by a key that is not a trusted issuer root', { issuerKeyId: toHex(signed.issuerKeyId) });
  }
  if (!ed.verify(key, signedBytes(Domain.policy, signed.body), signed.signature)) {
    throw new PolicyError('POLICY_BAD_SIGNATURE', 'policy signature does not verify');
  }
  return signed;
}
