/**
 * The table of policy cases (test/vectors/policy-cases.json): loading a case, running it
 * through the evaluator, reducing the answer to the fields a case checks, and rendering the
 * table for POLICY.md. Used by policy-cases.test.ts and policy-doc.ts.
 */
import { readFileSync } from 'node:fs';
import { DEFAULT_POLICY } from './default-policy.js';
import { balance, evaluate, type Balance, type Decision, type HouseholdInput, type HouseholdUsage, type PolicyRequest } from './evaluator.js';
import { PolicyError } from './policy-error.js';
import { policyFromJson, policyToJson } from './policy-format.js';
import type { Policy } from './policy-types.js';
import type { Reason } from './reasons.js';

/** One case of the table. */
export interface PolicyCase {
  readonly name: string;
  /** The rule it exercises (groups the table in POLICY.md). */
  readonly rule: string;
  /** The situation in plain words. */
  readonly why: string;
  readonly now: number;
  /** `now` in Cairo local time, 'YYYY-MM-DD HH:MM:SS' (checked against the tz database). */
  readonly cairo: string;
  readonly call?: 'evaluate' | 'balance';
  readonly household?: Partial<HouseholdInput>;
  readonly usage?: Partial<HouseholdUsage>;
  /** Top-level policy fields that replace the default policy's. */
  readonly policy?: Partial<Policy>;
  readonly shopGovernorate?: number;
  readonly request?: PolicyRequest;
  readonly expect?: Record<string, unknown>;
  readonly expectError?: string;
}

/** The vectors file. */
export interface PolicyCasesFile {
  readonly source: string;
  readonly defaults: { readonly household: HouseholdInput; readonly usage: HouseholdUsage; readonly shopGovernorate: number };
  readonly signedDefaultPolicy: { readonly issuerPublicKey: string; readonly issuerKeyId: string; readonly envelope: string };
  readonly cases: readonly PolicyCase[];
}

/** Where the table lives. */
export const POLICY_CASES_URL = new URL('../../test/vectors/policy-cases.json', import.meta.url);

/** Reads test/vectors/policy-cases.json. */
export function loadPolicyCases(): PolicyCasesFile {
  return JSON.parse(readFileSync(POLICY_CASES_URL, 'utf8')) as PolicyCasesFile;
}

/** The policy a case runs under: the default with the case's top-level fields replaced (validated). */
export function policyOf(c: PolicyCase): Policy {
  return c.policy === undefined ? DEFAULT_POLICY : policyFromJson({ ...policyToJson(DEFAULT_POLICY), ...c.policy });
}

type Summary = Record<string, unknown>;

function reasonSummary(reasons: readonly Reason[]): { reasons: string[]; reasonParams: Record<string, string | number>[] } {
  return { reasons: reasons.map((r) => r.code), reasonParams: reasons.map((r) => ({ ...r.params })) };
}

function rationLeft(items: readonly { item: string; left: number | null; excludedBy?: string }[]): { items: Summary; excluded: Summary } {
  const left: Summary = {};
  const excluded: Summary = {};
  for (const i of items) {
    left[i.item] = i.left;
    if (i.excludedBy !== undefined) excluded[i.item] = i.excludedBy;
  }
  return { items: left, excluded };
}

/** A decision in the shape cases are written in: reasons by code, item lists as maps. */
export function summarizeDecision(d: Decision): Summary {
  const base = { ...d, ...reasonSummary(d.reasons) };
  if (d.service === 'bread') return base;
  return {
    ...base,
    items: d.items.map((l) => ({ ...l, reasons: l.reasons.map((r) => r.code) })),
    remaining: { ...d.remaining, ...rationLeft(d.remaining.items) },
  };
}

/** A balance in the shape cases are written in. */
export function summarizeBalance(b: Balance): Summary {
  return {
    ...b,
    card: { ...b.card, reasons: b.card.reasons.map((r) => r.code) },
    ration: { ...b.ration, ...rationLeft(b.ration.items) },
  };
}

/** Outcome of running a case. */
export type CaseOutcome = { readonly kind: 'result'; readonly summary: Summary } | { readonly kind: 'error'; readonly code: string };

/** Runs one case through evaluate() or balance(). */
export function runCase(file: PolicyCasesFile, c: PolicyCase): CaseOutcome {
  const household = { ...file.defaults.household, ...c.household } as HouseholdInput;
  const usage = { ...file.defaults.usage, ...c.usage } as HouseholdUsage;
  const shop = c.shopGovernorate ?? file.defaults.shopGovernorate;
  try {
    const policy = policyOf(c);
    if (c.call === 'balance') return { kind: 'result', summary: summarizeBalance(balance(policy, household, usage, c.now, shop)) };
    if (c.request === undefined) throw new Error(`case ${c.name} has no request`);
    return { kind: 'result', summary: summarizeDecision(evaluate(policy, c.request, household, usage, c.now, shop)) };
  } catch (e) {
    if (e instanceof PolicyError) return { kind: 'error', code: e.code };
    throw e;
  }
}

/**
 * Differences between `actual` and the fields `expected` names: objects are compared key by
 * key (extra actual keys are fine), arrays element by element with equal length, the rest
 * with ===. Empty when they agree.
 */
export function subsetMismatches(actual: unknown, expected: unknown, path = ''): string[] {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return [`${path}: expected an array, got ${JSON.stringify(actual)}`];
    if (actual.length !== expected.length) return [`${path}: expected ${expected.length} entries, got ${actual.length}: ${JSON.stringify(actual)}`];
    return expected.flatMap((e, i) => subsetMismatches(actual[i], e, `${path}[${i}]`));
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object') return [`${path}: expected an object, got ${JSON.stringify(actual)}`];
    return Object.entries(expected).flatMap(([k, e]) => subsetMismatches((actual as Record<string, unknown>)[k], e, path === '' ? k : `${path}.${k}`));
  }
  return actual === expected ? [] : [`${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`];
}

function requestText(c: PolicyCase): string {
  if (c.call === 'balance') return 'balance';
  if (c.request === undefined) return '';
  if (c.request.service === 'bread') return `bread ${c.request.loaves}`;
  return c.request.items.map((i) => `${i.item} ${i.quantity}`).join(', ');
}

function outcomeText(c: PolicyCase): string {
  if (c.expectError !== undefined) return `error ${c.expectError}`;
  const e = c.expect ?? {};
  const parts: string[] = [];
  if (e.approved !== undefined) parts.push(e.approved === true ? 'approved' : 'refused');
  if (typeof e.approvedQuantity === 'number' && e.approved === true) parts.push(`${e.approvedQuantity} loaves`);
  if (Array.isArray(e.items) && e.approved === true) {
    parts.push((e.items as { item: string; approved?: number }[]).filter((l) => l.approved !== undefined).map((l) => `${l.item} ${l.approved}`).join(', '));
  }
  if (typeof e.total === 'number' && e.total > 0) parts.push(`EGP ${(e.total / 100).toFixed(2)}`);
  if (Array.isArray(e.bookings) && e.bookings.length > 0) parts.push(`for ${(e.bookings as { day: string }[]).map((b) => b.day.slice(5)).join(', ')}`);
  if (Array.isArray(e.reasons) && e.reasons.length > 0) parts.push(`(${(e.reasons as string[]).join(', ')})`);
  const card = e.card as { usable?: boolean; usableFrom?: string } | undefined;
  if (card?.usableFrom !== undefined) parts.push(`card usable from ${card.usableFrom}`);
  const ration = e.ration as { credit?: { total?: number; breadPoints?: number }; piastres?: number } | undefined;
  if (ration?.credit?.total !== undefined) parts.push(`credit EGP ${(ration.credit.total / 100).toFixed(2)}${ration.credit.breadPoints ? ` incl. points EGP ${(ration.credit.breadPoints / 100).toFixed(2)}` : ''}`);
  const bread = e.bread as { collectableNow?: number } | undefined;
  if (bread?.collectableNow !== undefined) parts.push(`${bread.collectableNow} loaves collectable now`);
  const here = e.servedHere as { bread?: boolean } | undefined;
  if (here?.bread === false) parts.push('not served in this governorate');
  return parts.filter((p) => p !== '').join(' ');
}

/** The Markdown table of every case, for POLICY.md. */
export function renderCasesTable(file: PolicyCasesFile): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  const rows = file.cases.map((c) => {
    const h = { ...file.defaults.household, ...c.household };
    const who = `${h.householdSize}p, gov ${h.governorate}${h.state === 'active' ? '' : `, ${h.state}`}`;
    return `| ${c.name} | ${esc(c.rule)} | ${esc(c.why)} | ${c.cairo} | ${who} | ${esc(requestText(c))} | ${esc(outcomeText(c))} |`;
  });
  return ['| case | rule | situation | Cairo time | household | asks | expected |', '|---|---|---|---|---|---|---|', ...rows].join('\n');
}
