/**
 * Figures a campaign test reports for `make reliability`: when UNICARD_RELIABILITY_OUT names a
 * directory, each campaign writes `<name>.json` there, and scripts/reliability.ts prints them
 * as one table. Without the variable nothing is written (the figures are still asserted).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One campaign's counts. Absent fields do not apply to it. */
export interface CampaignFigures {
  campaign: string;
  seed?: number;
  faultsInjected?: number;
  transactions?: number;
  completed?: number;
  /** Ended with a typed error (or a clean refusal) and nothing wrong recorded. */
  failedCleanly?: number;
  retries?: number;
  wrongApprovals?: number;
  duplicates?: number;
  lost?: number;
  attacksTried?: number;
  attacksRefused?: number;
  /** Free-form notes (e.g. what the clean failures were). */
  notes?: string;
}

/** Writes the figures when a reliability run asked for them. */
export function reportFigures(f: CampaignFigures): void {
  const dir = process.env.UNICARD_RELIABILITY_OUT;
  if (dir === undefined || dir === '') return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${f.campaign}.json`), `${JSON.stringify(f, null, 2)}\n`);
}

/** A small seeded generator (mulberry32), so a failing campaign can be replayed by its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A positive integer from the environment, or the default. */
export function envCount(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
}
