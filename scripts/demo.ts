/**
 * `make demo`: the whole chain on one machine, in about half a minute.
 *
 *   1. a demo world (issuer and vendor roots, a terminal, households, roster, revocation list)
 *      in a temp dir;
 *   2. the simulated terminal on a pty (socat), paced at 115,200 baud like a real UART;
 *   3. unicardd with a config pointing at that pty and the world's roots;
 *   4. a shop client (daemon/client) that claims the terminal and, while this script moves
 *      the card and the finger through the simulator's control socket, authorizes bread,
 *      commits it and prints the receipt, then shows what gets refused;
 *   5. everything it started is stopped, and the temp dir removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NodeEd25519 } from '../protocol/crypto/ed25519.js';
import { ApiClientError, UnicardClient } from '../daemon/client/index.js';
import { systemRandomBytes } from '../firmware-sim/hardware/random.js';
import { demoWorld } from '../firmware-sim/issuer/demo-world.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TSX = pathToFileURL(join(REPO, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const TOKEN = 'demo-bakery-token-0123456789';
const TERMINAL = 'SIM0001';
const CARD = 'PSD-000001';

const children: ChildProcess[] = [];
let tempRoot: string | undefined;

const say = (text = ''): void => {
  process.stdout.write(`${text}\n`);
};
const step = (n: number, text: string): void => say(`\n${n}. ${text}`);

/** Starts `node --import tsx <script>` and resolves with its JSON ready line. */
function start(name: string, script: string, args: string[]): Promise<{ child: ChildProcess; ready: Record<string, unknown> }> {
  const child = spawn(process.execPath, ['--import', TSX, join(REPO, script), ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_NO_WARNINGS: '1' } });
  children.push(child);
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (t: string) => {
    stderr = (stderr + t).slice(-20_000);
  });
  return new Promise((resolveReady, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 30 s:\n${stderr}`)), 30_000);
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (t: string) => {
      out += t;
      for (const line of out.split('\n')) {
        if (!line.startsWith('{')) continue;
        try {
          const j = JSON.parse(line) as Record<string, unknown>;
          if (j.event === 'ready') {
            clearTimeout(timer);
            resolveReady({ child, ready: j });
            return;
          }
        } catch {
          // a partial line: wait for the rest
        }
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before it was ready:\n${stderr}`));
    });
  });
}

/** One command on the simulator's control socket (what a person does at the terminal). */
function control(path: string, command: Record<string, unknown>): Promise<Record<string, unknown>> {
  return new Promise((resolveReply, reject) => {
    const socket = net.connect(path);
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(command)}\n`));
    socket.on('data', (t: string) => {
      buffer += t;
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      socket.end();
      resolveReply(JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>);
    });
    socket.on('error', reject);
  });
}

async function stopAll(): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((done) => {
          if (c.exitCode !== null || c.signalCode !== null) return done();
          const killer = setTimeout(() => c.kill('SIGKILL'), 10_000);
          c.once('exit', () => {
            clearTimeout(killer);
            done();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
  if (tempRoot !== undefined) await rm(tempRoot, { recursive: true, force: true });
}

interface Authorization {
  authorizationId: string;
  approvedQuantity: number;
  partial: boolean;
  reasons: { code: string; en: string; ar: string }[];
  remaining?: { en: string; ar: string };
  expiresAt: number;
}

interface Receipt {
  receiptId: string;
  seq: number;
  quantity: number;
  remaining?: { en: string; ar: string };
  en: string;
  ar: string;
}

function showRefusal(e: unknown): void {
  if (!(e instanceof ApiClientError)) throw e;
  say(`   REFUSED  ${e.code}`);
  say(`     en: ${e.en}`);
  say(`     ar: ${e.ar}`);
}

async function main(): Promise<void> {
  say('unicard demo: a bakery hands out subsidised bread to a household of 5 in Port Said');
  tempRoot = await mkdtemp(join(tmpdir(), 'unicard-demo-'));
  const worldDir = join(tempRoot, 'world');
  const dataDir = join(tempRoot, 'data');
  await mkdir(dataDir, { recursive: true });

  step(1, 'Making a demo world (issuer and vendor keys, a terminal, households, signed roster) ...');
  const manifest = await demoWorld({ ed: new NodeEd25519(), random: systemRandomBytes, nowMs: () => Date.now() }, worldDir, { firmwareSize: 1024 });
  const card = manifest.cards.find((c) => c.cardId === CARD)!;
  say(`   card ${card.cardId}: household ${card.householdId}, ${card.members.length} members`);

  step(2, 'Starting the simulated terminal on a pty (socat), paced at 115,200 baud ...');
  const controlPath = join(tempRoot, 'sim.ctl');
  const sim = await start('the simulator', 'firmware-sim/main.ts', ['--world', worldDir, '--terminal', TERMINAL, '--pty', join(tempRoot, 'sim.tty'), '--control', controlPath]);
  say(`   terminal ${TERMINAL} on ${(sim.ready.link as { path: string }).path}`);

  step(3, 'Starting unicardd (the host daemon) ...');
  await writeFile(
    join(dataDir, 'dispense.json'),
    JSON.stringify({ shopId: 'BAKERY-PSD-1', shopGovernorate: 3, roster: join(worldDir, manifest.roster.file), revocation: join(worldDir, manifest.revocation.file) }, null, 2),
  );
  const configPath = join(tempRoot, 'unicardd.json');
  await writeFile(
    configPath,
    JSON.stringify({
      dataDir,
      logLevel: 'warn',
      tokens: { bakery: { token: TOKEN, role: 'shop' } },
      terminals: { serial: [{ path: (sim.ready.link as { path: string }).path }], enumerate: { enabled: false }, hid: { enabled: false } },
      trust: { vendorRoots: [join(worldDir, manifest.vendor.publicKeyFile)], issuerRoots: [join(worldDir, manifest.issuer.publicKeyFile)] },
    }),
  );
  const daemon = await start('unicardd', 'daemon/unicardd.ts', ['--config', configPath]);
  const socket = daemon.ready.socket as string;
  say(`   API socket ${socket}`);

  step(4, 'The shop program connects with its token and claims the terminal ...');
  const client = await UnicardClient.connect(socket, { token: TOKEN, name: 'bakery-pos demo' });
  for (let i = 0; ; i++) {
    const t = (await client.listTerminals()).find((x) => x.id === TERMINAL);
    if (t?.state === 'ready') break;
    if (i > 300) throw new Error(`terminal ${TERMINAL} did not become ready`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await client.claim(TERMINAL);
  // What the terminal is doing, as the shop program sees it (repeats folded into one line).
  const STAGES: Record<string, string> = {
    waiting_card: 'terminal: insert your card / أدخل الكارت',
    card_read: 'card read and checked',
    waiting_finger: 'terminal: place your finger / ضع إصبعك',
    processing: 'matching the finger on the card',
    lift_and_retry: 'not recognised: lift and try again / ارفع إصبعك وحاول مرة أخرى',
    finger_matched: 'fingerprint matched',
    authorized: 'authorization recorded',
  };
  let lastStage = '';
  await client.subscribe(['authorization.progress'], (_e, p) => {
    const stage = (p as { stage: string }).stage;
    if (stage === lastStage) return;
    lastStage = stage;
    say(`     ... ${STAGES[stage] ?? stage.replaceAll('_', ' ')}`);
  });
  say(`   claimed ${TERMINAL}`);

  const authorize = (quantity: number, key: string): Promise<Authorization> =>
    client.call<Authorization>('authorize', { terminalId: TERMINAL, service: 'bread', quantity, idempotencyKey: key }, { timeoutMs: 60_000 });

  step(5, `The citizen inserts card ${CARD} and puts the head of household's finger on the sensor; the shop asks for 20 loaves:`);
  await control(controlPath, { cmd: 'insert', card: CARD });
  await control(controlPath, { cmd: 'finger', finger: 0 });
  const a = await authorize(20, 'demo-1');
  say(`   APPROVED ${a.approvedQuantity} loaves (authorization ${a.authorizationId}, valid ${Math.round((a.expiresAt - Date.now()) / 1000)} s)`);
  const r = await client.call<Receipt>('commit', { authorizationId: a.authorizationId, quantity: 20, idempotencyKey: 'demo-1-commit' });
  say(`   The baker hands over 20 loaves and commits. Signed receipt:`);
  say(`     id:        ${r.receiptId.slice(0, 32)}...`);
  say(`     number:    ${r.seq}`);
  say(`     quantity:  ${r.quantity} loaves`);
  say(`     remaining: ${r.remaining?.en ?? '-'}`);
  say(`     en: ${r.en}`);
  say(`     ar: ${r.ar}`);

  step(6, 'Back for 40 more: a household of 4 or more may collect at most 2 days of bread at once:');
  await control(controlPath, { cmd: 'finger', finger: 0 });
  const b = await authorize(40, 'demo-2');
  say(`   APPROVED ${b.approvedQuantity} of 40 loaves${b.partial ? ' (less than asked)' : ''}`);
  for (const reason of b.reasons) {
    say(`     why (en): ${reason.en}`);
    say(`     why (ar): ${reason.ar}`);
  }
  await client.call('commit', { authorizationId: b.authorizationId, quantity: b.approvedQuantity });
  say(`   committed ${b.approvedQuantity} loaves`);

  step(7, 'And once more the same day: refused.');
  await control(controlPath, { cmd: 'finger', finger: 0 });
  await authorize(5, 'demo-3').then(() => say('   (unexpectedly approved)'), showRefusal);

  step(8, 'Another card, and a stranger puts a finger on the sensor three times:');
  await control(controlPath, { cmd: 'remove' });
  await control(controlPath, { cmd: 'insert', card: 'PSD-000002' });
  await control(controlPath, { cmd: 'finger', finger: 'unknown', count: 3 });
  await authorize(5, 'demo-4').then(() => say('   (unexpectedly approved)'), showRefusal);

  step(9, 'Stopping everything the demo started ...');
  await client.close();
}

let code = 0;
const interrupted = (): void => {
  void stopAll().then(() => process.exit(130));
};
process.once('SIGINT', interrupted);
process.once('SIGTERM', interrupted);
try {
  await main();
} catch (e) {
  process.stderr.write(`demo failed: ${e instanceof Error ? e.message : String(e)}\n`);
  code = 1;
} finally {
  await stopAll();
}
say(code === 0 ? '   done: no processes, sockets or temp files left.' : '');
process.exit(code);
