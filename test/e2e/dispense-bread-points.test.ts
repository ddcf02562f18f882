/**
 * Bread points over a real pty (POLICY.md §1.5): the simulator on a socat pty, unicardd with
 * a dispense.json, a shop client on the API socket. The households' cards and roster entries
 * are made with the issuer toolkit's CLI (`make-card --valid-from`, `make-roster --state
 * CARD=active@DATE`) so that they start at chosen instants of last month (Egypt's time); the
 * daemon runs on the real clock. What each `balance` must show is worked out here from the
 * rules as POLICY.md states them (5 loaves a person a day, 10 piastres an unused loaf, EGP 50
 * a person for the first 4 and EGP 25 after, tea EGP 5.50) and from Cairo calendar days
 * computed with Intl in this file, never read back from the daemon.
 *
 * Not covered here: loaves collected *during* last month. That needs receipts booked against
 * last month's days, and unicardd books against its own clock, which nothing moves; the
 * in-memory test (daemon/dispense/dispense-service.test.ts) covers it through the same ledger
 * and policy code.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDaemonWorld, runScript, startShop, tempDir, TRUSTED_TERMINAL, type DaemonTestWorld, type Shop } from './daemon-harness.js';

const TOKEN = 'bread-points-e2e-token-0123456789';

// ---- the rules, as POLICY.md gives them (the oracle; the daemon's own constants are not used) ----
const LOAVES_PER_PERSON_PER_DAY = 5;
const PIASTRES_PER_UNUSED_LOAF = 10;
const TEA_PIASTRES = 550;
const baseCredit = (members: number): number => 5000 * Math.min(members, 4) + 2500 * Math.max(0, members - 4);

// ---- Egypt's calendar: the tz database's UTC offset, then UTC arithmetic (not daemon/policy/cairo-calendar.ts) ----
const CAIRO_OFFSET = new Intl.DateTimeFormat('en-US', { timeZone: 'Africa/Cairo', timeZoneName: 'longOffset' });

/** Cairo's offset from UTC at an instant, in ms (+2 h in winter, +3 h in summer). */
function cairoOffsetMs(ms: number): number {
  const name = CAIRO_OFFSET.formatToParts(ms).find((p) => p.type === 'timeZoneName')?.value ?? '';
  const m = /^GMT([+-])(\d{2}):(\d{2})$/.exec(name);
  if (!m) throw new Error(`unexpected offset name ${name}`);
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3])) * 60_000;
}

/** Cairo calendar date of an instant (ms). */
function cairoFields(ms: number): { y: number; m: number; d: number } {
  const wall = new Date(ms + cairoOffsetMs(ms));
  return { y: wall.getUTCFullYear(), m: wall.getUTCMonth() + 1, d: wall.getUTCDate() };
}

const pad = (n: number): string => String(n).padStart(2, '0');
const dayText = (y: number, m: number, d: number): string => `${y}-${pad(m)}-${pad(d)}`;
/** Days in month m (1..12) of year y. */
const daysIn = (y: number, m: number): number => new Date(Date.UTC(y, m, 0)).getUTCDate();
/** Month m + delta, as [year, month]. */
function shiftMonth(y: number, m: number, delta: number): [number, number] {
  const t = new Date(Date.UTC(y, m - 1 + delta, 1));
  return [t.getUTCFullYear(), t.getUTCMonth() + 1];
}
/** The instant (ms) Cairo's clock reads 00:00 on day d of month m, for a day whose midnight has no clock change (any 1st does). */
function cairoMidnight(y: number, m: number, d: number): number {
  const wall = Date.UTC(y, m - 1, d);
  return wall - cairoOffsetMs(wall);
}
/** Noon UTC of a day: 14:00 or 15:00 in Cairo, the same calendar day. */
const noonUtc = (y: number, m: number, d: number): number => Date.UTC(y, m - 1, d, 12);

// ---- the households ----
interface Household {
  cardId: string;
  householdId: string;
  members: number;
  /** Card certificate valid from (ms). */
  validFrom: number;
  /** Roster `since` when it differs from validFrom (ms). */
  activeFrom?: number;
  /** Loaves of last month the household was entitled to and did not take (worked out below). */
  unused: number;
  why: string;
}

const NOW = cairoFields(Date.now());
const TODAY = dayText(NOW.y, NOW.m, NOW.d);
const [PY, PM] = shiftMonth(NOW.y, NOW.m, -1);
const [PPY, PPM] = shiftMonth(NOW.y, NOW.m, -2);
const LAST_MONTH_DAYS = daysIn(PY, PM);
const THIS_MONTH_STARTS = cairoMidnight(NOW.y, NOW.m, 1);

const HOUSEHOLDS: Household[] = [
  {
    cardId: 'PSD-000031',
    householdId: 'HH-03-000031',
    members: 3,
    validFrom: noonUtc(PPY, PPM, 15),
    unused: 3 * LOAVES_PER_PERSON_PER_DAY * LAST_MONTH_DAYS,
    why: 'active since the month before last: all of last month',
  },
  {
    cardId: 'PSD-000032',
    householdId: 'HH-03-000032',
    members: 5,
    validFrom: noonUtc(PY, PM, 1),
    activeFrom: noonUtc(PY, PM, 10),
    unused: 5 * LOAVES_PER_PERSON_PER_DAY * (LAST_MONTH_DAYS - 9),
    why: 'card valid from the 1st, activated on the 10th of last month: the 10th to the month end',
  },
  {
    cardId: 'PSD-000033',
    householdId: 'HH-03-000033',
    members: 1,
    validFrom: THIS_MONTH_STARTS - 1000,
    unused: 1 * LOAVES_PER_PERSON_PER_DAY,
    why: 'active from 23:59:59 on the last day of last month (Cairo): one day',
  },
  {
    cardId: 'PSD-000034',
    householdId: 'HH-03-000034',
    members: 2,
    validFrom: THIS_MONTH_STARTS,
    unused: 0,
    why: 'active from 00:00 on the 1st of this month (Cairo): no previous month, no points',
  },
];
const H1 = HOUSEHOLDS[0]!;

let world: DaemonTestWorld;
let dir: string;
let shop: Shop;
const cardPath: Record<string, string> = {};

async function issuer(args: string[]): Promise<void> {
  const r = await runScript('firmware-sim/issuer/cli.ts', args);
  expect(r.status.code, [...r.stdout, ...r.stderr].join('\n')).toBe(0);
}

async function insert(h: Household): Promise<void> {
  await shop.sim.control({ cmd: 'remove' });
  const r = await shop.sim.control({ cmd: 'insert', card: cardPath[h.cardId]! });
  expect(r.ok, JSON.stringify(r)).toBe(true);
}

async function balanceOf(h: Household): Promise<Record<string, any>> {
  await insert(h);
  const b = await shop.client.call<Record<string, any>>('balance', { terminalId: TRUSTED_TERMINAL });
  // The expectations are for the Cairo day this file computed; a run across midnight says so here.
  expect(b.today, 'the Cairo day changed while the test ran').toBe(TODAY);
  expect(b).toMatchObject({ cardId: h.cardId, householdId: h.householdId, householdSize: h.members, cardState: 'active' });
  return b;
}

/** Authorizes with the head's finger. */
async function authorize(params: Record<string, unknown>): Promise<Record<string, any>> {
  expect((await shop.sim.control({ cmd: 'finger', finger: 0, count: 1 })).ok).toBe(true);
  return shop.client.call<Record<string, any>>('authorize', { terminalId: TRUSTED_TERMINAL, ...params }, { timeoutMs: 60_000 });
}

beforeAll(async () => {
  [world, dir] = await Promise.all([makeDaemonWorld(), tempDir('unicard-e2e-bread-points-')]);
  const cards = join(dir, 'cards');
  const issuerKey = join(world.worldDir, 'issuer.key');
  const iso = (ms: number): string => new Date(ms).toISOString();
  const roles = ['head', 'spouse', 'dependant', 'dependant', 'dependant'];
  await Promise.all(
    HOUSEHOLDS.map((h) => {
      cardPath[h.cardId] = join(cards, `card-${h.cardId}.json`);
      const members = roles.slice(0, h.members).flatMap((r) => ['--member', r]);
      return issuer(['make-card', '--dir', cards, '--issuer-key', issuerKey, '--card-id', h.cardId, '--household', h.householdId, '--governorate', '3', ...members, '--valid-from', iso(h.validFrom)]);
    }),
  );
  // The roster lists each card as active since its validFrom unless --state gives another day.
  const states = HOUSEHOLDS.filter((h) => h.activeFrom !== undefined).flatMap((h) => ['--state', `${h.cardId}=active@${iso(h.activeFrom!)}`]);
  await issuer(['make-roster', '--dir', cards, '--issuer-key', issuerKey, ...HOUSEHOLDS.flatMap((h) => ['--card', cardPath[h.cardId]!]), ...states]);

  shop = await startShop(world, {
    dir,
    token: TOKEN,
    clientName: 'grocer-pos',
    dispense: { shopId: 'GROCER-PSD-31', shopGovernorate: 3, roster: join(cards, 'roster.cbor'), cardTimeoutMs: 20_000, fingerTimeoutMs: 10_000 },
  });
}, 120_000);

afterAll(async () => {
  await shop?.stop();
  await world?.cleanup();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('bread points over a real pty', () => {
  it.each(HOUSEHOLDS.map((h) => [h.why, h] as const))('balance credits last month’s untaken loaves: %s', async (_why, h) => {
    const b = await balanceOf(h);
    const points = h.unused * PIASTRES_PER_UNUSED_LOAF;
    expect(b.ration.month).toBe(TODAY.slice(0, 7));
    expect(b.ration.credit).toEqual({ base: baseCredit(h.members), unusedLoaves: h.unused, breadPoints: points, total: baseCredit(h.members) + points });
    expect(b.ration).toMatchObject({ spent: 0, piastres: baseCredit(h.members) + points, remaining: { piastres: baseCredit(h.members) + points } });
  }, 60_000);

  it('bread collected this month leaves last month’s points as they were', async () => {
    await insert(H1);
    const a = await authorize({ service: 'bread', quantity: 3 * LOAVES_PER_PERSON_PER_DAY, idempotencyKey: `points-bread-${Date.now()}` });
    expect(a).toMatchObject({ cardId: H1.cardId, approvedQuantity: 15, partial: false });
    const r = await shop.client.call<Record<string, any>>('commit', { authorizationId: a.authorizationId, quantity: 15 });
    expect(r).toMatchObject({ householdId: H1.householdId, quantity: 15 });
    const b = await balanceOf(H1);
    expect(b.bread.today).toBe(0);
    expect(b.ration.credit).toMatchObject({ unusedLoaves: H1.unused, breadPoints: H1.unused * PIASTRES_PER_UNUSED_LOAF });
  }, 60_000);

  it('a ration authorize spends the points: more tea than the base credit pays for, then the balance left', async () => {
    const credit = baseCredit(H1.members) + H1.unused * PIASTRES_PER_UNUSED_LOAF;
    const affordable = Math.floor(credit / TEA_PIASTRES);
    // The points are what makes the difference: the base credit alone buys fewer packs.
    expect(affordable).toBeGreaterThan(Math.floor(baseCredit(H1.members) / TEA_PIASTRES));
    await insert(H1);
    const a = await authorize({ service: 'ration', items: [{ item: 'tea', quantity: affordable + 5 }], idempotencyKey: `points-tea-${Date.now()}` });
    expect(a).toMatchObject({ cardId: H1.cardId, service: 'ration', approved: [{ item: 'tea', quantity: affordable }], partial: true });
    expect(a.reasons.map((x: { code: string }) => x.code)).toEqual(['RATION_BALANCE']);
    const left = credit - affordable * TEA_PIASTRES;
    expect(a.remaining).toMatchObject({ piastres: left });

    const r = await shop.client.call<Record<string, any>>('commit', { authorizationId: a.authorizationId, items: [{ item: 'tea', quantity: affordable }] });
    expect(r.lines).toEqual([{ item: 'tea', quantity: affordable, piastres: affordable * TEA_PIASTRES }]);
    expect(r.remaining).toMatchObject({ piastres: left });
    const b = await balanceOf(H1);
    expect(b.ration).toMatchObject({ spent: affordable * TEA_PIASTRES, piastres: left, credit: { total: credit, breadPoints: H1.unused * PIASTRES_PER_UNUSED_LOAF } });
  }, 60_000);
});
