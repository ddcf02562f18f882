/**
 * `unicard test`: a technician's check of one reader, with a PASS/FAIL line per part and a
 * summary: link (GetInfo, Ping), trust (handshake), the terminal's own self-test (card slot,
 * sensor, secure element, display...), a card read, a finger capture, and the link error
 * counters of both ends.
 */
import { randomBytes } from 'node:crypto';
import { parseCardCertificate } from '../../protocol/crypto/certificates.js';
import { UnicardError } from '../../protocol/errors.js';
import { TerminalSession } from '../session/index.js';
import { CliError, ExitCode, hasTrust, intOption, jsonText, LINK_OPTIONS, linkTarget, openLink, parseCommand, sessionFailure, trustFrom, type CliIo } from './cli-common.js';
import { refuseIfDaemonHolds } from './daemon-check.js';
import { controlCommand } from './sim-control.js';

export const TEST_USAGE = `usage: unicard test (--port <path> | --tcp <host:port>) --vendor-root <file> [--no-finger] [--sim-control <socket>] [--json]

Tests a reader and prints PASS / FAIL / SKIP per part and a summary:
  link       the terminal answers GetInfo and Ping
  trust      the handshake verifies and the terminal is trusted (needs --vendor-root or a pin)
  self-test  the terminal's own test of card slot, sensor, secure element, display, clock, storage
  card       reads the card in the slot (insert one first; skipped when the slot is empty)
  finger     a finger capture (asks you to place a finger; needs a card; --no-finger skips it)
  counters   link error counters of both ends (bad frames, retries)
Exit 0 when nothing failed, 1 when something did.

example: unicard test --port /dev/ttyUSB0 --vendor-root /etc/unicard/vendor.pub`;

type Status = 'PASS' | 'FAIL' | 'SKIP';
interface Part {
  part: string;
  status: Status;
  detail: string;
}

/** `unicard test` */
export async function testCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values } = parseCommand(argv, { ...LINK_OPTIONS, 'no-finger': { type: 'boolean' }, 'sim-control': { type: 'string' } }, TEST_USAGE);
  if (values.help) return io.out(`${TEST_USAGE}\n`), ExitCode.OK;
  const target = linkTarget(values, TEST_USAGE);
  await refuseIfDaemonHolds(values, io, target, 'test');
  const trust = hasTrust(values) || io.env.UNICARD_VENDOR_ROOT ? await trustFrom(values, io) : undefined;
  const parts: Part[] = [];
  const add = (part: string, status: Status, detail: string): void => {
    parts.push({ part, status, detail });
    if (!values.json) io.out(`${status.padEnd(4)}  ${part.padEnd(10)} ${detail}\n`);
  };
  const link = await openLink(target, intOption('baud', values.baud, 300, 4_000_000, 115_200));
  const s = new TerminalSession(link, trust === undefined ? {} : { trust });
  try {
    try {
      if (target.kind === 'tcp') await s.waitForBanner(1500);
      const info = await s.getInfo();
      const ping = await s.ping(new Uint8Array(randomBytes(32)), { clear: true });
      add('link', 'PASS', `${info.vendor} ${info.model} serial ${info.serial}, firmware ${info.firmwareVersion.join('.')}, Ping ${ping.rttMs.toFixed(1)} ms`);
    } catch (e) {
      throw sessionFailure(e, target);
    }
    if (trust === undefined) {
      add('trust', 'SKIP', 'no --vendor-root or pin given: the sealed tests cannot run');
    } else {
      try {
        const h = await s.handshake(trust);
        add('trust', 'PASS', `device certificate ${h.device.terminalId} ${h.decision}`);
      } catch (e) {
        const err = sessionFailure(e, target);
        add('trust', 'FAIL', `${err.message}${err.hint ? ` (${err.hint})` : ''}`);
      }
    }
    if (s.isSealed) {
      try {
        const st = await s.request({ type: 'SelfTest' });
        const bad = st.results.filter((r) => !r.ok);
        const list = st.results.map((r) => `${r.component} ${r.ok ? 'ok' : `FAILED${r.detail ? ` (${r.detail})` : ''}`}`).join(', ');
        add('self-test', bad.length === 0 ? 'PASS' : 'FAIL', list || 'no components reported');
      } catch (e) {
        add('self-test', 'FAIL', e instanceof Error ? e.message : String(e));
      }
      let cardId: string | undefined;
      try {
        const status = await s.request({ type: 'Status' });
        if (!status.cardPresent) add('card', 'SKIP', 'no card in the slot: insert a card to test the reader');
        else {
          const w = await s.request({ type: 'CardWait', timeoutMs: 2000 });
          const cert = parseCardCertificate(w.cardCertificate);
          cardId = cert.cardId;
          add('card', 'PASS', `read card ${cert.cardId} (household ${cert.householdId}, ${cert.members.length} members)`);
        }
      } catch (e) {
        add('card', 'FAIL', e instanceof Error ? e.message : String(e));
      }
      const simSocket = values['sim-control'];
      if (values['no-finger']) add('finger', 'SKIP', '--no-finger');
      else if (cardId === undefined) add('finger', 'SKIP', 'needs a card in the slot (the finger is matched on the card)');
      else if (simSocket === undefined && io.ask === undefined) add('finger', 'SKIP', 'nobody to place a finger (not a terminal): run interactively, or give --no-finger');
      else {
        try {
          if (simSocket !== undefined) await controlCommand(simSocket, { cmd: 'finger', finger: 0 });
          else await io.ask!('Place a finger of the card holder on the sensor, then press Enter: ');
          const statuses: string[] = [];
          const r = await s.request({ type: 'VerifyHolder', nonce: new Uint8Array(randomBytes(32)), member: null, timeoutMs: 20_000, maxAttempts: 3 }, { onKeepalive: (k) => statuses.push(k.status) });
          const sensed = r.result === 'match' || r.result === 'no_match';
          add('finger', sensed ? 'PASS' : 'FAIL', sensed ? `finger captured (${r.attemptsUsed} capture${r.attemptsUsed === 1 ? '' : 's'}), ${r.result === 'match' ? `matched member ${r.member}` : 'did not match this card (the sensor works)'}` : `no finger sensed (${r.result}): clean the sensor and try again`);
        } catch (e) {
          add('finger', 'FAIL', e instanceof UnicardError ? `${e.code}: ${e.message}` : String(e));
        }
      }
    } else {
      for (const p of ['self-test', 'card', 'finger']) add(p, 'SKIP', 'needs a trusted session');
    }
    const c = s.counters();
    const hostBad = Object.values(c.framingErrors).reduce((a, b) => a + b, 0);
    let terminalSide = '';
    let termBad = 0;
    if (s.isSealed) {
      try {
        const st = await s.request({ type: 'Status' });
        termBad = st.link.rxBadFrames;
        terminalSide = `; terminal: ${st.link.rxFrames} frames in, ${st.link.rxBadFrames} bad, ${st.link.rxRejected} rejected, ${st.link.retriesAnswered} retries answered`;
      } catch {
        terminalSide = '; terminal counters unavailable';
      }
    }
    const detail = `host: ${c.frames?.framesOk ?? '?'} frames in, ${hostBad} bad, ${c.retries} retries, ${c.timeouts} timeouts${terminalSide}`;
    add('counters', hostBad + c.retries + c.timeouts + termBad === 0 ? 'PASS' : 'FAIL', hostBad + termBad > 0 ? `${detail} (line noise: check the cable and its length)` : detail);
  } finally {
    await s.close();
  }
  const failed = parts.filter((p) => p.status === 'FAIL').length;
  const summary = { terminal: s.info?.terminalId, result: failed === 0 ? 'PASS' : 'FAIL', passed: parts.filter((p) => p.status === 'PASS').length, failed, skipped: parts.filter((p) => p.status === 'SKIP').length, parts };
  if (values.json) io.out(jsonText(summary));
  else io.out(`\n${summary.result}: ${summary.passed} passed, ${failed} failed, ${summary.skipped} skipped\n`);
  if (failed > 0 && parts.find((p) => p.part === 'trust')?.status === 'FAIL' && parts.every((p) => p.part === 'trust' || p.status !== 'FAIL')) {
    return ExitCode.UNTRUSTED;
  }
  return failed === 0 ? ExitCode.OK : ExitCode.CHECK_FAILED;
}

void CliError;
