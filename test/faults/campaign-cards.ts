/**
 * Cards for the long campaigns: the demo world's three active households collect about 60
 * loaves a day between them, far fewer than 200 transactions need. This issues `count`
 * more cards (households of 8: 40 loaves a day each) under the world's issuer key, with a
 * roster of its own listing them, so a campaign measures faults, not the daily quota.
 */
import { join } from 'node:path';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { systemRandomBytes } from '../../firmware-sim/hardware/random.js';
import { makeCard, makeRoster, type ToolkitContext } from '../../firmware-sim/issuer/toolkit.js';
import type { DaemonTestWorld } from '../e2e/daemon-harness.js';

/** Card files (to insert by path) and the roster listing them. */
export interface CampaignCards {
  readonly cardPaths: readonly string[];
  readonly rosterPath: string;
}

/** Issues `count` cards of governorate 3 in `dir` and a roster of them. */
export async function makeCampaignCards(world: DaemonTestWorld, dir: string, count: number): Promise<CampaignCards> {
  const ctx: ToolkitContext = { ed: new NodeEd25519(), random: systemRandomBytes, nowMs: () => Date.now() };
  const issuerKeyPath = join(world.worldDir, 'issuer.key');
  const members = [{ role: 'head' as const }, { role: 'spouse' as const }, ...Array.from({ length: 6 }, () => ({ role: 'dependant' as const }))];
  const cardPaths: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = String(500 + i).padStart(6, '0');
    const card = await makeCard(ctx, { dir, issuerKeyPath, cardId: `PSD-${n}`, householdId: `HH-03-${n}`, governorate: 3, members });
    cardPaths.push(card.cardPath);
  }
  const roster = await makeRoster(ctx, { dir, issuerKeyPath, cardPaths, out: 'campaign-roster.cbor' });
  return { cardPaths, rosterPath: roster.path };
}
