import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import nacl from 'tweetnacl';
import { SessionError } from '../errors.js';
import { fromHex, sha512, toHex } from './bytes.js';
import { deriveSessionKeys, sessionKeyInput, x25519KeyPairFromSecret, x25519SharedSecret } from './session-keys.js';

interface XdhCase { tcId: number; flags: string[]; public: string; private: string; shared: string; result: 'valid' | 'acceptable' | 'invalid' }
const x25519 = JSON.parse(readFileSync(new URL('../../test/vectors/wycheproof-x25519.json', import.meta.url), 'utf8')) as {
  testGroups: { tests: XdhCase[] }[];
};
const cases = x25519.testGroups.flatMap((g) => g.tests);

describe('X25519 against Wycheproof', () => {
  it('has the 518 cases, 31 of them with a zero shared secret', () => {
    expect(cases).toHaveLength(518);
    expect(cases.filter((c) => c.flags.includes('ZeroSharedSecret'))).toHaveLength(31);
  });
  it('tweetnacl computes the expected shared secret for every case', () => {
    const wrong = cases.filter((c) => toHex(nacl.scalarMult(fromHex(c.private), fromHex(c.public))) !== c.shared);
    expect(wrong.map((c) => c.tcId)).toEqual([]);
  });
  it('x25519SharedSecret refuses exactly the zero-shared-secret (low-order) cases with HANDSHAKE_WEAK_KEY', () => {
    for (const c of cases) {
      const run = (): Uint8Array => x25519SharedSecret(fromHex(c.private), fromHex(c.public));
      if (c.flags.includes('ZeroSharedSecret')) {
        expect(c.flags).toContain('LowOrderPublic');
        expect(run).toThrow(expect.objectContaining({ code: 'HANDSHAKE_WEAK_KEY' }));
      } else {
        expect(toHex(run())).toBe(c.shared);
      }
    }
  });
  it('wrong key lengths are HANDSHAKE_MALFORMED', () => {
    expect(() => x25519SharedSecret(new Uint8Array(31), new Uint8Array(32))).toThrow(expect.objectContaining({ code: 'HANDSHAKE_MALFORMED' }));
    expect(() => x25519SharedSecret(new Uint8Array(32), new Uint8Array(33))).toThrow(SessionError);
    expect(() => x25519KeyPairFromSecret(new Uint8Array(16))).toThrow(expect.objectContaining({ code: 'HANDSHAKE_MALFORMED' }));
  });
  it('both sides of an exchange agree', () => {
    const a = x25519KeyPairFromSecret(new Uint8Array(32).fill(1));
    const b = x25519KeyPairFromSecret(new Uint8Array(32).fill(2));
    expect(x25519SharedSecret(a.secretKey, b.publicKey)).toEqual(x25519SharedSecret(b.secretKey, a.publicKey));
  });
});

describe('deriveSessionKeys', () => {
  const shared = new Uint8Array(32).fill(0x11);
  const th = new Uint8Array(64).fill(0x22);
  it('is SHA-512 of label ‖ 0x00 ‖ dir ‖ shared ‖ transcript hash, first 32 bytes', () => {
    const keys = deriveSessionKeys(shared, th);
    const input = sessionKeyInput('h2t', shared, th);
    expect(new TextDecoder().decode(input.subarray(0, 26))).toBe('unicard/v1/session-key\u0000h2t');
    expect(input).toHaveLength(22 + 1 + 3 + 32 + 64);
    expect(keys.h2t).toEqual(sha512(input).slice(0, 32));
    expect(keys.t2h).toEqual(nacl.hash(sessionKeyInput('t2h', shared, th)).slice(0, 32));
    expect(keys.h2t).not.toEqual(keys.t2h);
  });
  it('refuses wrong lengths', () => {
    expect(() => deriveSessionKeys(shared.subarray(1), th)).toThrow(expect.objectContaining({ code: 'HANDSHAKE_MALFORMED' }));
    expect(() => deriveSessionKeys(shared, th.subarray(1))).toThrow(expect.objectContaining({ code: 'HANDSHAKE_MALFORMED' }));
  });
});
