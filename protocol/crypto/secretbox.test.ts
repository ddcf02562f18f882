import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { fuzzRuns } from '../../test/support/fuzz.js';
import { fastestSecretBox, SECRETBOX_TAG_LENGTH, SodiumSecretBox, tweetnaclSecretBox, type SecretBox } from './secretbox.js';

const sodium = SodiumSecretBox.create();
const key = new Uint8Array(32).fill(0x42);
const nonce = new Uint8Array(24).fill(0x07);

function sealWith(box: SecretBox, m: Uint8Array, n = nonce, k = key): Uint8Array {
  const out = new Uint8Array(m.length + SECRETBOX_TAG_LENGTH);
  box.seal(out, m, n, k);
  return out;
}

describe('secretbox', () => {
  it('libsodium loads here and is the fastest', () => {
    expect(sodium?.name).toBe('libsodium');
    expect(fastestSecretBox().name).toBe('libsodium');
  });

  it('falls back to tweetnacl in a process where the addon cannot load, and a session still round-trips', () => {
    const code = `const { fastestSecretBox } = await import('./protocol/crypto/secretbox.ts'); const { SealedChannel } = await import('./protocol/crypto/sealed-channel.ts'); const keys = { h2t: new Uint8Array(32).fill(1), t2h: new Uint8Array(32).fill(2) }; const h = new SealedChannel('host', keys); const t = new SealedChannel('terminal', keys); const m = t.open(h.seal(new Uint8Array([5, 6, 7]))); console.log(JSON.stringify({ name: fastestSecretBox().name, m: [...m] }));`;
    const out = execFileSync(process.execPath, ['--require', fileURLToPath(new URL('../../test/support/no-sodium.cjs', import.meta.url)), '--import', 'tsx', '--input-type=module', '-e', code], { cwd: fileURLToPath(new URL('../../', import.meta.url)), encoding: 'utf8', timeout: 30_000 });
    expect(JSON.parse(out.trim())).toEqual({ name: 'tweetnacl', m: [5, 6, 7] });
  });

  it('both implementations are nacl.secretbox, byte for byte, and open each other (property)', () => {
    const s = sodium as SodiumSecretBox;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 24, maxLength: 24 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (m, n, k) => {
        const reference = nacl.secretbox(m, n, k);
        const a = sealWith(tweetnaclSecretBox, m, n, k);
        const b = sealWith(s, m, n, k);
        expect(a).toEqual(reference);
        expect(b).toEqual(reference);
        for (const box of [tweetnaclSecretBox, s]) {
          const out = new Uint8Array(m.length);
          expect(box.open(out, b, n, k)).toBe(true);
          expect(out).toEqual(m);
        }
      }),
      { numRuns: fuzzRuns(300) },
    );
  });

  it.each([tweetnaclSecretBox, sodium as SecretBox])('$name refuses a box with any byte changed, or under another key or nonce', (box) => {
    const m = new TextEncoder().encode('20 loaves');
    const sealed = sealWith(box, m);
    const out = new Uint8Array(m.length);
    for (let i = 0; i < sealed.length; i++) {
      const bad = new Uint8Array(sealed);
      bad[i] = (bad[i] as number) ^ 0x01;
      expect(box.open(out, bad, nonce, key)).toBe(false);
    }
    expect(box.open(out, sealed, nonce, new Uint8Array(32).fill(0x43))).toBe(false);
    expect(box.open(out, sealed, new Uint8Array(24), key)).toBe(false);
    expect(box.open(out, sealed, nonce, key)).toBe(true);
    expect(out).toEqual(m);
  });

  it.each([tweetnaclSecretBox, sodium as SecretBox])('$name seals and opens an empty message (the tag alone)', (box) => {
    const sealed = sealWith(box, new Uint8Array(0));
    expect(sealed).toHaveLength(SECRETBOX_TAG_LENGTH);
    expect(box.open(new Uint8Array(0), sealed, nonce, key)).toBe(true);
  });
});
