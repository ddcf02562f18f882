import { describe, expect, it } from 'vitest';
import { parseOpensslSpeed } from '../../bench/protocol-bench.js';

describe('parseOpensslSpeed', () => {
  it('reads verify/s, the last column of the Ed25519 line of openssl speed (OpenSSL 3.0 layout)', () => {
    const out = [
      'Doing 253 bits sign Ed25519 ops for 3s: 64824 253 bits Ed25519 signs in 3.00s',
      'Doing 253 bits verify Ed25519 ops for 3s: 23850 253 bits Ed25519 verify in 3.00s',
      'version: 3.0.19',
      '                              sign    verify    sign/s verify/s',
      ' 253 bits EdDSA (Ed25519)   0.0000s   0.0001s  21608.1   7950.2',
      '',
    ].join('\n');
    expect(parseOpensslSpeed(out)).toBe(7950.2);
  });
  it('gives undefined when there is no Ed25519 result line', () => {
    expect(parseOpensslSpeed('')).toBeUndefined();
    expect(parseOpensslSpeed('speed: Unknown algorithm ed25519\n')).toBeUndefined();
    expect(parseOpensslSpeed(' 253 bits EdDSA (Ed25519)   0.0000s   0.0001s  21608.1   nan\n')).toBeUndefined();
  });
});
