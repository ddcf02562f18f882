/**
 * Fuzzing of the daemon's own text inputs, the two not already covered next to their code:
 * config files (parseConfigText → validateConfig) and JSON-RPC lines as they arrive on a
 * socket (LineSplitter → parseRequestLine, chunked anywhere). The protocol decoders
 * (FrameDecoder, HidReassembler, decodeCanonical, decodeMessage) have their fuzz tests in
 * protocol/; RELIABILITY.md maps them. Counts come from fuzzRuns() so `make fuzz` runs
 * each at 1,000,000.
 *
 * Every property: no raw exception escapes, the outcome is one of the documented kinds,
 * and an error names a field (config) or carries a stable API code (JSON-RPC).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../daemon/config/config-error.js';
import { validateConfig } from '../../daemon/config/daemon-config.js';
import { parseConfigText } from '../../daemon/config/load-config.js';
import { ApiError } from '../../daemon/api/api-errors.js';
import { parseRequestLine } from '../../daemon/api/json-rpc.js';
import { LineSplitter } from '../../daemon/api/line-splitter.js';
import { fuzzRuns } from '../support/fuzz.js';

/** Long runs (make fuzz) get room; the default run is small. */
const timeoutFor = (defaultRuns: number): number => (fuzzRuns(defaultRuns) > defaultRuns ? 6 * 3600_000 : 60_000);

/** A valid config file, the seed the mutations start from. */
const GOOD_CONFIG = {
  dataDir: '/var/lib/unicard',
  socket: '/run/unicard/unicardd.sock',
  logLevel: 'info',
  tokens: { bakery: { token: 'a-long-enough-secret-token-0123456789', role: 'shop' } },
  terminals: { serial: [{ path: '/dev/ttyUSB0' }], rescanIntervalMs: 2000 },
  trust: { vendorRoots: ['vendor.pub'], issuerRoots: ['issuer.pub'] },
};

/** JSON paths into a value, to mutate one place of it. */
function paths(v: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  const out: Array<Array<string | number>> = [prefix];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

/** A deep copy of `v` with the value at `path` replaced (or removed when `replacement` is undefined). */
function mutate(v: unknown, path: ReadonlyArray<string | number>, replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const copy: any = JSON.parse(JSON.stringify(v));
  let at = copy;
  for (const p of path.slice(0, -1)) at = at[p];
  const last = path[path.length - 1]!;
  if (replacement === undefined && !Array.isArray(at)) delete at[last];
  else at[last] = replacement;
  return copy;
}

function checkConfig(json: unknown): void {
  const r = validateConfig(json, { baseDir: '/etc/unicard' });
  if (r.ok) {
    expect(typeof r.config.dataDir).toBe('string');
    return;
  }
  expect(r.issues.length).toBeGreaterThan(0);
  for (const issue of r.issues) {
    expect(typeof issue.path).toBe('string');
    expect(issue.message.length).toBeGreaterThan(0);
  }
}

function checkConfigText(text: string): void {
  let json: unknown;
  try {
    json = parseConfigText(text, 'fuzz.json');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as ConfigError).code).toBe('CONFIG_NOT_JSON');
    return;
  }
  checkConfig(json);
}

const API_CODES = new Set(['PARSE_ERROR', 'INVALID_REQUEST', 'INVALID_PARAMS', 'METHOD_NOT_FOUND']);

function checkLine(bytes: Uint8Array): void {
  const p = parseRequestLine(bytes);
  if (p.kind === 'invalid') {
    expect(p.error).toBeInstanceOf(ApiError);
    expect(API_CODES.has(p.error.code), p.error.code).toBe(true);
  } else if (p.kind === 'request') {
    expect(typeof p.method).toBe('string');
    expect(p.params === undefined || (typeof p.params === 'object' && p.params !== null && !Array.isArray(p.params))).toBe(true);
  }
}

/** Feeds a stream to a splitter in the given chunk sizes and checks every item; returns the item count. */
function splitAndParse(stream: Buffer, cuts: number[], maxLine: number): number {
  const s = new LineSplitter(maxLine);
  let at = 0;
  let items = 0;
  const drain = (): void => {
    for (let item = s.next(); item !== undefined; item = s.next()) {
      items++;
      if (item.kind === 'line') {
        expect(item.bytes.length).toBeLessThanOrEqual(maxLine);
        checkLine(item.bytes);
      } else expect(item.seenBytes).toBeGreaterThan(maxLine);
    }
    // Memory stays bounded: a partial line plus what is not yet scanned.
    expect(s.bufferedBytes).toBeLessThanOrEqual(maxLine + stream.length);
  };
  for (const c of cuts) {
    if (at >= stream.length) break;
    s.push(stream.subarray(at, at + c));
    at += c;
    drain();
  }
  if (at < stream.length) s.push(stream.subarray(at));
  drain();
  const last = s.end();
  if (last !== undefined) {
    items++;
    if (last.kind === 'line') checkLine(last.bytes);
  }
  return items;
}

const validRequest = fc.record({
  jsonrpc: fc.constant('2.0'),
  id: fc.oneof(fc.integer(), fc.string({ maxLength: 8 }), fc.constant(null)),
  method: fc.constantFrom('hello', 'authorize', 'commit', 'void', 'balance', 'receipts.list', 'terminals.claim'),
  params: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
});

/** A request line, possibly damaged: bytes flipped, cut, or garbage spliced in. */
const requestLine = fc.oneof(
  validRequest.map((r) => Buffer.from(JSON.stringify(r))),
  fc.tuple(validRequest, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })).map(([r, edits]) => {
    const b = Buffer.from(JSON.stringify(r));
    for (const [pos, byte] of edits) b[pos % b.length] = byte;
    return b;
  }),
  fc.uint8Array({ maxLength: 120 }).map((u) => Buffer.from(u)),
  fc.nat({ max: 300 }).map((n) => Buffer.from('['.repeat(n) + ']'.repeat(n))),
);

describe('fuzz: config files', () => {
  it('fuzz: random JSON values validate to a config or to issues naming a field, never a throw', { timeout: timeoutFor(500) }, () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 5 }), (v) => checkConfig(v)), { numRuns: fuzzRuns(500) });
  });

  it('fuzz: a valid config with one value replaced or removed: ok or issues, never a throw', { timeout: timeoutFor(500) }, () => {
    const all = paths(GOOD_CONFIG);
    const replacement = fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 2 }), fc.constantFrom('', -1, 0, 1e308, 'x'.repeat(5000), [], {}, null, true));
    fc.assert(
      fc.property(fc.nat(all.length - 1), replacement, (i, r) => checkConfig(mutate(GOOD_CONFIG, all[i]!, r))),
      { numRuns: fuzzRuns(500) },
    );
  });

  it('fuzz: config text with damaged bytes: CONFIG_NOT_JSON or a validated result, never a raw error', { timeout: timeoutFor(500) }, () => {
    const text = JSON.stringify(GOOD_CONFIG, null, 2);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), { maxLength: 6 }),
        fc.nat(),
        (edits, cut) => {
          const chars = [...text];
          for (const [pos, ch] of edits) chars[pos % chars.length] = ch;
          checkConfigText(chars.join('').slice(0, cut % (text.length + 1)));
        },
      ),
      { numRuns: fuzzRuns(500) },
    );
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => checkConfigText(s)), { numRuns: fuzzRuns(500) });
  });
});

describe('fuzz: JSON-RPC lines on a socket', () => {
  it('fuzz: streams of valid, damaged and garbage lines, cut anywhere: every line parses to a request or a typed API error', { timeout: timeoutFor(300) }, () => {
    fc.assert(
      fc.property(
        fc.array(requestLine, { maxLength: 8 }),
        fc.constantFrom('\n', '\r\n'),
        fc.array(fc.integer({ min: 1, max: 64 }), { maxLength: 40 }),
        fc.integer({ min: 16, max: 512 }),
        (lines, eol, cuts, maxLine) => {
          const stream = Buffer.concat(lines.flatMap((l) => [l, Buffer.from(eol)]));
          const items = splitAndParse(stream, cuts, maxLine);
          // A line holding a newline byte splits in two; never fewer items than lines.
          expect(items).toBeGreaterThanOrEqual(lines.length);
        },
      ),
      { numRuns: fuzzRuns(300) },
    );
  });
});
