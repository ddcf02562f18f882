/**
 * The crypto layer's published vectors: rebuilt from fixed inputs with both Ed25519
 * implementations and compared with test/vectors/*.json byte for byte, then checked by
 * independent means (cborg for CBOR, nacl.secretbox and SHA-512 for the session), and
 * quoted verbatim in PROTOCOL.d so the spec cannot drift.
 * Regenerate after an intended change: UNICARD_WRITE_VECTORS=1 npx vitest run protocol/crypto/vectors.test.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { decode as cborgDecode } from 'cborg';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { UnicardError } from '../errors.js';
import { concatBytes, fromHex, sha512, toHex, u64be, utf8 } from './bytes.js';
import { verifyCardCertificate, verifyDeviceCertificate } from './certificates.js';
import { verifyCardAuth, verifyHolderVerify } from './card-structures.js';
import {
  buildCertificateVectors,
  buildHandshakeVectors,
  buildSealedVectors,
  buildSignedStructureVectors,
  HANDSHAKE_INPUTS,
  scriptedRandom,
  testBytes,
} from './crypto-vectors.js';
import { NodeEd25519, TweetnaclEd25519, type Ed25519 } from './ed25519.js';
import { verifyFirmwareBody, verifyFirmwareHeader } from './firmware-header.js';
import { HostHandshake } from './handshake.js';
import { SealedChannel } from './sealed-channel.js';
import { trustedKeysOf } from './certificates.js';

const root = new URL('../../', import.meta.url);
const vectorPath = (name: string): URL => new URL(`test/vectors/${name}`, root);
const nodeEd = new NodeEd25519();
const naclEd = new TweetnaclEd25519();
const impls: Ed25519[] = [nodeEd, naclEd];
const write = process.env.UNICARD_WRITE_VECTORS === '1';

const files = {
  'certificates.json': (ed: Ed25519) => buildCertificateVectors(ed),
  'handshake.json': (ed: Ed25519) => buildHandshakeVectors(ed),
  'sealed.json': (_ed: Ed25519) => buildSealedVectors(),
  'ed25519-signed-structures.json': (ed: Ed25519) => buildSignedStructureVectors(ed),
} as const;
type FileName = keyof typeof files;

if (write) {
  for (const [name, build] of Object.entries(files)) {
    writeFileSync(vectorPath(name), `${JSON.stringify(build(nodeEd), null, 2)}\n`);
  }
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const load = (name: FileName): any => JSON.parse(readFileSync(vectorPath(name), 'utf8'));

function codeOf(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof UnicardError) return e.code;
    throw e;
  }
}

const cborMap = (hex: string): Map<number, unknown> => cborgDecode(fromHex(hex), { useMaps: true }) as Map<number, unknown>;

describe('crypto vectors are reproducible', () => {
  for (const name of Object.keys(files) as FileName[]) {
    for (const ed of impls) {
      it(`${name} is rebuilt identically with ${ed.name}`, () => {
        const v = load(name);
        expect(typeof v.source).toBe('string');
        expect(JSON.parse(JSON.stringify(files[name](ed)))).toEqual(v);
      });
    }
  }
});

describe('certificates.json', () => {
  const v = load('certificates.json');
  const roots = {
    issuer: fromHex(v.keys.issuerRootPublicKey),
    vendor: fromHex(v.keys.vendorRootPublicKey),
  } as Record<string, Uint8Array>;
  it('bodies decode with cborg to the stated fields', () => {
    const card = cborMap(v.cardCertificate.body);
    expect(card.get(0)).toBe('unicard/v1/card-cert');
    expect(toHex(card.get(1) as Uint8Array)).toBe(v.keys.issuerRootKeyId);
    expect(toHex(card.get(2) as Uint8Array)).toBe(v.cardCertificate.fields.subjectPublicKey);
    expect([card.get(3), card.get(4)]).toEqual([v.cardCertificate.fields.validFrom, v.cardCertificate.fields.validUntil]);
    expect([card.get(5), card.get(6), card.get(7), card.get(8), card.get(9)]).toEqual([
      v.cardCertificate.fields.cardId,
      v.cardCertificate.fields.householdId,
      v.cardCertificate.fields.governorate,
      v.cardCertificate.fields.members,
      v.cardCertificate.fields.cardSerial,
    ]);
    const device = cborMap(v.deviceCertificate.body);
    expect(device.get(0)).toBe('unicard/v1/device-cert');
    expect([device.get(5), device.get(6), device.get(7)]).toEqual([v.deviceCertificate.fields.terminalId, v.deviceCertificate.fields.vendor, v.deviceCertificate.fields.model]);
    const envelope = cborgDecode(fromHex(v.cardCertificate.bytes)) as Uint8Array[];
    expect(envelope.map((b) => toHex(b))).toEqual([v.cardCertificate.body, v.cardCertificate.signature]);
  });
  it('signed bytes are domain ‖ 0x00 ‖ body and the signature verifies under the root', () => {
    for (const [c, domain, rootKey] of [
      [v.cardCertificate, 'unicard/v1/card-cert', roots.issuer],
      [v.deviceCertificate, 'unicard/v1/device-cert', roots.vendor],
    ] as const) {
      expect(c.signedBytes).toBe(toHex(utf8(domain)) + '00' + c.body);
      for (const ed of impls) expect(ed.verify(rootKey as Uint8Array, fromHex(c.signedBytes), fromHex(c.signature))).toBe(true);
    }
  });
  for (const ed of impls) {
    it(`every verify case gives its expected result (${ed.name})`, () => {
      for (const c of v.verify as { name: string; kind: string; bytes: string; trusted: string[]; now: number; expect: string }[]) {
        const trusted = trustedKeysOf(c.trusted.map((t) => roots[t] as Uint8Array));
        const verify = c.kind === 'card' ? verifyCardCertificate : verifyDeviceCertificate;
        expect(codeOf(() => verify(fromHex(c.bytes), trusted, c.now, ed)), c.name).toBe(c.expect);
      }
    });
  }
});

describe('handshake.json', () => {
  const v = load('handshake.json');
  it('key ids, hashes and keys follow the documented formulas', () => {
    expect(v.deviceCertificateHash).toBe(toHex(sha512(fromHex(v.inputs.deviceCertificate))));
    expect(v.signedBytes).toBe(toHex(utf8('unicard/v1/handshake')) + '00' + v.handshakeBody);
    expect(v.transcriptHash).toBe(toHex(sha512(fromHex(v.signedBytes))));
    expect(fromHex(v.handshakeBody)).toHaveLength(195); // PROTOCOL.d/80-session.md: fixed template
    const body = cborMap(v.handshakeBody);
    expect([...body.keys()]).toEqual([0, 1, 2, 3, 4]);
    expect(body.get(0)).toBe('unicard/v1/handshake');
    expect([1, 2, 3, 4].map((k) => toHex(body.get(k) as Uint8Array))).toEqual([
      v.hello.hostEphemeral,
      v.hello.hostNonce,
      v.reply.terminalEphemeral,
      v.deviceCertificateHash,
    ]);
    expect(toHex(nacl.scalarMult.base(fromHex(v.inputs.hostEphemeralSecret)))).toBe(v.hello.hostEphemeral);
    expect(toHex(nacl.scalarMult.base(fromHex(v.inputs.terminalEphemeralSecret)))).toBe(v.reply.terminalEphemeral);
    expect(toHex(nacl.scalarMult(fromHex(v.inputs.terminalEphemeralSecret), fromHex(v.hello.hostEphemeral)))).toBe(v.sharedSecret);
    for (const dir of ['h2t', 't2h'] as const) {
      const k = nacl.hash(concatBytes(utf8('unicard/v1/session-key'), new Uint8Array([0]), utf8(dir), fromHex(v.sharedSecret), fromHex(v.transcriptHash)));
      expect(toHex(k.subarray(0, 32))).toBe(v.keys[dir]);
    }
    for (const ed of impls) expect(ed.verify(fromHex(v.inputs.devicePublicKey), fromHex(v.signedBytes), fromHex(v.reply.signature))).toBe(true);
  });
  it('first records are counter ‖ secretbox(k_dir, nonce, plaintext) and open on the other side', () => {
    for (const [dir, byte] of [['h2t', 1], ['t2h', 2]] as const) {
      const r = v.firstRecords[dir];
      const nonce = concatBytes(new Uint8Array([byte]), new Uint8Array(15), u64be(1n));
      expect(r.nonce).toBe(toHex(nonce));
      expect(r.record).toBe(toHex(concatBytes(u64be(1n), nacl.secretbox(fromHex(r.plaintext), nonce, fromHex(v.keys[dir])))));
    }
    const keys = { h2t: fromHex(v.keys.h2t), t2h: fromHex(v.keys.t2h) };
    expect(toHex(new SealedChannel('terminal', keys).open(fromHex(v.firstRecords.h2t.record)))).toBe(v.firstRecords.h2t.plaintext);
    expect(toHex(new SealedChannel('host', keys).open(fromHex(v.firstRecords.t2h.record)))).toBe(v.firstRecords.t2h.plaintext);
  });
  it('a host fed the recorded reply derives the same session (what a port checks against)', () => {
    const host = new HostHandshake({ ed: nodeEd, randomBytes: scriptedRandom([HANDSHAKE_INPUTS.hostEphemeralSecret, HANDSHAKE_INPUTS.hostNonce]) });
    const s = host.finish({
      terminalEphemeral: fromHex(v.reply.terminalEphemeral),
      deviceCertificate: fromHex(v.reply.deviceCertificate),
      signature: fromHex(v.reply.signature),
    });
    expect(toHex(s.transcriptHash)).toBe(v.transcriptHash);
    expect(toHex(s.channel.open(fromHex(v.firstRecords.t2h.record)))).toBe(v.firstRecords.t2h.plaintext);
    expect(toHex(s.channel.seal(fromHex(v.firstRecords.h2t.plaintext)))).toBe(v.firstRecords.h2t.record);
  });
});

describe('sealed.json', () => {
  const v = load('sealed.json');
  const keys = { h2t: fromHex(v.keys.h2t), t2h: fromHex(v.keys.t2h) };
  it('each record is counter ‖ nacl.secretbox(key, nonce, plaintext)', () => {
    for (const r of v.records as { direction: 'h2t' | 't2h'; counter: number; plaintext: string; nonce: string; record: string }[]) {
      const nonce = concatBytes(new Uint8Array([r.direction === 'h2t' ? 1 : 2]), new Uint8Array(15), u64be(BigInt(r.counter)));
      expect(r.nonce).toBe(toHex(nonce));
      expect(r.record).toBe(toHex(concatBytes(u64be(BigInt(r.counter)), nacl.secretbox(fromHex(r.plaintext), nonce, keys[r.direction]))));
    }
  });
  it('the receive steps give the stated results in order', () => {
    const rx = new SealedChannel(v.receive.side, keys);
    for (const s of v.receive.steps as { note: string; record: string; expect: string; plaintext?: string }[]) {
      let got = '';
      const code = codeOf(() => {
        got = toHex(rx.open(fromHex(s.record)));
      });
      expect(code, s.note).toBe(s.expect);
      if (s.expect === 'ok') expect(got, s.note).toBe(s.plaintext);
    }
  });
});

describe('ed25519-signed-structures.json', () => {
  const v = load('ed25519-signed-structures.json');
  const cardPub = fromHex(v.cardPublicKey);
  const nonce = testBytes('daemon nonce 1');
  it('bodies decode with cborg and signatures verify with both implementations', () => {
    const auth = cborMap(v.cardAuth.body);
    expect([...auth.keys()]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(auth.get(0)).toBe('unicard/v1/card-auth');
    expect(toHex(auth.get(1) as Uint8Array)).toBe(v.cardAuth.fields.nonce);
    expect([2, 3, 4, 5, 6, 7, 8].map((k) => auth.get(k))).toEqual(
      ['cardId', 'service', 'quantity', 'shopId', 'terminalId', 'time', 'counter'].map((f) => v.cardAuth.fields[f]),
    );
    const hv = cborMap(v.holderVerify.body);
    expect(hv.get(0)).toBe('unicard/v1/holder-verify');
    expect([...hv.keys()]).toEqual([0, 1, 2, 3, 4, 5]);
    expect([3, 4, 5].map((k) => hv.get(k))).toEqual([v.holderVerify.fields.memberIndex, v.holderVerify.resultCodes[v.holderVerify.fields.result], v.holderVerify.fields.attempts]);
    const fw = cborMap(v.firmware.body);
    expect(fw.get(0)).toBe('unicard/v1/firmware');
    expect(fw.get(4)).toEqual(v.firmware.version);
    for (const ed of impls) {
      expect(verifyCardAuth(ed, cardPub, { body: fromHex(v.cardAuth.body), signature: fromHex(v.cardAuth.signature) }, nonce).counter).toBe(17);
      expect(verifyHolderVerify(ed, cardPub, { body: fromHex(v.holderVerify.body), signature: fromHex(v.holderVerify.signature) }, nonce).result).toBe('match');
      const vendor = trustedKeysOf([ed.publicKeyFromSeed(fromHex(v.firmware.vendorRootSeed))]);
      const header = verifyFirmwareHeader(fromHex(v.firmware.header), vendor, ed);
      expect(() => verifyFirmwareBody(header, fromHex(v.firmware.imageBody))).not.toThrow();
    }
  });
  it('the card-auth signature offered as a holder-verify is refused', () => {
    const offered = { body: fromHex(v.cardAuth.body), signature: fromHex(v.cardAuth.signature) };
    expect(codeOf(() => verifyHolderVerify(nodeEd, cardPub, offered, nonce))).toBe('STRUCT_WRONG_DOMAIN');
  });
});

describe('PROTOCOL.d quotes the vectors verbatim', () => {
  const squash = (s: string): string => s.replace(/[\s`|]/g, '').toLowerCase();
  const doc = (name: string): string => squash(readFileSync(new URL(`PROTOCOL.d/${name}`, root), 'utf8'));
  it('70-crypto.md shows the device certificate, its body and signature, and the card-auth', () => {
    const c = load('certificates.json');
    const s = load('ed25519-signed-structures.json');
    const crypto = doc('70-crypto.md');
    for (const hex of [c.keys.vendorRootPublicKey, c.keys.vendorRootKeyId, c.deviceCertificate.body, c.deviceCertificate.signature, c.deviceCertificate.bytes, s.cardAuth.body, s.cardAuth.signature]) {
      expect(crypto).toContain(hex);
    }
  });
  it('80-session.md shows the whole handshake and the first records', () => {
    const h = load('handshake.json');
    const session = doc('80-session.md');
    for (const hex of [
      h.inputs.hostEphemeralSecret,
      h.inputs.terminalEphemeralSecret,
      h.hello.hostEphemeral,
      h.hello.hostNonce,
      h.reply.terminalEphemeral,
      h.reply.signature,
      h.deviceCertificateHash,
      h.handshakeBody,
      h.transcriptHash,
      h.sharedSecret,
      h.keys.h2t,
      h.keys.t2h,
      h.firstRecords.h2t.record,
      h.firstRecords.t2h.record,
    ]) {
      expect(session).toContain(hex);
    }
    const sealed = load('sealed.json');
    for (const hex of [sealed.keys.h2t, sealed.keys.t2h, ...sealed.receive.steps.map((st: { record: string }) => st.record)]) {
      expect(session).toContain(hex);
    }
  });
});
