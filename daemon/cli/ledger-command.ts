/** `unicard ledger verify|export`: offline checks of a ledger (daemon/ledger) for auditors and support. */
import { readFile } from 'node:fs/promises';
import { verifyLedger } from '../ledger/verify-ledger.js';
import { exportReceipts } from '../ledger/export.js';
import { loadRootKeyFile } from '../trust/root-keys.js';
import { CliError, ExitCode, intOption, jsonText, parseCommand, type CliIo } from './cli-common.js';

export const LEDGER_USAGE = `usage: unicard ledger verify <ledger.sqlite> --issuer-root <file> --vendor-root <file> --daemon-key <file|hex> [--json]
       unicard ledger export <ledger.sqlite> [--since-seq <n>]   (JSON Lines on stdout)

verify: checks every receipt offline (signatures, hash chain, card and terminal certificates,
counters) with only the public roots; exit 0 when the ledger is sound, 1 when a problem is found.
export: writes receipts after --since-seq in the unicard-receipts/1 format for the clearing centre.

example: unicard ledger verify /var/lib/unicard/ledger.sqlite --issuer-root issuer.pub --vendor-root vendor.pub --daemon-key daemon.pub`;

async function publicKey(spec: string): Promise<Uint8Array> {
  if (/^[0-9a-f]{64}$/i.test(spec)) return new Uint8Array(Buffer.from(spec, 'hex'));
  const text = await readFile(spec, 'utf8');
  const j = JSON.parse(text) as { publicKey?: string };
  if (typeof j.publicKey !== 'string' || !/^[0-9a-f]{64}$/i.test(j.publicKey)) throw new CliError(ExitCode.USAGE, `${spec}: no "publicKey" (64 hex digits) in it`);
  return new Uint8Array(Buffer.from(j.publicKey, 'hex'));
}

/** `unicard ledger` */
export async function ledgerCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommand(
    argv,
    {
      'issuer-root': { type: 'string', multiple: true },
      'vendor-root': { type: 'string', multiple: true },
      'daemon-key': { type: 'string', multiple: true },
      'since-seq': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    LEDGER_USAGE,
  );
  if (values.help) return io.out(`${LEDGER_USAGE}\n`), ExitCode.OK;
  const [sub, path] = positionals;
  if (path === undefined || (sub !== 'verify' && sub !== 'export')) throw new CliError(ExitCode.USAGE, 'give verify or export, and the ledger file', LEDGER_USAGE);
  if (sub === 'export') {
    const r = await exportReceipts(path, { sinceSeq: intOption('since-seq', values['since-seq'], 0, Number.MAX_SAFE_INTEGER, 0) }, process.stdout);
    io.err(`exported ${r.count} receipts (last seq ${r.lastSeq})\n`);
    return ExitCode.OK;
  }
  const need = (k: 'issuer-root' | 'vendor-root' | 'daemon-key'): string[] => {
    const v = values[k];
    if (v === undefined || v.length === 0) throw new CliError(ExitCode.USAGE, `verify needs --${k}`, LEDGER_USAGE);
    return v;
  };
  const issuerRoots = await Promise.all(need('issuer-root').map(async (f) => (await loadRootKeyFile(f, 'issuer-root')).publicKey));
  const vendorRoots = await Promise.all(need('vendor-root').map(async (f) => (await loadRootKeyFile(f, 'vendor-root')).publicKey));
  const daemonPublicKeys = await Promise.all(need('daemon-key').map(publicKey));
  const report = verifyLedger(path, { issuerRoots, vendorRoots, daemonPublicKeys });
  if (values.json) io.out(jsonText(report));
  else {
    io.out(`${report.receipts} receipts, head seq ${report.head.seq}: ${report.ok ? 'OK, the chain and every signature verify' : `${report.problems.length + report.truncated} PROBLEMS`}\n`);
    for (const p of report.problems) io.out(`  problem: ${JSON.stringify(p)}\n`);
    for (const w of report.warnings) io.out(`  warning: ${JSON.stringify(w)}\n`);
  }
  return report.ok ? ExitCode.OK : ExitCode.CHECK_FAILED;
}
