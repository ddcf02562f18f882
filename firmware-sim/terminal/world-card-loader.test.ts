import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { loadCardFile } from '../hardware/card-file.js';
import { worldCardLoader } from './simulated-terminal.js';
import { makeTestWorld, type TestWorld } from './test-world.js';

const ed = new NodeEd25519();
let world: TestWorld;
let state: string;
beforeAll(async () => {
  world = await makeTestWorld();
  state = await mkdtemp(join(tmpdir(), 'unicard-card-loader-'));
});
afterAll(async () => {
  await world.cleanup();
  await rm(state, { recursive: true, force: true });
});

const tx = (n: number) => ({ nonce: new Uint8Array(32).fill(n), service: 0, quantity: 5, shopId: 'SHOP-PSD-17', terminalId: 'SIM0001', time: 1_795_000_000 + n });

describe('worldCardLoader', () => {
  it("'file' (default): the card is copied into the state directory and its counter saved there", async () => {
    const dir = join(state, 'file');
    const load = worldCardLoader({ worldDir: world.dir, manifest: world.manifest, stateDir: dir, ed, attemptLimit: 3, durable: false });
    const cardId = world.manifest.cards[0]!.cardId;
    const { card, path } = await load(cardId);
    card.powerOn();
    await card.authenticate(tx(1));
    card.powerOff();
    expect((await loadCardFile(path!, ed)).counter).toBe(1);
    expect((await load(cardId)).card.counter).toBe(1);
  });

  it("'memory': one card per file for the process, its counter still only goes up, and nothing is written", async () => {
    const dir = join(state, 'memory');
    const load = worldCardLoader({ worldDir: world.dir, manifest: world.manifest, stateDir: dir, ed, attemptLimit: 3, durable: false, cardCounters: 'memory' });
    const cardId = world.manifest.cards[0]!.cardId;
    const first = await load(cardId);
    first.card.powerOn();
    await first.card.authenticate(tx(1));
    await first.card.authenticate(tx(2));
    first.card.powerOff();
    const again = await load(cardId);
    expect(again.card).toBe(first.card);
    expect(again.card.counter).toBe(2);
    again.card.powerOn();
    expect((await again.card.authenticate(tx(3))).fields.counter).toBe(3);
    expect(await readdir(dir).catch(() => [])).toEqual([]);
    // The world's card file is as issued.
    expect((await loadCardFile(first.path!, ed)).counter).toBe(0);
  });
});
