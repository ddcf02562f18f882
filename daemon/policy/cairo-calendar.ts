/**
 * Days as Egypt counts them. Every entitlement (a day's bread, a month's ration) is a
 * calendar day or month in Egypt's local time, Africa/Cairo. Egypt brought daylight saving
 * time back in 2023 (last Friday of April 00:00 → 01:00, last Thursday of October
 * 24:00 → 23:00), so a local day is 23, 24 or 25 hours long and a fixed UTC+2 offset would
 * put an hour of receipts on the wrong day twice a year. The offset of an instant comes from
 * the system's tz database (egypt-time.ts); everything after that is plain calendar
 * arithmetic on 'YYYY-MM-DD' strings, which compare correctly as strings.
 */
import { cairoOffsetMs } from '../time/egypt-time.js';
import { PolicyError } from './policy-error.js';

export { EGYPT_TIME_ZONE } from '../time/egypt-time.js';

/** A calendar day in Egypt, 'YYYY-MM-DD'. */
export type Day = string;
/** A calendar month in Egypt, 'YYYY-MM'. */
export type Month = string;

/** Latest Unix time accepted (9999-12-31T20:59:59Z, still 9999 in Cairo): days keep four-digit years. */
export const MAX_UNIX_SECONDS = 253_402_289_999;

const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const MONTH_RE = /^(\d{4})-(\d{2})$/;
const MS_PER_DAY = 86_400_000;

/** Weekday names, index 0 = Sunday (as Date.getUTCDay). */
export const WEEKDAY_EN = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'] as const;
/** Weekday names in Arabic, index 0 = Sunday. */
export const WEEKDAY_AR = ['الأحد', 'الاثنين', 'الثلاثاء', 'الأربعاء', 'الخميس', 'الجمعة', 'السبت'] as const;

function checkTime(unixSeconds: number): void {
  if (typeof unixSeconds !== 'number' || !Number.isFinite(unixSeconds) || unixSeconds < 0 || unixSeconds > MAX_UNIX_SECONDS) {
    throw new PolicyError('TIME_INVALID', `time must be Unix seconds in 0..${MAX_UNIX_SECONDS}`, { now: String(unixSeconds) });
  }
}

/** Cairo's wall clock of an instant as an ISO string 'YYYY-MM-DDTHH:MM:SS.000Z' (the Z is not UTC). */
function localIso(unixSeconds: number): string {
  checkTime(unixSeconds);
  const seconds = Math.floor(unixSeconds);
  return new Date(seconds * 1000 + cairoOffsetMs(seconds * 1000)).toISOString();
}

/*
 * Day strings and their UTC midnights, remembered. Each authorization asks for the same few
 * days (today, the days ahead it may collect, last month's first and last) several times, and
 * a regular expression, a Date round trip and an ISO string per question were ~5 % of the
 * daemon's CPU per authorization (BENCHMARKS.md). Only valid days are kept; a full cache is
 * simply emptied (a daemon meets a few hundred distinct days a year).
 */
const DAY_CACHE_LIMIT = 4096;
const msByDay = new Map<string, number>();
const dayByNumber = new Map<number, Day>();

/** 'YYYY-MM-DD' of the day that starts `dayNumber` days after 1970-01-01 (the UTC calendar). */
function dayOfNumber(dayNumber: number): Day {
  let day = dayByNumber.get(dayNumber);
  if (day === undefined) {
    day = new Date(dayNumber * MS_PER_DAY).toISOString().slice(0, 10);
    if (dayByNumber.size >= DAY_CACHE_LIMIT) dayByNumber.clear();
    dayByNumber.set(dayNumber, day);
  }
  return day;
}

/** The Egyptian calendar day of a Unix time (seconds). TIME_INVALID outside 1970..9999. */
export function cairoDay(unixSeconds: number): Day {
  checkTime(unixSeconds);
  const ms = Math.floor(unixSeconds) * 1000;
  return dayOfNumber(Math.floor((ms + cairoOffsetMs(ms)) / MS_PER_DAY));
}

/** 'YYYY-MM-DD HH:MM:SS' in Egypt's local time (for documents and test tables). */
export function cairoDateTime(unixSeconds: number): string {
  const iso = localIso(unixSeconds);
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}

function dayToUtcMs(day: Day): number {
  const known = msByDay.get(day);
  if (known !== undefined) return known;
  const ms = parseDayToUtcMs(day);
  if (!Number.isNaN(ms)) {
    if (msByDay.size >= DAY_CACHE_LIMIT) msByDay.clear();
    msByDay.set(day, ms);
  }
  return ms;
}

function parseDayToUtcMs(day: Day): number {
  if (typeof day !== 'string') return Number.NaN;
  const m = DAY_RE.exec(day);
  if (!m) return Number.NaN;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const ms = Date.UTC(y, mo - 1, d);
  const back = new Date(ms);
  // Date.UTC rolls 2025-02-30 over to March: a real day maps back to itself.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return Number.NaN;
  return ms;
}

/** The day of a UTC midnight (every caller passes one). */
function utcMsToDay(ms: number): Day {
  return dayOfNumber(Math.floor(ms / MS_PER_DAY));
}

/** True when `s` is a real calendar day 'YYYY-MM-DD' (1970..9999). */
export function isDay(s: unknown): s is Day {
  return typeof s === 'string' && s >= '1970-01-01' && s <= '9999-12-31' && !Number.isNaN(dayToUtcMs(s));
}

/** True when `s` is a month 'YYYY-MM' (1970..9999). */
export function isMonth(s: unknown): s is Month {
  if (typeof s !== 'string') return false;
  const m = MONTH_RE.exec(s);
  return m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 12 && s >= '1970-01';
}

function requireDay(day: Day): number {
  const ms = dayToUtcMs(day);
  if (Number.isNaN(ms)) throw new PolicyError('TIME_INVALID', `not a calendar day: ${String(day).slice(0, 32)}`);
  return ms;
}

/** `day` moved by `n` calendar days (n may be negative). */
export function addDays(day: Day, n: number): Day {
  return utcMsToDay(requireDay(day) + n * MS_PER_DAY);
}

/** Whole days from `a` to `b` (positive when b is later). */
export function daysBetween(a: Day, b: Day): number {
  return Math.round((requireDay(b) - requireDay(a)) / MS_PER_DAY);
}

/** Weekday of a day: 0 Sunday … 5 Friday, 6 Saturday. */
export function weekday(day: Day): number {
  return new Date(requireDay(day)).getUTCDay();
}

/** The month a day belongs to, 'YYYY-MM'. */
export function monthOf(day: Day): Month {
  requireDay(day);
  return day.slice(0, 7);
}

/** First day of a month. */
export function firstDayOf(month: Month): Day {
  if (!isMonth(month)) throw new PolicyError('TIME_INVALID', `not a month: ${String(month).slice(0, 32)}`);
  return `${month}-01`;
}

/** Number of days in a month (28..31). */
export function daysInMonth(month: Month): number {
  const first = firstDayOf(month);
  const [y, m] = [Number(month.slice(0, 4)), Number(month.slice(5, 7))];
  return daysBetween(first, utcMsToDay(Date.UTC(y, m, 1)));
}

/** Last day of a month. */
export function lastDayOf(month: Month): Day {
  return addDays(firstDayOf(month), daysInMonth(month) - 1);
}

/** The month before `month`. */
export function previousMonth(month: Month): Month {
  return monthOf(addDays(firstDayOf(month), -1));
}

/** 'Wednesday 2025-03-19' / 'الأربعاء 2025-03-19': a day as a cashier reads it. */
export function dayLabel(day: Day, lang: 'en' | 'ar'): string {
  const w = weekday(day);
  return `${(lang === 'en' ? WEEKDAY_EN : WEEKDAY_AR)[w]} ${day}`;
}
