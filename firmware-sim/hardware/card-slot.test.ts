import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyCardAuth } from '../../protocol/crypto/card-structures.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { tempPathFor } from './atomic-file.js';
import { loadCardFile, saveCardFile } from './card-file.js';
import { loadCard, SimulatedCardSlot } from './card-slot.js';
import { ManualClock } from './clock.js';
import { SimulatedFingerprintSensor } from './fingerprint-sensor.js';
import { makeTestCard, makeTestIssuer } from './fixtures.js';
import { seededRandomBytes } from './random.js';
import { SimulatedCard, type SecureElement } from './secure-element.js';

const ed = new NodeEd25519();
const random = seededRandomBytes('card slot tests');
const issuer = makeTestIssuer(ed, random);
const tx = (n: number) => ({ nonce: new Uint8Array(32).fill(n), service: 1, quantity: 5000, shopId: 'SHOP-1', terminalId: 'SIM0001', time: 1_795_000_000 });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unicard-slot-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('SimulatedCardSlot', () => {
  it('powers the card on insertion and off on removal, telling listeners', async () => {
    const data = makeTestCard(ed, random, issuer);
    const card = new SimulatedCard(data);
    const slot = new SimulatedCardSlot();
    const events: string[] = [];
    slot.onInserted((c) => events.push(`in ${c.info.cardId}`));
    const off = slot.onRemoved((c) => events.push(`out ${c.info.cardId}`));
    expect(slot.card).toBeUndefined();
    expect(() => slot.remove()).toThrow(expect.objectContaining({ code: 'NO_CARD' }));
    slot.insert({ card, data });
    expect(slot.card).toBe(card);
    expect(card.powered).toBe(true);
    expect(() => slot.insert({ card, data })).toThrow(expect.objectContaining({ code: 'CARD_ALREADY_PRESENT' }));
    await card.authenticate(tx(1));
    slot.remove();
    expect(card.powered).toBe(false);
    await expect(card.authenticate(tx(2))).rejects.toMatchObject({ code: 'NO_CARD' });
    off();
    slot.insert({ card, data });
    slot.remove();
    expect(events).toEqual([`in ${data.cardId}`, `out ${data.cardId}`, `in ${data.cardId}`]);
  });

  it('lends the sensor the household templates: a member finger matches on the card', async () => {
    const data = makeTestCard(ed, random, issuer);
    const slot = new SimulatedCardSlot();
    const clock = new ManualClock();
    const sensor = new SimulatedFingerprintSensor({ clock, random, fingers: slot });
    expect(slot.templateFor(0)).toBeUndefined();
    const card: SecureElement = slot.insert({ card: new SimulatedCard(data), data });
    expect(slot.templateFor(2)).toEqual(data.members[2]!.template);
    expect(slot.templateFor(9)).toBeUndefined();
    sensor.present({ kind: 'member', member: 2 });
    const cap = await sensor.capture({ timeoutMs: 1000 });
    if (cap.kind !== 'capture') throw new Error('no capture');
    const v = card.startHolderVerification(new Uint8Array(32), 2);
    expect(v.attempt(cap.sample).outcome).toBe('match');
  });
});

describe('card counter persisted in the card file', () => {
  it('survives a restart and is never reused', async () => {
    const path = join(dir, 'card-PSD.json');
    await saveCardFile(path, makeTestCard(ed, random, issuer));
    const seen: number[] = [];
    for (let run = 0; run < 3; run++) {
      // Each run is a fresh process: load the card file, insert, authenticate twice.
      const loaded = await loadCard(path, ed);
      const slot = new SimulatedCardSlot();
      const card = slot.insert(loaded);
      for (let i = 0; i < 2; i++) {
        const { signed, fields } = await card.authenticate(tx(i));
        verifyCardAuth(ed, card.info.publicKey, signed, tx(i).nonce);
        seen.push(fields.counter);
      }
      slot.remove();
    }
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await loadCardFile(path, ed)).counter).toBe(6);
    expect(await readdir(dir)).toEqual(['card-PSD.json']);
  });

  it('a crash while storing releases no signature, and no released counter is ever reused', async () => {
    const path = join(dir, 'card-PSD.json');
    await saveCardFile(path, makeTestCard(ed, random, issuer, { counter: 41 }));
    const released: number[] = [];
    // Crash before the rename (old file stays), then after it (new counter on disk).
    for (const step of ['temp-written', 'renamed'] as const) {
      const loaded = await loadCard(path, ed, {
        onStep: (s) => {
          if (s === step) throw new Error(`crash at ${s}`);
        },
      });
      const card = new SimulatedCardSlot().insert(loaded);
      await expect(card.authenticate(tx(1))).rejects.toThrow(`crash at ${step}`);
      // Restart: a clean process signs the next transaction.
      const again = new SimulatedCardSlot().insert(await loadCard(path, ed));
      released.push((await again.authenticate(tx(2))).fields.counter);
    }
    // 42 was written but its signature never left; after the second crash 44 was on disk.
    expect(released).toEqual([42, 44]);
    expect((await loadCardFile(path, ed)).counter).toBe(44);
  });

  it('ignores a half-written temp file left by a crash', async () => {
    const path = join(dir, 'card-PSD.json');
    await saveCardFile(path, makeTestCard(ed, random, issuer, { counter: 7 }));
    await writeFile(tempPathFor(path), '{"format":"unicard-card/1","counter":4');
    const card = new SimulatedCardSlot().insert(await loadCard(path, ed));
    expect(card.counter).toBe(7);
    expect((await card.authenticate(tx(1))).fields.counter).toBe(8);
    expect((await loadCardFile(path, ed)).counter).toBe(8);
  });
});
