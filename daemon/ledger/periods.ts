/**
 * Period keys of the usage index, in Egypt's time zone (Africa/Cairo, with its daylight
 * saving time): a bread entitlement day 'YYYY-MM-DD', a ration month 'YYYY-MM'. Keys compare
 * as strings in calendar order, and a month key sorts before the days of that month, so
 * "period >= '2026-10'" selects October's month rows, October's days and everything later.
 */
import { cairoOffsetMs } from '../time/egypt-time.js';

export { EGYPT_TIME_ZONE } from '../time/egypt-time.js';

const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const MONTH_RE = /^(\d{4})-(\d{2})$/;

/** A calendar date. */
export interface CalendarDate {
  readonly year: number;
  /** 1..12 */
  readonly month: number;
  /** 1..31 */
  readonly day: number;
}

/** The calendar date in Egypt at `unixMs`. */
export function cairoDate(unixMs: number): CalendarDate {
  if (!Number.isFinite(unixMs)) throw new RangeError('not a time');
  const d = new Date(unixMs + cairoOffsetMs(unixMs));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** 'YYYY-MM-DD' of a calendar date. */
export function formatDay(d: CalendarDate): string {
  return `${pad(d.year, 4)}-${pad(d.month, 2)}-${pad(d.day, 2)}`;
}

/** 'YYYY-MM' of a calendar date. */
export function formatMonth(d: CalendarDate): string {
  return `${pad(d.year, 4)}-${pad(d.month, 2)}`;
}

/** The bread entitlement day (Egypt) at `unixMs`, 'YYYY-MM-DD'. */
export function dayKey(unixMs: number): string {
  return formatDay(cairoDate(unixMs));
}

/** The ration month (Egypt) at `unixMs`, 'YYYY-MM'. */
export function monthKey(unixMs: number): string {
  return formatMonth(cairoDate(unixMs));
}

/** The month before a 'YYYY-MM' key. */
export function previousMonthKey(month: string): string {
  const m = MONTH_RE.exec(month);
  if (m === null) throw new RangeError(`not a month key: ${month}`);
  const y = Number(m[1]);
  const mo = Number(m[2]);
  return mo === 1 ? formatMonth({ year: y - 1, month: 12, day: 1 }) : formatMonth({ year: y, month: mo - 1, day: 1 });
}

/** The day `n` days after (or before, n < 0) a 'YYYY-MM-DD' key: plain calendar arithmetic. */
export function addDays(day: string, n: number): string {
  const m = DAY_RE.exec(day);
  if (m === null) throw new RangeError(`not a day key: ${day}`);
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + n));
  return formatDay({ year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() });
}

/** True for a real calendar day 'YYYY-MM-DD' or month 'YYYY-MM'. */
export function isPeriodKey(s: string): boolean {
  const d = DAY_RE.exec(s);
  if (d !== null) {
    const month = Number(d[2]);
    const day = Number(d[3]);
    if (month < 1 || month > 12 || day < 1) return false;
    return day <= new Date(Date.UTC(Number(d[1]), month, 0)).getUTCDate();
  }
  const m = MONTH_RE.exec(s);
  return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 12;
}
