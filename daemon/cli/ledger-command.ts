import type { CliIo } from './cli-common.js';
export async function ledgerCommand(_argv: readonly string[], _io: CliIo): Promise<number> {
  return 5;
}
