import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, TEST_TOKENS, type TestServer } from './api-test-kit.js';

const script = fileURLToPath(new URL('../../examples/socat-hello.sh', import.meta.url));

function hasSocat(): boolean {
  try {
    execFileSync('socat', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const socat = hasSocat();
if (!socat) console.warn('socat is not installed: skipping the examples/socat-hello.sh test (apt-get install socat)');

function run(env: Record<string, string>, args: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(script, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, timeout: 20_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

let t: TestServer | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

describe.skipIf(!socat)('examples/socat-hello.sh', () => {
  it('says hello and lists the terminals through socat', async () => {
    t = await startTestServer();
    t.manager.add('T1');
    const { code, stdout, stderr } = await run({ UNICARD_SOCKET: t.socketPath, UNICARD_TOKEN: TEST_TOKENS.shop });
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: number; result: Record<string, unknown> });
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ jsonrpc: '2.0', id: 1, result: { server: 'unicardd', you: { name: 'bakery-pos', client: 'socat example' } } });
    expect(lines[1]).toMatchObject({ jsonrpc: '2.0', id: 2, result: { terminals: [{ id: 'T1', state: 'ready', claim: null }] } });
  });

  it('with a bad token gets an error and nothing else', async () => {
    t = await startTestServer();
    t.manager.add('T1');
    const { stdout } = await run({ UNICARD_TOKEN: 'wrong-token-0000' }, [t.socketPath]);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: number; error?: { data: { code: string } } });
    expect(lines.map((l) => [l.id, l.error?.data.code])).toEqual([
      [1, 'BAD_TOKEN'],
      [2, 'UNAUTHENTICATED'],
    ]);
    expect(stdout).not.toContain('T1');
  });
});
