/**
 * A real USB HID device, where the machine allows one: the simulated terminal behind a
 * virtual device made through /dev/uhid (Linux's user-space HID), found by node-hid's
 * devices(), opened with HidLink on its hidraw node, and driven by TerminalSession.
 *
 * Making a uhid device needs /dev/uhid and permission to open it read-write (usually root);
 * reading its hidraw node needs permission too. Where either is missing the test is skipped
 * and its name says why. The in-memory tests (hid-terminal.test.ts) cover the same protocol
 * everywhere.
 */
import { closeSync, constants, existsSync, openSync, readSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTrustPolicy, TerminalSession } from '../../daemon/session/index.js';
import { openHidChannel } from '../../daemon/terminals/hid-channel.js';
import { loadPublicKeyFile } from '../../firmware-sim/hardware/key-file.js';
import { HID_TERMINAL_MAX_FRAME_SIZE, HidDevicePort } from '../../firmware-sim/terminal/hid-device-port.js';
import { SimulatedTerminal } from '../../firmware-sim/terminal/simulated-terminal.js';
import { makeTestWorld } from '../../firmware-sim/terminal/test-world.js';
import { BaseLink } from '../../link/base-link.js';
import { HidLink, loadNodeHidModule, type NodeHidModule } from '../../link/hid-link.js';
import { trustedKeysOf } from '../../protocol/crypto/certificates.js';
import { NodeEd25519 } from '../../protocol/crypto/ed25519.js';
import { eventually } from '../e2e/daemon-harness.js';

const UHID_PATH = '/dev/uhid';

/** Why no uhid device can be made here, or undefined when one can. */
function uhidUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `${UHID_PATH} exists only on Linux`;
  if (!existsSync(UHID_PATH)) return `no ${UHID_PATH} on this machine (kernel module uhid not loaded, or a container without it): a virtual HID device cannot be made`;
  try {
    closeSync(openSync(UHID_PATH, constants.O_RDWR | constants.O_NONBLOCK));
  } catch (e) {
    return `${UHID_PATH} cannot be opened read-write (${(e as NodeJS.ErrnoException).code ?? String(e)}): run as root or grant access`;
  }
  return undefined;
}

// struct uhid_event (linux/uhid.h, packed): u32 type, then the largest request, uhid_create2_req.
const UHID_EVENT_SIZE = 4 + 128 + 64 + 64 + 2 + 2 + 4 + 4 + 4 + 4 + 4096;
const UHID_DESTROY = 1;
const UHID_OUTPUT = 6;
const UHID_CREATE2 = 11;
const UHID_INPUT2 = 12;
const BUS_USB = 0x03;

/** Vendor-defined page, 64-byte input and output reports, no report IDs (as FIDO devices). */
const REPORT_DESCRIPTOR = Uint8Array.from([
  0x06, 0x00, 0xff, 0x09, 0x01, 0xa1, 0x01, // usage page 0xFF00, usage 1, application collection
  0x09, 0x20, 0x15, 0x00, 0x26, 0xff, 0x00, 0x75, 0x08, 0x95, 0x40, 0x81, 0x02, // 64 input bytes
  0x09, 0x21, 0x15, 0x00, 0x26, 0xff, 0x00, 0x75, 0x08, 0x95, 0x40, 0x91, 0x02, // 64 output bytes
  0xc0,
]);

/** The device side of a uhid device as a report link. */
class UhidLink extends BaseLink {
  private readonly fd: number;
  private readonly poll: ReturnType<typeof setInterval>;

  constructor(vendorId: number, productId: number) {
    super({ kind: 'hid', path: UHID_PATH });
    this.fd = openSync(UHID_PATH, constants.O_RDWR | constants.O_NONBLOCK);
    const ev = Buffer.alloc(UHID_EVENT_SIZE);
    ev.writeUInt32LE(UHID_CREATE2, 0);
    ev.write('unicard test terminal', 4, 'utf8');
    ev.writeUInt16LE(REPORT_DESCRIPTOR.length, 260);
    ev.writeUInt16LE(BUS_USB, 262);
    ev.writeUInt32LE(vendorId, 264);
    ev.writeUInt32LE(productId, 268);
    Buffer.from(REPORT_DESCRIPTOR).copy(ev, 280);
    writeSync(this.fd, ev);
    this.poll = setInterval(() => this.readEvents(), 2);
  }

  private readEvents(): void {
    const ev = Buffer.alloc(UHID_EVENT_SIZE);
    for (;;) {
      let n: number;
      try {
        n = readSync(this.fd, ev, 0, ev.length, null);
      } catch {
        return; // EAGAIN: nothing now
      }
      if (n < 4) return;
      if (ev.readUInt32LE(0) !== UHID_OUTPUT) continue;
      const size = ev.readUInt16LE(4 + 4096);
      let data = ev.subarray(4, 4 + size);
      // Some kernels pass hidapi's report-ID byte (0x00) through for devices without IDs.
      if (data.length === 65 && data[0] === 0) data = data.subarray(1);
      this.deliver(Uint8Array.from(data));
    }
  }

  protected async rawWrite(report: Uint8Array): Promise<void> {
    const ev = Buffer.alloc(UHID_EVENT_SIZE);
    ev.writeUInt32LE(UHID_INPUT2, 0);
    ev.writeUInt16LE(report.length, 4);
    Buffer.from(report).copy(ev, 6);
    writeSync(this.fd, ev);
  }

  protected async rawClose(): Promise<void> {
    clearInterval(this.poll);
    const ev = Buffer.alloc(UHID_EVENT_SIZE);
    ev.writeUInt32LE(UHID_DESTROY, 0);
    try {
      writeSync(this.fd, ev);
    } finally {
      closeSync(this.fd);
    }
  }
}

const reason = uhidUnavailable();

describe('USB HID over /dev/uhid', () => {
  it.skipIf(reason !== undefined)(`the simulator behind a virtual HID device, found and driven through node-hid${reason === undefined ? '' : ` (skipped: ${reason})`}`, async (ctx) => {
    const world = await makeTestWorld();
    const stateDir = await mkdtemp(join(tmpdir(), 'unicard-uhid-'));
    const productId = 0xa000 + (process.pid & 0x0fff);
    const deviceLink = new UhidLink(0x1209, productId);
    const terminal = await SimulatedTerminal.fromWorld({ worldDir: world.dir, stateDir, durable: false, maxFrameSize: HID_TERMINAL_MAX_FRAME_SIZE });
    const port = new HidDevicePort({ terminal });
    port.attach(deviceLink);
    let session: TerminalSession | undefined;
    let host: HidLink | undefined;
    try {
      const hid = (await loadNodeHidModule()) as NodeHidModule & { devices(): Array<{ vendorId: number; productId: number; path?: string }> };
      const found = await eventually(() => hid.devices().find((d) => d.vendorId === 0x1209 && d.productId === productId && d.path !== undefined), 5_000, 'the uhid device in node-hid devices()');
      try {
        host = await HidLink.open(found.path!, { module: hid, info: { vendorId: '1209', productId: productId.toString(16) } });
      } catch (e) {
        if ((e as { code?: string }).code === 'LINK_PERMISSION_DENIED') ctx.skip(`the hidraw node ${found.path} is not readable: ${(e as Error).message}`);
        throw e;
      }
      const vendor = await loadPublicKeyFile(join(world.dir, world.manifest.vendor.publicKeyFile), 'vendor-root');
      const codec = await openHidChannel(host);
      session = await TerminalSession.open(host, { codec, trust: createTrustPolicy({ ed: new NodeEd25519(), vendorRoots: trustedKeysOf([vendor.publicKey]) }) });
      expect(session.isSealed).toBe(true);
      expect((await session.request({ type: 'Status' })).type).toBe('StatusResult');
      expect((await session.request({ type: 'Ping', data: new Uint8Array(200).fill(7) })).data?.length).toBe(200);
    } finally {
      await session?.close();
      await host?.close();
      port.close();
      terminal.close();
      await deviceLink.close();
      await rm(stateDir, { recursive: true, force: true });
      await world.cleanup();
    }
  }, 60_000);
});
