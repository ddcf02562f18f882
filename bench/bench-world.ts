/**
 * The world the daemon-level benchmarks run in: the issuer toolkit's demo world (roots,
 * firmware, the SIM0001 terminal) plus as many terminals as asked (BENCH001, ...) and a pool
 * of bench households, each a card with five members on a fresh roster (household of 5:
 * 25 loaves a day under the default policy, so a card serves 20 one-loaf authorizations a
 * day with room to spare). Made in-process with node:crypto signing: a few seconds.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NodeEd25519 } from '../protocol/crypto/ed25519.js';
import { systemRandomBytes } from '../firmware-sim/hardware/random.js';
import { demoWorld } from '../firmware-sim/issuer/demo-world.js';
import { makeCard, makeRevocation, makeRoster, makeTerminal, type ToolkitContext } from '../firmware-sim/issuer/toolkit.js';

/** One-loaf authorizations a bench card is used for before the next card takes its place. */
export const AUTHS_PER_CARD = 20;

/** A bench world on disk. */
export interface BenchWorld {
  readonly dir: string;
  readonly terminalIds: readonly string[];
  /** Card file paths (households of 5, governorate 3, active on the roster). */
  readonly cards: readonly string[];
  readonly roster: string;
  readonly revocation: string;
  readonly vendorPub: string;
  readonly issuerPub: string;
}

/** Builds the world in `dir` with `terminals` bench terminals and `cards` bench cards. */
export async function makeBenchWorld(dir: string, terminals: number, cards: number): Promise<BenchWorld> {
  const ctx: ToolkitContext = { ed: new NodeEd25519(), random: systemRandomBytes, nowMs: () => Date.now() };
  const manifest = await demoWorld(ctx, dir, { firmwareSize: 1024 });
  const vendorKey = join(dir, manifest.vendor.keyFile);
  const issuerKey = join(dir, manifest.issuer.keyFile);
  const terminalIds = Array.from({ length: terminals }, (_, i) => `BENCH${String(i + 1).padStart(3, '0')}`);
  const made = await Promise.all(terminalIds.map((terminalId) => makeTerminal(ctx, { dir, vendorKeyPath: vendorKey, terminalId, vendor: manifest.vendor.name, model: 'SIM-1' })));
  const m = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { terminals: unknown[] };
  for (const t of made) {
    m.terminals.push({
      terminalId: t.terminalId,
      keyFile: t.keyPath.slice(dir.length + 1),
      identityFile: t.identityPath.slice(dir.length + 1),
      identityBase: t.identityBase.slice(dir.length + 1),
      keyId: t.keyId,
      vendor: manifest.vendor.name,
      model: 'SIM-1',
    });
  }
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(m, null, 2));
  const cardDir = join(dir, 'bench-cards');
  const members = [{ role: 'head' as const }, { role: 'spouse' as const }, { role: 'dependant' as const }, { role: 'dependant' as const }, { role: 'dependant' as const }];
  const paths: string[] = [];
  for (let i = 0; i < cards; i++) {
    const n = String(i + 1).padStart(6, '0');
    const r = await makeCard(ctx, { dir: cardDir, issuerKeyPath: issuerKey, cardId: `PSD-B${n}`, householdId: `HH-03-B${n}`, governorate: 3, members });
    paths.push(r.cardPath);
  }
  const roster = await makeRoster(ctx, { dir: cardDir, issuerKeyPath: issuerKey, cardPaths: paths });
  const revocation = await makeRevocation(ctx, { dir: cardDir, issuerKeyPath: issuerKey, cards: [], terminals: [] });
  return {
    dir,
    terminalIds,
    cards: paths,
    roster: roster.path,
    revocation: revocation.path,
    vendorPub: join(dir, manifest.vendor.publicKeyFile),
    issuerPub: join(dir, manifest.issuer.publicKeyFile),
  };
}

/** Hands out bench cards, each to one terminal at a time, so no household runs out of bread. */
export class CardPool {
  private next = 0;
  constructor(private readonly cards: readonly string[]) {}
  /** The next unused card, or undefined when the pool is spent. */
  take(): string | undefined {
    return this.cards[this.next++];
  }
  get used(): number {
    return Math.min(this.next, this.cards.length);
  }
}
