/** `unicard issuer ...`: the issuer toolkit (firmware-sim/issuer/cli.ts) under the one tree. */
import { runIssuerCli } from '../../firmware-sim/issuer/cli.js';
import type { CliIo } from './cli-common.js';

/** Delegates to the toolkit; `unicard issuer --help` lists its commands. */
export async function issuerCommand(argv: readonly string[], io: CliIo): Promise<number> {
  return runIssuerCli(argv.length === 0 ? ['--help'] : argv, {
    stdout: (line) => io.out(line.endsWith('\n') ? line : `${line}\n`),
    stderr: (line) => io.err(line.endsWith('\n') ? line : `${line}\n`),
  });
}
