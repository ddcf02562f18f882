import type { CliIo } from './cli-common.js';
export async function trustCommand(_argv: readonly string[], _io: CliIo): Promise<number> {
  return 5;
}
