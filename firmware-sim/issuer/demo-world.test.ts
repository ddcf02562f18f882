import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { verifyCardAuth } from '../../protocol/crypto/card-structures.js';
import { trustedKeysOf, verifyCardCertificate, verifyDeviceCertificate } from '../../protocol/crypto/certificates.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { verifyFirmwareHeader } from '../../protocol/crypto/firmware-header.js';
import { loadCard, SimulatedCardSlot } from '../hardware/card-slot.js';
import { DeviceIdentity } from '../hardware/device-identity.js';
import { VendorFirmwareVerifier } from '../hardware/firmware-verifier.js';
import { FlashStore } from '../hardware/flash-store.js';
import { loadPublicKeyFile } from '../hardware/key-file.js';
import { seededRandomBytes } from '../hardware/random.js';
import { DEMO_MODEL, DEMO_VENDOR, demoWorld, type DemoManifest } from './demo-world.js';
import { decodeFirmwareImage } from './firmware-image.js';
import { verifyRevocationList, verifyRoster } from './signed-lists.js';
import type { ToolkitContext } from './toolkit.js';

const ed = new NodeEd25519();
const NOW = Date.UTC(2026, 10, 22, 9, 0, 0);
const ctx = (seed: string): ToolkitContext => ({ ed, random: seededRandomBytes(seed), nowMs: () => NOW });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'unicard-world-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('demo-world', () => {
  it('writes a coherent world whose every signature verifies', async () => {
    const m: DemoManifest = await demoWorld(ctx('world'), dir, { firmwareSize: 8192 });
    expect(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(m)));
    const nowS = NOW / 1000;

    const issuer = await loadPublicKeyFile(join(dir, m.issuer.publicKeyFile), 'issuer-root');
    const vendor = await loadPublicKeyFile(join(dir, m.vendor.publicKeyFile), 'vendor-root');
    expect(issuer.keyId).toBe(m.issuer.keyId);
    expect(vendor.keyId).toBe(m.vendor.keyId);
    const issuers = trustedKeysOf([issuer.publicKey]);
    const vendors = trustedKeysOf([vendor.publicKey]);

    // Terminal: identity loads, certificate under the vendor root.
    const t = m.terminals[0]!;
    const id = await DeviceIdentity.load(join(dir, t.identityBase), ed);
    const device = verifyDeviceCertificate(id.certificateBytes, vendors, nowS, ed);
    expect(device).toMatchObject({ terminalId: 'SIM0001', vendor: DEMO_VENDOR, model: DEMO_MODEL });

    // Cards: certificates under the issuer (the expired one refused as such), card-auth verifies.
    expect(m.cards.some((c) => c.members.length >= 4)).toBe(true);
    for (const c of m.cards) {
      const { card, data } = await loadCard(join(dir, c.file), ed);
      expect(data.members.map((x) => x.role)).toEqual(c.members.map((x) => x.role));
      if (c.validUntil < nowS) {
        expect(() => verifyCardCertificate(data.certificate, issuers, nowS, ed)).toThrow(expect.objectContaining({ code: 'CERT_EXPIRED' }));
      } else {
        expect(verifyCardCertificate(data.certificate, issuers, nowS, ed).cardId).toBe(c.cardId);
      }
      const se = new SimulatedCardSlot().insert({ card, data });
      const nonce = new Uint8Array(32).fill(3);
      const auth = await se.authenticate({ nonce, service: 0, quantity: 5, shopId: 'BAKERY-PSD-1', terminalId: 'SIM0001', time: nowS });
      expect(verifyCardAuth(ed, se.info.publicKey, auth.signed, nonce).counter).toBe(1);
    }

    // Roster and revocation list under the issuer root, agreeing with the manifest.
    const roster = verifyRoster(new Uint8Array(await readFile(join(dir, m.roster.file))), issuers, ed);
    expect(roster.entries).toHaveLength(m.cards.length);
    for (const c of m.cards) {
      const e = roster.entries.find((x) => x.cardId === c.cardId)!;
      expect(e).toMatchObject({ state: c.rosterState, householdSize: c.members.length, governorate: c.governorate, cardSerial: c.cardSerial });
    }
    expect(new Set(roster.entries.map((e) => e.state))).toEqual(new Set(['active', 'suspended', 'replaced', 'not_activated']));
    const revoked = verifyRevocationList(new Uint8Array(await readFile(join(dir, m.revocation.file))), issuers, ed);
    expect(revoked.cards.map((c) => c.cardId)).toEqual(m.cards.filter((c) => c.revoked).map((c) => c.cardId));

    // Firmware: each image does what the manifest says on a terminal with the factory image.
    const img = async (f: { file: string }) => decodeFirmwareImage(new Uint8Array(await readFile(join(dir, f.file))));
    const factory = await img(m.firmware.factory);
    expect(verifyFirmwareHeader(factory.header, vendors, ed).version).toEqual([1, 0, 0]);
    const verifier = new VendorFirmwareVerifier(vendors, ed, { vendor: DEMO_VENDOR, model: DEMO_MODEL });
    const store = await FlashStore.open(join(dir, 'flash.json'), { verifier, factory });
    for (const role of ['downgrade', 'forged', 'tampered', 'update'] as const) {
      const f = m.firmware[role];
      const image = await img(f);
      const outcome = await (async () => {
        await store.begin(image.header, image.body.length);
        await store.write(0, image.body);
        await store.finish();
        return 'accepted';
      })().catch((e: { code: string }) => e.code);
      expect(outcome, role).toBe(f.expect);
    }

    // Secrets only in 0600 files, never in public files or the manifest.
    const seeds: string[] = [];
    for (const name of await readdir(dir)) {
      if (name.startsWith('flash')) continue; // made by this test, not by demo-world
      const mode = (await stat(join(dir, name))).mode & 0o777;
      const secret = name.endsWith('.key') || name.startsWith('card-');
      expect(mode, name).toBe(secret ? 0o600 : 0o644);
      if (secret) seeds.push((JSON.parse(await readFile(join(dir, name), 'utf8')) as { seed: string }).seed);
    }
    expect(seeds).toHaveLength(3 + m.cards.length);
    for (const name of await readdir(dir)) {
      if (name.endsWith('.key') || name.startsWith('card-') || name.startsWith('flash')) continue;
      const text = (await readFile(join(dir, name))).toString('latin1');
      for (const s of seeds) expect(text, name).not.toContain(s);
    }
  });

  it('is reproducible from a seed, and refuses to overwrite secrets without force', async () => {
    const a = await demoWorld(ctx('same'), join(dir, 'a'), { firmwareSize: 1024 });
    const b = await demoWorld(ctx('same'), join(dir, 'b'), { firmwareSize: 1024 });
    expect(a).toEqual(b);
    expect(await readFile(join(dir, 'a', a.cards[0]!.file), 'utf8')).toBe(await readFile(join(dir, 'b', b.cards[0]!.file), 'utf8'));
    await expect(demoWorld(ctx('other'), join(dir, 'a'))).rejects.toMatchObject({ code: 'ISSUER_WOULD_OVERWRITE' });
    const c = await demoWorld(ctx('other'), join(dir, 'a'), { firmwareSize: 1024, force: true });
    expect(c.issuer.keyId).not.toBe(a.issuer.keyId);
  });
});
