/**
 * Firmware flash throughput over a paced pty at 115,200 baud: the real `unicard-sim` process
 * (pacing what it sends, as a UART would), the host's serial link paced the same way, and
 * the daemon's TerminalSession uploading a signed image chunk by chunk (stop-and-wait, as
 * `unicard flash` does). The figure is image bytes per second against the line's 11,520
 * bytes per second (10 bits a byte), measured in the same run.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SerialLink } from '../link/serial-link.js';
import { TerminalSession } from '../daemon/session/index.js';
import { decodeFirmwareImage } from '../firmware-sim/issuer/firmware-image.js';
import { makeTestWorld } from '../firmware-sim/terminal/test-world.js';
import { startSim, trustFor } from '../test/e2e/sim-harness.js';
import type { BenchRow } from './bench-table.js';

const BAUD = 115_200;
const LINE_BYTES_PER_SECOND = BAUD / 10;

export async function firmwareRows(options: { imageBytes: number; chunkBytes: number }): Promise<BenchRow[]> {
  const world = await makeTestWorld({ firmwareSize: options.imageBytes });
  const sim = await startSim({ world, link: 'pty' });
  let session: TerminalSession | undefined;
  try {
    if (sim.ready.link.paced !== true || sim.ready.link.baudRate !== BAUD) {
      throw new Error(`the simulator is not paced at ${BAUD} baud: ${JSON.stringify(sim.ready.link)}`);
    }
    const link = await SerialLink.open(sim.ptyPath!, { pace: { baudRate: BAUD } });
    session = await TerminalSession.open(link, { trust: await trustFor(world) });
    const img = decodeFirmwareImage(new Uint8Array(await readFile(join(world.dir, world.manifest.firmware.update.file))));
    const start = process.hrtime.bigint();
    const begin = await session.request({ type: 'FirmwareBegin', imageHeader: img.header, totalSize: img.body.length });
    let offset = begin.resumeOffset;
    while (offset < img.body.length) {
      const data = img.body.subarray(offset, Math.min(img.body.length, offset + options.chunkBytes));
      offset = (await session.request({ type: 'FirmwareChunk', offset, data })).nextOffset;
    }
    const finish = await session.request({ type: 'FirmwareFinish' });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (finish.state !== 'pending') throw new Error(`upload ended in state ${finish.state}`);
    const rate = img.body.length / seconds;
    const pct = (rate / LINE_BYTES_PER_SECOND) * 100;
    return [
      {
        group: 'firmware',
        name: `flash ${Math.round(img.body.length / 1024)} KiB image, ${options.chunkBytes / 1024} KiB chunks, 115,200 baud pty`,
        value: pct,
        unit: '% of line rate',
        target: '≥ 90 %',
        pass: pct >= 90,
        note: `${Math.round(rate)} B/s of ${LINE_BYTES_PER_SECOND} B/s; both ends paced; signature checked at Finish`,
      },
    ];
  } finally {
    await session?.close();
    await sim.stop();
    await world.cleanup();
  }
}
