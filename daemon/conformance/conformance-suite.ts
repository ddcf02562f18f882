/**
 * The conformance suite: the protocol's rules run against any terminal over any stream link
 * (serial port or TCP). Each check sends what the rule is about, watches what comes back,
 * and records PASS, FAIL or SKIP with the evidence (bytes sent and received, codes seen).
 *
 * Order matters and is fixed: the checks that need a terminal without a session (raw
 * frames, hostile CBOR) run first; then a handshake; then the sealed checks, the card and
 * holder checks, and the firmware update path. A check that needs another check's outcome
 * (every check needs a frame to be answered at all) is SKIPped, naming it, when that one
 * did not pass, so a terminal that breaks one rule fails that rule and not twenty others.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Link } from '../../link/link.js';
import { UnicardError } from '../../protocol/errors.js';
import { cobsDecode, cobsEncode } from '../../protocol/cobs.js';
import { crc32c } from '../../protocol/crc32c.js';
import { Capability, encodeMessage, type GetInfoResult, type Message } from '../../protocol/messages.js';
import { PacketFlags } from '../../protocol/packet.js';
import { parseLink, splitPacket, type Nak } from '../../protocol/segmentation.js';
import { encodeFrame, MAX_FRAME_SIZE_LIMIT } from '../../protocol/stream-framing.js';
import { WireError, wireErrorForCodec, wireErrorName } from '../../protocol/wire-errors.js';
import type { CodecErrorCode } from '../../protocol/errors.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { ANY_MEMBER, buildCardAuthBody, buildHolderVerifyBody, verifyCardAuth, verifyHolderVerify } from '../../protocol/crypto/card-structures.js';
import { parseCardCertificate, verifyCardCertificate, type CardCertificate } from '../../protocol/crypto/certificates.js';
import type { TrustedKeys } from '../../protocol/crypto/signed-structure.js';
import { Service } from '../../protocol/messages.js';
import { TerminalSession, type TrustCallback } from '../session/index.js';
import { decodeFirmwareImage } from '../../firmware-sim/issuer/firmware-image.js';
import { RawProbe, hex, type ProbeItem } from './raw-probe.js';
import { InterceptLink } from './intercept-link.js';
import { HOSTILE_MESSAGE_CASES } from './hostile-cases.js';

/** Outcome of one check. */
export type CheckStatus = 'PASS' | 'FAIL' | 'SKIP';

/** One row of the report. */
export interface CheckResult {
  id: string;
  name: string;
  status: CheckStatus;
  /** What was sent and seen (bytes in hex, codes), or why the check was skipped. */
  evidence: string[];
  durationMs: number;
}

/** The whole run. */
export interface ConformanceReport {
  terminal: { vendor?: string; model?: string; serial?: string; terminalId?: string; firmware?: string; maxFrameSize?: number };
  link: string;
  results: CheckResult[];
  /** What the suite did besides the checks (a restart to clear an old session). */
  notes: string[];
  passed: number;
  failed: number;
  skipped: number;
}

/** What the operator or the simulator can do for the card and holder checks. */
export interface ConformanceHelpers {
  /** The simulator's control socket: `{cmd: "insert", card}`, `{cmd: "finger", finger}`, ... */
  simControl?: (command: Record<string, unknown>) => Promise<Record<string, unknown> & { ok: boolean }>;
  /** Ask the operator to do something at a real terminal; resolves false when they decline. */
  prompt?: (text: string) => Promise<boolean>;
}

/** Options of {@link runConformance}. */
export interface ConformanceOptions extends ConformanceHelpers {
  /** An open link to the terminal (nothing else may use it during the run). */
  link: Link;
  /** Trust decision for the handshake (vendor root, pin, or insecure accept). */
  trust: TrustCallback;
  /** Issuer roots, to check card certificates (optional: the card signature is checked either way). */
  issuerRoots?: TrustedKeys;
  /** A demo world directory (manifest.json with firmware images): enables the firmware checks. */
  firmwareDir?: string;
  /** Card the simulator inserts (default PSD-000001). */
  card?: string;
  /** Run only checks whose id starts with one of these. */
  only?: readonly string[];
  /** Called as each check finishes (for live output). */
  onResult?: (result: CheckResult) => void;
}

/** Every check, in run order: id and name (the table a vendor reads). */
export const CHECKS = [
  ['framing.good-frame', 'a well-formed frame is answered'],
  ['cbor.canonical-responses', "the terminal's messages are canonical CBOR (re-encode byte-identically)"],
  ['framing.bad-crc', 'a frame with a bad CRC-32C is dropped, not answered'],
  ['framing.resync', 'the receiver resynchronises at the next 0x00 after garbage'],
  ['framing.max-size', 'an oversized frame is refused (FRAME_TOO_LARGE) or dropped; the terminal answers after'],
  ['cbor.non-canonical-request', 'a non-canonical request is refused with CBOR_NON_CANONICAL'],
  ['hostile.messages', 'hostile messages are refused with the right wire error codes'],
  ['framing.segments', 'a segmented request is reassembled; a missing segment is NAKed, then the packet completes (when segments are advertised)'],
  ['session.handshake', 'the handshake verifies and the terminal is trusted'],
  ['framing.errors-counted', 'bad frames are counted in Status link counters'],
  ['session.replay-dropped', 'a replayed sealed frame is dropped'],
  ['session.altered-dropped', 'an altered sealed frame is dropped'],
  ['session.clear-refused', 'clear requests after the handshake (other than GetInfo/Ping/Handshake) are not answered'],
  ['exactly-once.same-id', 'the same request id twice gets the same response bytes'],
  ['exactly-once.id-reused', 'the same request id with another body is refused with REQUEST_ID_REUSED'],
  ['keepalive.long-wait', 'a long wait sends Keepalive at most 250 ms apart'],
  ['keepalive.cancel', 'Cancel stops a long wait (Error CANCELLED)'],
  ['card.authenticate', 'the card signature verifies and binds the transaction'],
  ['exactly-once.card-counter', 'a repeated CardAuthenticate advances the card counter once'],
  ['holder.retry-and-match', 'holder verification reports retry statuses, then a signed match'],
  ['holder.final-statuses', 'holder verification ends no_match and timeout, signed'],
  ['firmware.bad-signature', 'an image with a bad signature is refused (FIRMWARE_BAD_SIGNATURE)'],
  ['firmware.downgrade', 'a downgrade is refused (FIRMWARE_DOWNGRADE)'],
  ['firmware.resume', 'an interrupted upload resumes at the offset the terminal holds'],
  ['firmware.rollback', 'a test image not confirmed is rolled back at the next boot'],
] as const;

/** A check id. */
export type CheckId = (typeof CHECKS)[number][0];

/** Checks that run even when `only` leaves them out: the others need them. */
const PREREQUISITES: readonly string[] = ['framing.good-frame', 'cbor.canonical-responses', 'session.handshake'];

/** Keepalive gap the protocol allows during a long wait. */
export const MAX_KEEPALIVE_GAP_MS = 250;
/** Allowance for measuring keepalive gaps at the host (scheduling on both ends, the line). */
export const KEEPALIVE_SLACK_MS = 100;
/** How long the suite waits for an answer that must come. */
const ANSWER_MS = 1500;
/** How long silence must last to count as "not answered". */
const SILENCE_MS = 600;

class Skip extends Error {}
class Fail extends Error {}

const ed = new NodeEd25519();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const describeError = (e: unknown): string => (e instanceof UnicardError ? `${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e));

function describeItem(i: ProbeItem): string {
  if (i.kind === 'error') return `framing error ${i.error.code}`;
  if (i.sealed) return `sealed frame (${i.packet.payload.length} bytes)`;
  if (i.codecError !== undefined) return `undecodable message ${i.codecError.code}: ${hex(i.packet.payload)}`;
  const m = i.message!;
  if (m.type === 'Error') return `Error ${wireErrorName(m.code)} (0x${m.code.toString(16).padStart(2, '0')}) id ${m.id}`;
  return `${m.type} id ${m.id}`;
}

/** The same frame with one byte of its packet payload flipped and a fresh, valid CRC. */
export function alterFrame(wire: Uint8Array): Uint8Array {
  let start = 0;
  while (start < wire.length && wire[start] === 0) start++;
  let end = wire.length;
  while (end > start && wire[end - 1] === 0) end--;
  const body = cobsDecode(wire.subarray(start, end));
  const at = body.length - 5; // last payload byte (the seal's tag), before the CRC
  body[at] = (body[at] ?? 0) ^ 0x01;
  const crc = crc32c(body.subarray(0, body.length - 4));
  body[body.length - 4] = crc & 0xff;
  body[body.length - 3] = (crc >>> 8) & 0xff;
  body[body.length - 2] = (crc >>> 16) & 0xff;
  body[body.length - 1] = (crc >>> 24) & 0xff;
  const enc = cobsEncode(body);
  const out = new Uint8Array(enc.length + 2);
  out.set(enc, 1);
  return out;
}

/** Runs the suite; never throws for a terminal's misbehaviour (that is a FAIL row). */
export async function runConformance(options: ConformanceOptions): Promise<ConformanceReport> {
  const results: CheckResult[] = [];
  const status = new Map<string, CheckStatus>();
  const intercept = new InterceptLink(options.link);
  const probe = new RawProbe(options.link);
  const report: ConformanceReport = { terminal: {}, link: `${options.link.info.kind} ${options.link.info.path}`, results, notes: [], passed: 0, failed: 0, skipped: 0 };
  let info: GetInfoResult | undefined;
  let session: TerminalSession | undefined;
  let card: CardCertificate | undefined;
  let insertedCard = false;
  const names = new Map<string, string>(CHECKS.map(([id, name]) => [id, name]));

  const run = async (id: CheckId, needs: readonly CheckId[], body: (ev: string[]) => Promise<void>): Promise<void> => {
    // The checks every other check needs always run.
    if (options.only !== undefined && !PREREQUISITES.includes(id) && !options.only.some((p) => id.startsWith(p))) return;
    const ev: string[] = [];
    const started = performance.now();
    let result: CheckStatus;
    const missing = needs.find((n) => status.get(n) !== 'PASS');
    if (missing !== undefined) {
      result = 'SKIP';
      ev.push(`needs ${missing} (${status.get(missing) ?? 'not run'})`);
    } else {
      try {
        await body(ev);
        result = 'PASS';
      } catch (e) {
        if (e instanceof Skip) {
          result = 'SKIP';
          ev.push(e.message);
        } else {
          result = 'FAIL';
          ev.push(e instanceof Fail ? e.message : `unexpected: ${describeError(e)}`);
        }
      }
    }
    status.set(id, result);
    const r: CheckResult = { id, name: names.get(id) ?? id, status: result, evidence: ev, durationMs: Math.round(performance.now() - started) };
    results.push(r);
    options.onResult?.(r);
  };

  /** Sends a clear request frame; resolves with the answer item (or undefined). */
  const clearRequest = async (message: Message, ev: string[], timeoutMs = ANSWER_MS): Promise<Extract<ProbeItem, { kind: 'frame' }> | undefined> => {
    const { wire } = probe.messageFrame(message);
    const mark = probe.mark();
    ev.push(`sent ${message.type} id ${message.id}: ${hex(wire)}`);
    await probe.send(wire);
    const answer = await probe.answerTo(mark, message.id, timeoutMs);
    if (answer !== undefined) ev.push(`received ${describeItem(answer)}: ${hex(answer.packet.payload)}`);
    return answer;
  };
  const pingAnswered = async (ev: string[], what: string): Promise<void> => {
    const id = probe.nextId();
    const a = await clearRequest({ type: 'Ping', id, data: new Uint8Array([0xc0, 0xff, 0xee]) } as Message, ev);
    if (a?.message?.type !== 'PingResult') throw new Fail(`${what}: a good Ping was not answered afterwards`);
  };

  // ---------------------------------------------------------------- raw, before the session
  let firstAnswer: Extract<ProbeItem, { kind: 'frame' }> | undefined;
  await run('framing.good-frame', [], async (ev) => {
    // A first 0x00 flushes whatever a boot banner left in the terminal's receive buffer.
    await probe.send(new Uint8Array([0]));
    const id = probe.nextId();
    const { wire } = probe.messageFrame({ type: 'GetInfo', id } as Message);
    const mark = probe.mark();
    ev.push(`sent GetInfo id ${id}: ${hex(wire)}`);
    await probe.send(wire);
    const got = await probe.waitFor(mark, (i) => i.kind === 'frame' && !i.sealed, ANSWER_MS);
    const errors = probe.since(mark).filter((i) => i.kind === 'error');
    for (const e of errors.slice(0, 3)) ev.push(`received ${describeItem(e)}`);
    if (got === undefined || got.kind !== 'frame') throw new Fail(`no intact frame came back within ${ANSWER_MS} ms${errors.length > 0 ? ` (${errors.length} bad frames instead)` : ''}`);
    firstAnswer = got;
    ev.push(`received frame: ${hex(got.packet.payload)}`);
    if (got.message !== undefined && got.message.type === 'GetInfoResult') info = got.message;
  });

  await run('cbor.canonical-responses', ['framing.good-frame'], async (ev) => {
    const a = firstAnswer!;
    if (a.codecError !== undefined) throw new Fail(`the GetInfoResult does not decode: ${a.codecError.code}: ${a.codecError.message}; bytes ${hex(a.packet.payload, 64)}`);
    const again = encodeMessage(a.message!);
    if (Buffer.compare(Buffer.from(again), Buffer.from(a.packet.payload)) !== 0) {
      throw new Fail(`re-encoding differs: received ${hex(a.packet.payload)}, canonical ${hex(again)}`);
    }
    if (info === undefined) throw new Fail(`GetInfo was answered with ${a.message!.type}`);
    ev.push(`GetInfoResult ${hex(a.packet.payload)} re-encodes byte-identically`);
    ev.push(`terminal ${info.vendor} ${info.model} serial ${info.serial} id ${info.terminalId} firmware ${info.firmwareVersion.join('.')} maxFrameSize ${info.maxFrameSize}`);
    report.terminal = {
      vendor: info.vendor,
      model: info.model,
      serial: info.serial,
      terminalId: info.terminalId,
      firmware: info.firmwareVersion.join('.'),
      maxFrameSize: info.maxFrameSize,
    };
  });
  const base: CheckId[] = ['framing.good-frame', 'cbor.canonical-responses'];

  // One session object for the whole run (it only listens until asked to do something).
  const sealedWrites: Uint8Array[][] = [];
  /** Message bytes received per request id (as decrypted), for the exactly-once checks. */
  const received = new Map<number, Uint8Array[]>();
  session = new TerminalSession(intercept, {
    trust: options.trust,
    closeWhenUnresponsive: false,
    trace: (dir, item, bytes, t) => {
      if (dir === 'tx' && t.sealed && t.wire !== undefined) sealedWrites.push(t.wire.map((w) => new Uint8Array(w)));
      if (dir === 'rx' && !(item instanceof UnicardError) && item.type !== 'Keepalive') {
        const list = received.get(t.requestId) ?? [];
        list.push(new Uint8Array(bytes));
        received.set(t.requestId, list);
      }
    },
  });

  // The clear-phase checks need a terminal without a session (a terminal with one drops
  // clear packets, as it must). A clear Status tells: SESSION_REQUIRED means none. When a
  // previous host left a session behind, restart the terminal once.
  if (status.get('cbor.canonical-responses') === 'PASS') {
    const mark = probe.mark();
    const id = probe.nextId();
    await probe.send(probe.messageFrame({ type: 'Status', id } as Message).wire);
    const a = await probe.answerTo(mark, id, SILENCE_MS);
    if (a === undefined) {
      report.notes.push('the terminal had a session from an earlier host (a clear Status went unanswered): restarted it with Reboot');
      try {
        await session.getInfo();
        await session.handshake();
        const booted = new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 15_000);
          const off = session!.onBanner(() => {
            clearTimeout(timer);
            off();
            resolve();
          });
        });
        await session.request({ type: 'Reboot', mode: 'normal' });
        await booted;
        await sleep(200);
        await probe.send(new Uint8Array([0]));
      } catch (e) {
        report.notes.push(`the restart failed: ${describeError(e)}`);
      }
    }
  }

  let badFramesSent = 0;
  await run('framing.bad-crc', base, async (ev) => {
    const id = probe.nextId();
    const wire = probe.frameOf(encodeMessage({ type: 'Ping', id } as Message));
    // Flip a bit of the CRC: decode the COBS body, damage the last byte, re-encode.
    const bad = new Uint8Array(wire);
    const body = cobsDecode(bad.subarray(1, bad.length - 1));
    body[body.length - 1] = (body[body.length - 1] ?? 0) ^ 0x5a;
    const enc = cobsEncode(body);
    const frame = new Uint8Array(enc.length + 2);
    frame.set(enc, 1);
    ev.push(`sent Ping id ${id} with a bad CRC: ${hex(frame)}`);
    const mark = probe.mark();
    await probe.send(frame);
    badFramesSent++;
    await sleep(SILENCE_MS);
    const answers = probe.framesSince(mark);
    if (answers.length > 0) throw new Fail(`answered a frame with a bad CRC: ${answers.map(describeItem).join('; ')}`);
    ev.push(`nothing came back in ${SILENCE_MS} ms`);
    await pingAnswered(ev, 'after the bad CRC');
  });

  await run('framing.resync', base, async (ev) => {
    const garbage = new Uint8Array([0x13, 0x37, 0xde, 0xad, 0xbe, 0xef, 0x55, 0xaa, 0x01, 0x02, 0x03]);
    ev.push(`sent garbage ${hex(garbage)} (no delimiter), then a Ping with a leading 0x00`);
    await probe.send(garbage);
    badFramesSent++;
    await pingAnswered(ev, 'after garbage');
  });

  await run('framing.max-size', base, async (ev) => {
    const max = info!.maxFrameSize;
    const id = probe.nextId();
    // A Ping whose frame body is one byte over the terminal's limit (its CBOR need not be valid:
    // the size is checked before anything is decoded).
    const head = encodeMessage({ type: 'Ping', id } as Message);
    const payload = new Uint8Array(max + 1 - 7);
    payload.set(head.subarray(0, Math.min(head.length, payload.length)));
    const wire = probe.frameOf(payload);
    ev.push(`sent a ${max + 1}-byte frame body (terminal limit ${max}): ${hex(wire, 16)}`);
    const mark = probe.mark();
    await probe.send(wire);
    badFramesSent++;
    await sleep(SILENCE_MS);
    const back = probe.framesSince(mark);
    for (const b of back) {
      const m = b.message;
      if (m?.type === 'Error' && m.code === WireError.FRAME_TOO_LARGE) ev.push(`received Error FRAME_TOO_LARGE id ${m.id}`);
      else throw new Fail(`an oversized frame got ${describeItem(b)} (expected FRAME_TOO_LARGE or nothing)`);
    }
    if (back.length === 0) ev.push('dropped silently');
    await pingAnswered(ev, 'after the oversized frame');
  });

  await run('cbor.non-canonical-request', base, async (ev) => {
    const id = probe.nextId();
    // GetInfo with the type written as 18 01 (a 1-byte argument for 1): same value, not shortest.
    const payload = new Uint8Array([0xa2, 0x00, 0x18, 0x01, 0x01, 0x1a, (id >>> 24) & 0xff, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]);
    const wire = probe.frameOf(payload);
    ev.push(`sent non-canonical GetInfo ${hex(payload)}`);
    const mark = probe.mark();
    await probe.send(wire);
    const got = await probe.waitFor(mark, (i) => i.kind === 'frame' && !i.sealed, ANSWER_MS);
    if (got === undefined || got.kind !== 'frame') throw new Fail('no answer (expected Error CBOR_NON_CANONICAL)');
    ev.push(`received ${describeItem(got)}`);
    const m = got.message;
    if (m?.type !== 'Error' || m.code !== WireError.CBOR_NON_CANONICAL) throw new Fail(`expected Error CBOR_NON_CANONICAL, got ${describeItem(got)}`);
  });

  await run('hostile.messages', base, async (ev) => {
    const wrong: string[] = [];
    const seen = new Map<string, number>();
    for (const c of HOSTILE_MESSAGE_CASES) {
      const expected = WireError[wireErrorForCodec(c.error as CodecErrorCode)];
      const payload = new Uint8Array(Buffer.from(c.hex, 'hex'));
      const mark = probe.mark();
      await probe.send(probe.frameOf(payload));
      const got = await probe.waitFor(mark, (i) => i.kind === 'frame' && !i.sealed && i.message?.type === 'Error', ANSWER_MS);
      const m = got?.kind === 'frame' ? got.message : undefined;
      if (m?.type !== 'Error') wrong.push(`${c.name}: no Error (expected ${wireErrorName(expected)})`);
      else if (m.code !== expected) wrong.push(`${c.name}: ${wireErrorName(m.code)}, expected ${wireErrorName(expected)}`);
      else if (m.id !== c.requestId && m.id !== 0) wrong.push(`${c.name}: Error for id ${m.id}, expected ${c.requestId} or 0`);
      else seen.set(wireErrorName(m.code), (seen.get(wireErrorName(m.code)) ?? 0) + 1);
    }
    if (wrong.length > 0) throw new Fail(`${wrong.length} of ${HOSTILE_MESSAGE_CASES.length} cases wrong: ${wrong.join('; ')}`);
    ev.push(`${HOSTILE_MESSAGE_CASES.length} cases from test/vectors/hostile-cbor.json, all refused with the right code: ${[...seen].map(([k, n]) => `${k} ×${n}`).join(', ')}`);
  });

  await run('framing.segments', base, async (ev) => {
    if (((info?.capabilities ?? 0) & Capability.segments) === 0) throw new Skip('the terminal does not advertise segments (GetInfoResult.capabilities 0x40); they are optional');
    const id = probe.nextId();
    const data = Uint8Array.from({ length: 150 }, (_, i) => (i * 7 + 1) & 0xff);
    const payload = encodeMessage({ type: 'Ping', id, data } as Message);
    const seq = 0xa5;
    const segments = splitPacket({ flags: 0, seq, payload }, 32);
    const frame = (i: number): Uint8Array => encodeFrame(segments[i]!, { maxFrameSize: MAX_FRAME_SIZE_LIMIT, leadingDelimiter: i === 0 });
    const mark = probe.mark();
    for (let i = 0; i < segments.length; i++) if (i !== 1) await probe.send(frame(i));
    ev.push(`sent a clear Ping id ${id} (${payload.length} bytes) as ${segments.length} segments of 32 bytes, seq ${seq}, all but segment 1: ${hex(frame(0), 24)}`);
    const got = await probe.waitFor(mark, (i) => i.kind === 'frame' && i.packet.flags === PacketFlags.LINK, ANSWER_MS);
    if (got?.kind !== 'frame') throw new Fail(`no NAK within ${ANSWER_MS} ms: a terminal that advertises segments NAKs a transfer that stops with segments missing`);
    let nak: Nak | undefined;
    try {
      nak = parseLink(got.packet.payload);
    } catch (e) {
      throw new Fail(`a malformed NAK ${hex(got.packet.payload)}: ${describeError(e)}`);
    }
    ev.push(`received NAK ${hex(got.packet.payload)}`);
    if (nak?.seq !== seq || nak.count !== segments.length || nak.missing.join(',') !== '1') {
      throw new Fail(`the NAK must name segment 1 of the ${segments.length} of transfer ${seq}; it names ${JSON.stringify(nak)}`);
    }
    const mark2 = probe.mark();
    await probe.send(frame(1));
    const a = await probe.answerTo(mark2, id, ANSWER_MS);
    if (a?.message?.type !== 'PingResult') throw new Fail(`after segment 1 came, no PingResult for id ${id}${a === undefined ? '' : `: ${describeItem(a)}`}`);
    if (Buffer.compare(Buffer.from(a.message.data ?? []), Buffer.from(data)) !== 0) throw new Fail(`the PingResult data differs from what was sent: ${hex(a.message.data ?? new Uint8Array(0), 32)}`);
    ev.push(`received PingResult id ${id} with the ${data.length} bytes`);
  });

  // ---------------------------------------------------------------- the session
  await run('session.handshake', base, async (ev) => {
    await session!.getInfo();
    const h = await session!.handshake();
    ev.push(`device certificate ${h.device.terminalId} (${h.device.vendor} ${h.device.model}) ${h.decision}`);
    ev.push(`transcript hash ${hex(h.transcriptHash)}`);
    const pong = await session!.ping(new Uint8Array([1, 2, 3]));
    ev.push(`sealed Ping answered in ${pong.rttMs.toFixed(1)} ms`);
  });
  const sealed: CheckId[] = [...base, 'session.handshake'];

  await run('framing.errors-counted', sealed, async (ev) => {
    const st = await session!.request({ type: 'Status' });
    ev.push(`Status link: rxFrames ${st.link.rxFrames}, rxBadFrames ${st.link.rxBadFrames}, rxRejected ${st.link.rxRejected}; bad frames sent ${badFramesSent}`);
    if (st.link.rxBadFrames < Math.min(badFramesSent, 1)) throw new Fail(`rxBadFrames ${st.link.rxBadFrames} after ${badFramesSent} bad frames`);
  });

  await run('session.replay-dropped', sealed, async (ev) => {
    const before = sealedWrites.length;
    await session!.ping(new Uint8Array([9]));
    const wire = sealedWrites[before]?.[0];
    if (wire === undefined) throw new Fail('the sealed Ping was not traced');
    const mark = probe.mark();
    ev.push(`replayed the sealed Ping frame ${hex(wire)}`);
    await probe.send(wire);
    await sleep(SILENCE_MS);
    const back = probe.framesSince(mark);
    if (back.length > 0) throw new Fail(`the replayed frame was answered: ${back.map(describeItem).join('; ')}`);
    ev.push(`nothing came back in ${SILENCE_MS} ms`);
    ev.push(`a fresh sealed Ping: ${(await session!.ping()).rttMs.toFixed(1)} ms`);
  });

  await run('session.altered-dropped', sealed, async (ev) => {
    const taken = intercept.takeNextWrite();
    const reply = session!.request({ type: 'Ping', data: new Uint8Array([7, 7]) } as never, { retryAfterMs: 900, maxRetries: 1, timeoutMs: 5000 });
    const wire = await taken;
    const altered = alterFrame(wire);
    ev.push(`sealed Ping ${hex(wire)} sent altered (one byte of the record flipped, CRC fixed): ${hex(altered)}`);
    const mark = probe.mark();
    await probe.send(altered);
    await sleep(400);
    const back = probe.framesSince(mark);
    if (back.length > 0) {
      void reply.catch(() => {});
      throw new Fail(`the altered frame was answered: ${back.map(describeItem).join('; ')}`);
    }
    ev.push('nothing came back in 400 ms; now the original bytes');
    await probe.send(wire);
    await reply;
    ev.push('the unaltered frame was answered');
  });

  await run('session.clear-refused', sealed, async (ev) => {
    const id = probe.nextId();
    const a = await clearRequest({ type: 'Status', id } as Message, ev, SILENCE_MS);
    if (a !== undefined) throw new Fail(`a clear Status after the handshake was answered: ${describeItem(a)}`);
    ev.push(`no answer in ${SILENCE_MS} ms`);
    const g = await clearRequest({ type: 'GetInfo', id: probe.nextId() } as Message, ev);
    if (g?.message?.type !== 'GetInfoResult') throw new Fail('a clear GetInfo after the handshake was not answered (it is allowed in clear)');
  });

  await run('exactly-once.same-id', sealed, async (ev) => {
    const s = session!;
    const id = probe.nextId();
    const unixMs = Date.now() - 3_600_000;
    const first = await s.request({ type: 'SetTime', unixMs }, { id });
    const second = await s.request({ type: 'SetTime', unixMs }, { id });
    const rx = received.get(id) ?? [];
    if (rx.length !== 2) throw new Fail(`expected two answers to id ${id}, saw ${rx.length}`);
    await s.request({ type: 'SetTime', unixMs: Date.now() });
    ev.push(`SetTime id ${id} twice: ${hex(rx[0]!)} / ${hex(rx[1]!)}`);
    if (Buffer.compare(Buffer.from(rx[0]!), Buffer.from(rx[1]!)) !== 0) {
      throw new Fail(`the repeated request was executed again (previousUnixMs ${first.previousUnixMs} then ${second.previousUnixMs})`);
    }
  });

  await run('exactly-once.id-reused', sealed, async (ev) => {
    const s = session!;
    const id = probe.nextId();
    await s.request({ type: 'SetTime', unixMs: Date.now() }, { id });
    try {
      const r = await s.request({ type: 'SetTime', unixMs: Date.now() + 1000 }, { id });
      throw new Fail(`another body under id ${id} was executed: ${JSON.stringify(r)}`);
    } catch (e) {
      if (e instanceof Fail) throw e;
      if (!(e instanceof UnicardError) || e.code !== 'REQUEST_ID_REUSED') throw new Fail(`expected REQUEST_ID_REUSED, got ${describeError(e)}`);
      ev.push(`id ${id} with another SetTime body: ${e.code}`);
    }
  });

  /** A request that waits: CardWait without a card, else VerifyHolder with no finger. */
  const longWait = async (timeoutMs: number): Promise<Message> => {
    const st = await session!.request({ type: 'Status' });
    if (!st.cardPresent) return { type: 'CardWait', id: 0, timeoutMs } as Message;
    return { type: 'VerifyHolder', id: 0, nonce: new Uint8Array(randomBytes(32)), member: null, timeoutMs, maxAttempts: 1 } as Message;
  };

  await run('keepalive.long-wait', sealed, async (ev) => {
    const s = session!;
    const wait = await longWait(1500);
    const stamps: number[] = [];
    const statuses = new Set<string>();
    const t0 = performance.now();
    let outcome: string;
    try {
      const { id: _id, ...body } = wait as Message & { id: number };
      await s.request(body as never, { retryAfterMs: 5000, maxRetries: 0, timeoutMs: 4000, onKeepalive: (k) => (stamps.push(performance.now()), statuses.add(k.status)) });
      outcome = 'a result';
    } catch (e) {
      outcome = describeError(e);
    }
    const end = performance.now();
    const points = [t0, ...stamps, end];
    let gap = 0;
    for (let i = 1; i < points.length; i++) gap = Math.max(gap, points[i]! - points[i - 1]!);
    ev.push(`${wait.type} for 1500 ms: ${stamps.length} Keepalive (${[...statuses].join(', ') || 'none'}), largest gap ${gap.toFixed(0)} ms; ended with ${outcome}`);
    await sleep(300); // let a late answer pass before the next check
    if (stamps.length === 0) throw new Fail('no Keepalive during the wait');
    // Measured on arrival at the host: allow for scheduling on both ends and the line.
    if (gap > MAX_KEEPALIVE_GAP_MS + KEEPALIVE_SLACK_MS) throw new Fail(`a gap of ${gap.toFixed(0)} ms (at most ${MAX_KEEPALIVE_GAP_MS} ms allowed, +${KEEPALIVE_SLACK_MS} ms for measuring at the host)`);
  });

  await run('keepalive.cancel', sealed, async (ev) => {
    const s = session!;
    const wait = await longWait(10_000);
    const { id: _id, ...body } = wait as Message & { id: number };
    const controller = new AbortController();
    const p = s.request(body as never, { signal: controller.signal, timeoutMs: 12_000 });
    await sleep(300);
    const t = performance.now();
    controller.abort();
    try {
      await p;
      throw new Fail(`${wait.type} finished instead of being cancelled`);
    } catch (e) {
      if (e instanceof Fail) throw e;
      if (!(e instanceof UnicardError) || e.code !== 'CANCELLED') throw new Fail(`expected CANCELLED, got ${describeError(e)}`);
      ev.push(`${wait.type} cancelled after 300 ms: ${e.code} in ${(performance.now() - t).toFixed(0)} ms`);
    }
    await sleep(200);
    ev.push(`the terminal answers after: Ping ${(await s.ping()).rttMs.toFixed(1)} ms`);
  });

  // ---------------------------------------------------------------- card and holder
  const needCard = async (): Promise<void> => {
    const s = session!;
    const st = await s.request({ type: 'Status' });
    if (st.cardPresent) return;
    if (options.simControl !== undefined) {
      const r = await options.simControl({ cmd: 'insert', card: options.card ?? 'PSD-000001' });
      if (!r.ok) throw new Skip(`the simulator could not insert a card: ${JSON.stringify(r.error)}`);
      insertedCard = true;
      return;
    }
    if (options.prompt !== undefined && (await options.prompt('Insert a test card into the terminal, then press Enter (or type "skip")'))) return;
    throw new Skip('no card in the slot: insert one (a real terminal asks the operator; the simulator needs --sim-control)');
  };

  let txFields: { nonce: Uint8Array; service: 'bread'; quantity: number; shopId: string; terminalId: string; time: number } | undefined;
  await run('card.authenticate', sealed, async (ev) => {
    await needCard();
    const s = session!;
    const waited = await s.request({ type: 'CardWait', timeoutMs: 30_000 });
    card = options.issuerRoots !== undefined ? verifyCardCertificate(waited.cardCertificate, options.issuerRoots, Math.floor(Date.now() / 1000), ed) : parseCardCertificate(waited.cardCertificate);
    ev.push(`card ${card.cardId}${options.issuerRoots !== undefined ? ' (certificate verifies under the issuer root)' : ' (certificate parsed; no issuer root given)'}`);
    txFields = { nonce: new Uint8Array(randomBytes(32)), service: 'bread', quantity: 5, shopId: 'CONFORMANCE', terminalId: info!.terminalId, time: Math.floor(Date.now() / 1000) };
    const r = await s.request({ type: 'CardAuthenticate', ...txFields });
    const fields = { ...txFields, service: Service.values.bread, cardId: card.cardId, counter: r.counter };
    const body = buildCardAuthBody(fields);
    verifyCardAuth(ed, card.subjectPublicKey, { body, signature: r.signature }, txFields.nonce);
    ev.push(`CardAuthenticate counter ${r.counter}, signature ${hex(r.signature, 16)} verifies over nonce + transaction`);
    const tamper = (changed: object): boolean => {
      try {
        verifyCardAuth(ed, card!.subjectPublicKey, { body: buildCardAuthBody({ ...fields, ...changed }), signature: r.signature }, txFields!.nonce);
        return true;
      } catch {
        return false;
      }
    };
    for (const [what, changed] of [
      ['quantity 6', { quantity: 6 }],
      ['another shop', { shopId: 'OTHER' }],
      ['another counter', { counter: r.counter + 1 }],
    ] as const) {
      if (tamper(changed)) throw new Fail(`the signature also verifies with ${what}: it does not bind the transaction`);
    }
    ev.push('the signature fails with quantity 6, another shop, another counter');
    if (Buffer.compare(Buffer.from(r.cardCertificate), Buffer.from(waited.cardCertificate)) !== 0) throw new Fail('CardAuthenticate returned another card certificate');
  });

  await run('exactly-once.card-counter', [...sealed, 'card.authenticate'], async (ev) => {
    const s = session!;
    const id = probe.nextId();
    const tx = { ...txFields!, nonce: new Uint8Array(randomBytes(32)) };
    const a = await s.request({ type: 'CardAuthenticate', ...tx }, { id });
    const b = await s.request({ type: 'CardAuthenticate', ...tx }, { id });
    const c = await s.request({ type: 'CardAuthenticate', ...tx, nonce: new Uint8Array(randomBytes(32)) });
    ev.push(`id ${id} twice: counter ${a.counter} then ${b.counter}; a new id: counter ${c.counter}`);
    if (b.counter !== a.counter || Buffer.compare(Buffer.from(a.signature), Buffer.from(b.signature)) !== 0) throw new Fail('the repeated CardAuthenticate was executed again');
    if (c.counter !== a.counter + 1) throw new Fail(`the next authentication has counter ${c.counter}, expected ${a.counter + 1}`);
  });

  const verifyHolder = async (member: number | null, maxAttempts: number, timeoutMs: number, statuses: string[]) => {
    const nonce = new Uint8Array(randomBytes(32));
    const r = await session!.request({ type: 'VerifyHolder', nonce, member, timeoutMs, maxAttempts }, { onKeepalive: (k) => statuses.push(k.status), timeoutMs: timeoutMs + 5000 });
    const body = buildHolderVerifyBody({ nonce, cardId: card!.cardId, memberIndex: r.member ?? member ?? ANY_MEMBER, result: r.result, attempts: r.attemptsUsed });
    verifyHolderVerify(ed, card!.subjectPublicKey, { body, signature: r.signature }, nonce);
    return r;
  };

  await run('holder.retry-and-match', [...sealed, 'card.authenticate'], async (ev) => {
    const statuses: string[] = [];
    if (options.simControl !== undefined) {
      for (const finger of ['not_centred', 0]) await options.simControl({ cmd: 'finger', finger });
      const r = await verifyHolder(null, 3, 20_000, statuses);
      ev.push(`keepalive statuses: ${statuses.join(', ')}; result ${r.result} member ${r.member} attempts ${r.attemptsUsed}, signature verifies`);
      if (r.result !== 'match') throw new Fail(`expected match, got ${r.result}`);
      if (!statuses.includes('finger_not_centred')) throw new Fail('the retry status finger_not_centred was not reported by Keepalive');
      return;
    }
    if (options.prompt === undefined || !(await options.prompt('Holder verification: place the finger off-centre once, then properly (press Enter to start)'))) {
      throw new Skip('needs a finger on the sensor: run interactively at a real terminal, or give --sim-control for the simulator');
    }
    const r = await verifyHolder(null, 3, 30_000, statuses);
    ev.push(`keepalive statuses: ${statuses.join(', ')}; result ${r.result}, signature verifies`);
    if (r.result !== 'match') throw new Fail(`expected match, got ${r.result}`);
  });

  await run('holder.final-statuses', [...sealed, 'card.authenticate'], async (ev) => {
    if (options.simControl === undefined) throw new Skip('needs the simulator (--sim-control) to present an unknown finger and no finger');
    await options.simControl({ cmd: 'finger', finger: 'unknown', count: 2 });
    const noMatch = await verifyHolder(0, 2, 20_000, []);
    ev.push(`two unknown fingers: ${noMatch.result}, attempts ${noMatch.attemptsUsed}, signed`);
    if (noMatch.result !== 'no_match') throw new Fail(`expected no_match, got ${noMatch.result}`);
    const timeout = await verifyHolder(0, 1, 600, []);
    ev.push(`no finger for 600 ms: ${timeout.result}, signed`);
    if (timeout.result !== 'timeout') throw new Fail(`expected timeout, got ${timeout.result}`);
  });

  if (insertedCard && options.simControl !== undefined) await options.simControl({ cmd: 'remove' }).catch(() => undefined);

  // ---------------------------------------------------------------- firmware
  let images: Record<'update' | 'downgrade' | 'forged', { header: Uint8Array; body: Uint8Array; version: string }> | undefined;
  const needImages = async (): Promise<NonNullable<typeof images>> => {
    if (images !== undefined) return images;
    if (options.firmwareDir === undefined) throw new Skip('needs test images: --firmware-dir <demo world dir> (unicard issuer demo-world)');
    const manifest = JSON.parse(await readFile(join(options.firmwareDir, 'manifest.json'), 'utf8')) as {
      firmware: Record<string, { file: string; version: number[] }>;
    };
    const load = async (k: 'update' | 'downgrade' | 'forged') => {
      const f = manifest.firmware[k];
      if (f === undefined) throw new Skip(`the manifest has no ${k} image`);
      const img = decodeFirmwareImage(new Uint8Array(await readFile(join(options.firmwareDir!, f.file))));
      return { header: img.header, body: img.body, version: f.version.join('.') };
    };
    images = { update: await load('update'), downgrade: await load('downgrade'), forged: await load('forged') };
    return images;
  };
  const expectRefusal = async (ev: string[], img: { header: Uint8Array; body: Uint8Array }, code: string): Promise<void> => {
    try {
      await session!.request({ type: 'FirmwareBegin', imageHeader: img.header, totalSize: img.body.length });
      throw new Fail(`FirmwareBegin was accepted (expected ${code})`);
    } catch (e) {
      if (e instanceof Fail) throw e;
      if (!(e instanceof UnicardError) || e.code !== code) throw new Fail(`expected ${code}, got ${describeError(e)}`);
      ev.push(`FirmwareBegin refused: ${e.code}`);
    }
  };
  await run('firmware.bad-signature', sealed, async (ev) => expectRefusal(ev, (await needImages()).forged, 'FIRMWARE_BAD_SIGNATURE'));
  await run('firmware.downgrade', sealed, async (ev) => expectRefusal(ev, (await needImages()).downgrade, 'FIRMWARE_DOWNGRADE'));

  const chunkSize = (): number => Math.max(64, Math.min(4096, (info?.maxFrameSize ?? 1024) - 128));
  await run('firmware.resume', sealed, async (ev) => {
    const { update } = await needImages();
    const s = session!;
    const st = await s.request({ type: 'FirmwareStatus' });
    if (st.state === 'testing' || st.state === 'pending') throw new Skip(`the terminal has an update ${st.state}: finish it first`);
    const begin = await s.request({ type: 'FirmwareBegin', imageHeader: update.header, totalSize: update.body.length });
    let offset = begin.resumeOffset;
    const half = Math.floor(update.body.length / 2);
    while (offset < half) {
      offset = (await s.request({ type: 'FirmwareChunk', offset, data: update.body.subarray(offset, Math.min(half, offset + chunkSize())) })).nextOffset;
    }
    ev.push(`uploaded ${offset} of ${update.body.length} bytes of ${update.version}, then began again`);
    const again = await s.request({ type: 'FirmwareBegin', imageHeader: update.header, totalSize: update.body.length });
    ev.push(`resumeOffset ${again.resumeOffset}`);
    if (again.resumeOffset !== offset) throw new Fail(`resumeOffset ${again.resumeOffset}, expected ${offset}`);
  });

  const throughReboot = async (action: () => Promise<unknown>): Promise<string | undefined> => {
    const s = session!;
    const banner = new Promise<string | undefined>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Fail('no boot banner within 20 s after the restart')), 20_000);
      const off = s.onBanner((b) => {
        clearTimeout(timer);
        off();
        resolve(b.firmware);
      });
    });
    await action();
    const fw = await banner;
    await s.getInfo();
    await s.handshake();
    return fw;
  };

  await run('firmware.rollback', [...sealed, 'firmware.resume'], async (ev) => {
    const { update } = await needImages();
    const s = session!;
    const before = await s.request({ type: 'FirmwareStatus' });
    let offset = (await s.request({ type: 'FirmwareBegin', imageHeader: update.header, totalSize: update.body.length })).resumeOffset;
    while (offset < update.body.length) {
      offset = (await s.request({ type: 'FirmwareChunk', offset, data: update.body.subarray(offset, Math.min(update.body.length, offset + chunkSize())) })).nextOffset;
    }
    const fin = await s.request({ type: 'FirmwareFinish' });
    ev.push(`upload complete, FirmwareFinish: ${fin.state}`);
    const testFw = await throughReboot(() => s.request({ type: 'FirmwareActivate' }));
    const testing = await s.request({ type: 'FirmwareStatus' });
    ev.push(`after FirmwareActivate the terminal booted ${testFw ?? '?'}: state ${testing.state}, running ${testing.runningVersion.join('.')}`);
    if (testing.state !== 'testing') throw new Fail(`expected state testing, got ${testing.state}`);
    const back = await throughReboot(() => s.request({ type: 'Reboot', mode: 'normal' }));
    const rolled = await s.request({ type: 'FirmwareStatus' });
    ev.push(`after a reboot without FirmwareConfirm: booted ${back ?? '?'}, state ${rolled.state}, running ${rolled.runningVersion.join('.')}`);
    if (rolled.state !== 'rolled_back') throw new Fail(`expected rolled_back, got ${rolled.state}`);
    if (rolled.runningVersion.join('.') !== before.runningVersion.join('.')) throw new Fail(`running ${rolled.runningVersion.join('.')}, expected ${before.runningVersion.join('.')}`);
  });

  probe.close();
  await session?.close().catch(() => undefined);
  if (session === undefined) await options.link.close().catch(() => undefined);
  for (const r of results) {
    if (r.status === 'PASS') report.passed++;
    else if (r.status === 'FAIL') report.failed++;
    else report.skipped++;
  }
  return report;
}

/** The report as a plain-text table (one row per check, evidence indented below). */
export function formatReport(report: ConformanceReport, options: { evidence?: boolean } = {}): string {
  const lines: string[] = [];
  const t = report.terminal;
  lines.push(`terminal: ${t.vendor ?? '?'} ${t.model ?? '?'} serial ${t.serial ?? '?'} id ${t.terminalId ?? '?'} firmware ${t.firmware ?? '?'} on ${report.link}`);
  const w = Math.max(...report.results.map((r) => r.id.length), 10);
  lines.push(`${'check'.padEnd(w)}  result  name`);
  for (const r of report.results) {
    lines.push(`${r.id.padEnd(w)}  ${r.status.padEnd(6)}  ${r.name}`);
    if (options.evidence !== false || r.status !== 'PASS') for (const e of r.evidence) lines.push(`${' '.repeat(w)}          ${e}`);
  }
  for (const n of report.notes) lines.push(`note: ${n}`);
  lines.push(`${report.passed} passed, ${report.failed} failed, ${report.skipped} skipped`);
  return lines.join('\n');
}
