import { randomBytes as nodeRandomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CryptoError, SessionError, UnicardError } from '../errors.js';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { fromHex, utf8 } from './bytes.js';
import { issueCardCertificate, issueDeviceCertificate, trustedKeysOf, verifyDeviceCertificate } from './certificates.js';
import { TEST_SEEDS, TEST_VALIDITY, scriptedRandom, testBytes, testCardCertificateFields, testDeviceCertificateFields } from './crypto-vectors.js';
import { Domain } from './domains.js';
import { NodeEd25519, TweetnaclEd25519 } from './ed25519.js';
import { handshakeBody, HostHandshake, TerminalHandshake, type HandshakeReply } from './handshake.js';
import { signedBytes } from './signed-structure.js';

const ed = new NodeEd25519();
const device = issueDeviceCertificate(ed, TEST_SEEDS.vendorRoot, testDeviceCertificateFields(ed));
const random = (n: number): Uint8Array => new Uint8Array(nodeRandomBytes(n));
const terminal = (): TerminalHandshake => new TerminalHandshake({ ed: new TweetnaclEd25519(), deviceSeed: TEST_SEEDS.device, deviceCertificate: device, randomBytes: random });
const codeOf = (f: () => unknown): string => {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof UnicardError) return e.code;
    throw e;
  }
};
// A low-order point on Curve25519 (order 8); X25519 with it yields all zeros.
const LOW_ORDER = fromHex('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800');

describe('handshake', () => {
  it('host and terminal derive the same keys; each direction opens on the other side', () => {
    const host = new HostHandshake({ ed, randomBytes: random });
    const t = terminal().respond(host.hello);
    const h = host.finish(t.reply);
    expect(h.transcriptHash).toEqual(t.transcriptHash);
    expect(t.channel.open(h.channel.seal(utf8('to terminal')))).toEqual(utf8('to terminal'));
    expect(h.channel.open(t.channel.seal(utf8('to host')))).toEqual(utf8('to host'));
    expect(h.device.terminalId).toBe('T-PS-0001');
  });
  it('the host returns the device certificate for the caller to check against vendor roots', () => {
    const host = new HostHandshake({ ed, randomBytes: random });
    const h = host.finish(terminal().respond(host.hello).reply);
    const checked = verifyDeviceCertificate(h.device.bytes, trustedKeysOf([ed.publicKeyFromSeed(TEST_SEEDS.vendorRoot)]), TEST_VALIDITY.validFrom, ed);
    expect(checked.subjectPublicKey).toEqual(h.device.subjectPublicKey);
    expect(codeOf(() => verifyDeviceCertificate(h.device.bytes, trustedKeysOf([ed.publicKeyFromSeed(testBytes('x'))]), TEST_VALIDITY.validFrom, ed))).toBe('CERT_UNKNOWN_ISSUER');
  });
  it('two handshakes with fresh randomness give different keys', () => {
    const a = new HostHandshake({ ed, randomBytes: random });
    const b = new HostHandshake({ ed, randomBytes: random });
    const t = terminal();
    const ha = a.finish(t.respond(a.hello).reply);
    const hb = b.finish(t.respond(b.hello).reply);
    expect(ha.transcriptHash).not.toEqual(hb.transcriptHash);
    expect(codeOf(() => hb.channel.open(t.respond(a.hello).channel.seal(utf8('x'))))).toBe('SEAL_AUTH_FAILED');
  });
  it('the signature covers the transcript: changing any part is HANDSHAKE_BAD_SIGNATURE', () => {
    const t = terminal();
    const mk = (): HostHandshake => new HostHandshake({ ed, randomBytes: scriptedRandom([testBytes('e'), testBytes('n')]) });
    const reply = t.respond(mk().hello).reply;
    const otherEph = t.respond(new HostHandshake({ ed, randomBytes: random }).hello).reply.terminalEphemeral;
    const badSig = new Uint8Array(reply.signature);
    badSig[0] = (badSig[0] as number) ^ 1;
    // Another valid device certificate (same key, other terminal id): the hash of the certificate is signed.
    const otherCert = issueDeviceCertificate(ed, TEST_SEEDS.vendorRoot, { ...testDeviceCertificateFields(ed), terminalId: 'T-PS-0002' });
    for (const r of [{ ...reply, terminalEphemeral: otherEph }, { ...reply, signature: badSig }, { ...reply, deviceCertificate: otherCert }]) {
      expect(codeOf(() => mk().finish(r))).toBe('HANDSHAKE_BAD_SIGNATURE');
    }
    // Another host nonce: the reply was made for a different hello.
    const otherNonce = new HostHandshake({ ed, randomBytes: scriptedRandom([testBytes('e'), testBytes('n2')]) });
    expect(codeOf(() => otherNonce.finish(reply))).toBe('HANDSHAKE_BAD_SIGNATURE');
    expect(codeOf(() => mk().finish(reply))).toBe('ok');
  });
  it('a signature by another key than the certificate subject is HANDSHAKE_BAD_SIGNATURE', () => {
    const host = new HostHandshake({ ed, randomBytes: random });
    const r = terminal().respond(host.hello).reply;
    const body = handshakeBody(host.hello, r.terminalEphemeral, r.deviceCertificate);
    const forged = ed.sign(testBytes('attacker'), signedBytes(Domain.handshake, body));
    expect(codeOf(() => host.finish({ ...r, signature: forged }))).toBe('HANDSHAKE_BAD_SIGNATURE');
  });
  it('a card certificate or garbage in place of the device certificate is HANDSHAKE_MALFORMED', () => {
    const card = issueCardCertificate(ed, TEST_SEEDS.issuerRoot, testCardCertificateFields(ed));
    for (const cert of [card, new Uint8Array([0x82, 0x40]), new Uint8Array(5000)]) {
      const host = new HostHandshake({ ed, randomBytes: random });
      const r = terminal().respond(host.hello).reply;
      expect(codeOf(() => host.finish({ ...r, deviceCertificate: cert }))).toBe('HANDSHAKE_MALFORMED');
    }
  });
  it('wrong lengths in hello or reply are HANDSHAKE_MALFORMED', () => {
    const host = new HostHandshake({ ed, randomBytes: random });
    expect(codeOf(() => terminal().respond({ ...host.hello, hostNonce: new Uint8Array(31) }))).toBe('HANDSHAKE_MALFORMED');
    expect(codeOf(() => terminal().respond({ ...host.hello, hostEphemeral: new Uint8Array(33) }))).toBe('HANDSHAKE_MALFORMED');
    expect(codeOf(() => terminal().respond(undefined as never))).toBe('HANDSHAKE_MALFORMED');
    const r = terminal().respond(host.hello).reply;
    const bad: HandshakeReply[] = [
      { ...r, terminalEphemeral: r.terminalEphemeral.subarray(1) },
      { ...r, signature: r.signature.subarray(1) },
      { ...r, deviceCertificate: 'x' as never },
    ];
    for (const b of bad) expect(codeOf(() => new HostHandshake({ ed, randomBytes: random }).finish(b))).toBe('HANDSHAKE_MALFORMED');
    expect(codeOf(() => new HostHandshake({ ed, randomBytes: () => new Uint8Array(5) }))).toBe('HANDSHAKE_MALFORMED');
  });
  it('a low-order ephemeral key is HANDSHAKE_WEAK_KEY on either side', () => {
    expect(codeOf(() => terminal().respond({ hostEphemeral: LOW_ORDER, hostNonce: testBytes('n') }))).toBe('HANDSHAKE_WEAK_KEY');
    expect(codeOf(() => terminal().respond({ hostEphemeral: new Uint8Array(32), hostNonce: testBytes('n') }))).toBe('HANDSHAKE_WEAK_KEY');
    // A terminal that signs a low-order key (broken or malicious) is still refused.
    const host = new HostHandshake({ ed, randomBytes: random });
    const body = handshakeBody(host.hello, LOW_ORDER, device);
    const signature = ed.sign(TEST_SEEDS.device, signedBytes(Domain.handshake, body));
    expect(codeOf(() => host.finish({ terminalEphemeral: LOW_ORDER, deviceCertificate: device, signature }))).toBe('HANDSHAKE_WEAK_KEY');
  });
  it('finish runs once: a second call is SESSION_NOT_ESTABLISHED, also after a failure', () => {
    const host = new HostHandshake({ ed, randomBytes: random });
    const r = terminal().respond(host.hello).reply;
    host.finish(r);
    expect(codeOf(() => host.finish(r))).toBe('SESSION_NOT_ESTABLISHED');
    const failed = new HostHandshake({ ed, randomBytes: random });
    expect(codeOf(() => failed.finish({ ...r, signature: new Uint8Array(64) }))).toBe('HANDSHAKE_BAD_SIGNATURE');
    expect(codeOf(() => failed.finish(terminal().respond(failed.hello).reply))).toBe('SESSION_NOT_ESTABLISHED');
  });
  it('the terminal refuses a device key that is not its certificate key', () => {
    expect(() => new TerminalHandshake({ ed, deviceSeed: testBytes('wrong'), deviceCertificate: device, randomBytes: random })).toThrow(CryptoError);
    expect(codeOf(() => new TerminalHandshake({ ed, deviceSeed: TEST_SEEDS.device, deviceCertificate: new Uint8Array(3), randomBytes: random }))).toBe('CERT_MALFORMED');
  });
  it('fuzz: random and mutated replies end in a typed SessionError only', () => {
    const t = new TerminalHandshake({ ed, deviceSeed: TEST_SEEDS.device, deviceCertificate: device, randomBytes: random });
    const codes = ['HANDSHAKE_MALFORMED', 'HANDSHAKE_BAD_SIGNATURE', 'HANDSHAKE_WEAK_KEY'];
    fc.assert(
      fc.property(
        fc.constantFrom('terminalEphemeral', 'deviceCertificate', 'signature'),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.uint8Array({ maxLength: 80 }),
        fc.boolean(),
        (field, pos, x, junk, replace) => {
          const host = new HostHandshake({ ed, randomBytes: random });
          const r = t.respond(host.hello).reply;
          const original = r[field];
          let value: Uint8Array;
          if (replace) value = junk;
          else {
            value = new Uint8Array(original);
            value[pos % value.length] = (value[pos % value.length] as number) ^ x;
          }
          let error: unknown;
          try {
            host.finish({ ...r, [field]: value });
          } catch (e) {
            error = e;
          }
          expect(error).toBeInstanceOf(SessionError);
          expect(codes).toContain((error as SessionError).code);
        },
      ),
      // Four X25519 operations in JS per run (~5 ms): 1/20 of the long count under `make fuzz`.
      { numRuns: Math.max(1000, Math.floor(fuzzRuns(1000) / 20)) },
    );
  });
});
