/**
 * Protocol-layer benchmarks: stream-framing overhead, codec throughput, and Ed25519
 * verification with node:crypto against tweetnacl on the same keys and messages.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { encodeFrame, measureFramingOverhead } from '../protocol/stream-framing.js';
import { decodeMessage, encodeMessage, type Message } from '../protocol/messages.js';
import { fastestEd25519, NodeEd25519, TweetnaclEd25519, type Ed25519 } from '../protocol/crypto/ed25519.js';
import type { BenchRow } from './bench-table.js';

/** Run `fn` repeatedly for about `ms` milliseconds; operations per second. */
function opsPerSecond(fn: () => void, ms: number): number {
  let n = 0;
  const start = process.hrtime.bigint();
  const limit = BigInt(Math.round(ms * 1_000_000));
  let elapsed = 0n;
  while (elapsed < limit) {
    for (let i = 0; i < 16; i++) fn();
    n += 16;
    elapsed = process.hrtime.bigint() - start;
  }
  return n / (Number(elapsed) / 1e9);
}

export function framingRows(): BenchRow[] {
  const rows: BenchRow[] = [];
  for (const size of [64, 256, 1024]) {
    // Random payloads: a sealed record looks random on the wire, and random bytes contain
    // zeros, which is what COBS has to stuff.
    let wire = 0;
    let stuffing = 0;
    const samples = 200;
    for (let i = 0; i < samples; i++) {
      const o = measureFramingOverhead({ flags: 1, seq: i & 0xff, payload: randomBytes(size) });
      wire += o.wireBytes;
      stuffing += o.stuffingBytes;
    }
    const totalPct = ((wire / samples - size) / size) * 100;
    const stuffPct = (stuffing / samples / size) * 100;
    const gated = size >= 256;
    rows.push({
      group: 'framing',
      name: `stream framing, ${size} B payload: stuffing + delimiter`,
      value: stuffPct,
      unit: '%',
      ...(gated ? { target: '≤ 2 %', pass: stuffPct <= 2 } : {}),
      note: 'COBS code bytes + 0x00; base64 lines would cost 33 %',
    });
    rows.push({
      group: 'framing',
      name: `stream framing, ${size} B payload: all overhead`,
      value: totalPct,
      unit: '%',
      note: 'adds the fixed 3-byte header and 4-byte CRC-32C',
    });
  }
  return rows;
}

/** A representative request and result of the authorization path. */
function sampleMessages(): Message[] {
  return [
    {
      type: 'CardAuthenticate',
      id: 0x1234_5678,
      nonce: new Uint8Array(32).fill(7),
      service: 'bread',
      quantity: 20,
      shopId: 'PS-BAKERY-0042',
      terminalId: 'SIM0001',
      time: 1_795_000_000,
    },
    {
      type: 'CardAuthenticateResult',
      id: 0x1234_5678,
      counter: 42,
      signature: new Uint8Array(64).fill(9),
      cardCertificate: new Uint8Array(300).fill(3),
    },
  ];
}

export function codecRows(ms: number): BenchRow[] {
  const msgs = sampleMessages();
  const encoded = msgs.map((m) => encodeMessage(m));
  let k = 0;
  const enc = opsPerSecond(() => {
    encodeMessage(msgs[k++ & 1] as Message);
  }, ms);
  const dec = opsPerSecond(() => {
    decodeMessage(encoded[k++ & 1] as Uint8Array);
  }, ms);
  const frame = opsPerSecond(() => {
    encodeFrame({ flags: 0, seq: 0, payload: encoded[k++ & 1] as Uint8Array });
  }, ms);
  return [
    { group: 'codec', name: 'encode message (canonical CBOR + validation)', value: enc, unit: 'msg/s', note: 'CardAuthenticate and its result, alternating' },
    { group: 'codec', name: 'decode message (canonical check + validation)', value: dec, unit: 'msg/s', note: 'same messages' },
    { group: 'codec', name: 'encode stream frame (COBS + CRC-32C)', value: frame, unit: 'frames/s' },
  ];
}

/**
 * Verifications per second of the OpenSSL library itself (`openssl speed ed25519`, C, one
 * thread), or undefined when the openssl command is not installed. node:crypto calls the
 * same library, so this is the most any node:crypto verify can reach on this CPU.
 */
export function opensslVerifyRate(seconds = 2): number | undefined {
  try {
    const out = execFileSync('openssl', ['speed', '-seconds', String(seconds), 'ed25519'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 });
    return parseOpensslSpeed(out);
  } catch {
    return undefined;
  }
}

/** The verify/s figure of `openssl speed ed25519` output (its last column on the Ed25519 line). */
export function parseOpensslSpeed(out: string): number | undefined {
  const line = out.split('\n').find((l) => /Ed25519/.test(l) && /EdDSA/.test(l));
  const v = Number(line?.trim().split(/\s+/).pop());
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

export function ed25519Rows(ms: number): BenchRow[] {
  // The daemon's implementation (libsodium when its addon loads), node:crypto (its fallback,
  // and DESIGN.md's reference) and tweetnacl (the firmware reference).
  const daemonEd = fastestEd25519();
  const nodeEd = new NodeEd25519();
  const naclEd = new TweetnaclEd25519();
  const fastOnes = daemonEd.name === nodeEd.name ? [daemonEd] : [daemonEd, nodeEd];
  // The same 16 keys and messages for all: Ed25519 is deterministic.
  const cases = Array.from({ length: 16 }, () => {
    const seed = randomBytes(32);
    const msg = randomBytes(120);
    return { pub: nodeEd.publicKeyFromSeed(seed), msg, sig: nodeEd.sign(seed, msg) };
  });
  const verifyFor = (ed: Ed25519, duration: number): { ops: number; seconds: number } => {
    let i = 0;
    let bad = 0;
    const start = process.hrtime.bigint();
    const rate = opsPerSecond(() => {
      const c = cases[i++ & 15]!;
      if (!ed.verify(c.pub, c.msg, c.sig)) bad++;
    }, duration);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (bad > 0) throw new Error(`${ed.name} rejected ${bad} valid signatures`);
    return { ops: rate * seconds, seconds };
  };
  // Warm all up (JIT), then alternate short slices so that all see the same load on a
  // shared machine: the ratio is what matters, and it is measured under equal conditions.
  for (const ed of fastOnes) verifyFor(ed, 100);
  verifyFor(naclEd, 300);
  const totals = new Map<Ed25519, { ops: number; seconds: number }>([...fastOnes, naclEd].map((ed) => [ed, { ops: 0, seconds: 0 }]));
  const rounds = 6;
  for (let r = 0; r < rounds; r++) {
    for (const ed of [...fastOnes, naclEd]) {
      const t = verifyFor(ed, (ed === naclEd ? Math.max(ms, 1500) : ms) / rounds);
      const sum = totals.get(ed)!;
      sum.ops += t.ops;
      sum.seconds += t.seconds;
    }
  }
  const rateOf = (ed: Ed25519): number => totals.get(ed)!.ops / totals.get(ed)!.seconds;
  const slow = rateOf(naclEd);
  const fast = rateOf(daemonEd);
  const nodeRate = rateOf(fastOnes.includes(nodeEd) ? nodeEd : daemonEd);
  const ratio = fast / slow;
  const native = opensslVerifyRate();
  const ceiling: BenchRow[] =
    native === undefined
      ? []
      : [
          {
            group: 'ed25519',
            name: 'verify, OpenSSL native (openssl speed): the ceiling of node:crypto',
            value: native,
            unit: 'sig/s',
            note: `node:crypto measured ${((nodeRate / native) * 100).toFixed(0)} % of it in this run (the same library; the rest is call overhead and timing noise); native / tweetnacl = ${(native / slow).toFixed(0)} ×${native / slow < 100 ? ': no node:crypto verify passes 100 × on this CPU' : ', the most any node:crypto verify can reach here'}`,
          },
        ];
  const nodeRows: BenchRow[] =
    daemonEd.name === nodeEd.name
      ? []
      : [
          { group: 'ed25519', name: 'verify, node:crypto (OpenSSL; the fallback)', value: nodeRate, unit: 'sig/s' },
          { group: 'ed25519', name: 'verify speed-up node:crypto / tweetnacl', value: nodeRate / slow, unit: '×', note: `${daemonEd.name} / node:crypto = ${(fast / nodeRate).toFixed(2)} ×` },
        ];
  return [
    { group: 'ed25519', name: `verify, ${daemonEd.name} (the daemon's)`, value: fast, unit: 'sig/s' },
    ...nodeRows,
    { group: 'ed25519', name: 'verify, tweetnacl (firmware reference)', value: slow, unit: 'sig/s' },
    { group: 'ed25519', name: `verify speed-up, the daemon's (${daemonEd.name}) / tweetnacl`, value: ratio, unit: '×', target: '≥ 100 ×', pass: ratio >= 100, note: 'same keys and messages, alternating slices of one run' },
    ...ceiling,
  ];
}
