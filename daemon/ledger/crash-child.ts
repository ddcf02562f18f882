/**
 * Child process of the crash-safety test: opens the ledger named on the command line and
 * authorizes and commits bread for ever, eight at a time, printing "ACK <authorization id>
 * <seq> <receipt id>" on stdout for every commit the ledger acknowledged (synchronously, so
 * a line on the pipe means the ledger had returned the receipt). The parent kills it with
 * SIGKILL in the middle of this stream.
 */
import { writeSync } from 'node:fs';
import { Ledger } from './ledger.js';
import { FixtureWorld } from './ledger-fixtures.js';
import { dayKey } from './periods.js';

const [path, worldName = 'crash', round = '0'] = process.argv.slice(2);
if (path === undefined) {
  process.stderr.write('usage: crash-child <ledger path> [world] [round]\n');
  process.exit(2);
}
const world = new FixtureWorld(worldName);
const ledger = Ledger.open(path, { daemonSeed: world.daemonSeed });
writeSync(1, 'READY\n');

let next = 0;
async function one(): Promise<void> {
  const k = next++;
  const card = world.card(`H${k % 40}`, 2);
  // Each round is a new process with fresh card objects: continue above the counters the ledger saw.
  card.counter = Math.max(card.counter, (ledger.cardCounter(card.cardId) ?? 0) + 1);
  const now = Date.now();
  const { authorization } = await ledger.createAuthorization({
    clientId: 'crash-pos',
    idempotencyKey: `r${round}-${k}`,
    shopId: world.shopId,
    terminalId: world.terminalId,
    service: 'bread',
    requested: [{ item: 'loaf', quantity: 1 }],
    approved: [{ period: dayKey(now), item: 'loaf', quantity: 1, unitPiastres: 20 }],
    expiresAt: now + 600_000,
    evidence: world.evidence(card, { service: 'bread', quantity: 1, timeMs: now }),
  });
  const { receipt } = await ledger.commit(authorization.id, 1);
  writeSync(1, `ACK ${authorization.id} ${receipt.seq} ${receipt.idHex}\n`);
}

for (;;) await Promise.all(Array.from({ length: 8 }, one));
