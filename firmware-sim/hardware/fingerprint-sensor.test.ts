import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import { hammingDistance, newTemplate, templateMatches } from './fingerprint-template.js';
import { SimulatedFingerprintSensor, type CaptureResult, type SensorStatus } from './fingerprint-sensor.js';
import { seededRandomBytes } from './random.js';

function setup(latencyMs = 0) {
  const clock = new ManualClock(0);
  const random = seededRandomBytes('sensor');
  const templates = [newTemplate(random), newTemplate(random)];
  const sensor = new SimulatedFingerprintSensor({
    clock,
    random,
    latencyMs,
    fingers: { templateFor: (m) => templates[m] },
  });
  const statuses: SensorStatus[] = [];
  sensor.onStatus((s) => statuses.push(s));
  return { clock, sensor, templates, statuses };
}

const sampleOf = (r: CaptureResult): Uint8Array => {
  if (r.kind !== 'capture') throw new Error(`expected a capture, got ${r.kind}`);
  return r.sample;
};

describe('SimulatedFingerprintSensor', () => {
  it('captures a queued member finger as a noisy copy of that member template', async () => {
    const { sensor, templates, statuses } = setup();
    sensor.present({ kind: 'member', member: 1 });
    const sample = sampleOf(await sensor.capture({ timeoutMs: 1000 }));
    expect(templateMatches(templates[1]!, sample)).toBe(true);
    expect(templateMatches(templates[0]!, sample)).toBe(false);
    expect(statuses).toEqual(['capturing']);
  });

  it('captures an unknown finger, or an unknown member index, as a non-matching sample', async () => {
    const { sensor, templates } = setup();
    sensor.present({ kind: 'unknown' }, { kind: 'member', member: 9 });
    for (let i = 0; i < 2; i++) {
      const sample = sampleOf(await sensor.capture({ timeoutMs: 1000 }));
      for (const t of templates) expect(hammingDistance(t, sample)).toBeGreaterThan(100);
    }
  });

  it('reports retry statuses as non-final results and status updates', async () => {
    const { sensor, statuses } = setup();
    sensor.present({ kind: 'retry', status: 'not_centred' }, { kind: 'retry', status: 'too_fast' }, { kind: 'retry', status: 'poor_capture' });
    expect(await sensor.capture({ timeoutMs: 1000 })).toEqual({ kind: 'retry', status: 'not_centred' });
    expect(await sensor.capture({ timeoutMs: 1000 })).toEqual({ kind: 'retry', status: 'too_fast' });
    expect(await sensor.capture({ timeoutMs: 1000 })).toEqual({ kind: 'retry', status: 'poor_capture' });
    expect(statuses).toEqual(['capturing', 'not_centred', 'capturing', 'too_fast', 'capturing', 'poor_capture']);
  });

  it('waits for a finger presented later, after reporting waiting_for_finger', async () => {
    const { sensor, clock, templates, statuses } = setup();
    const p = sensor.capture({ timeoutMs: 5000 });
    expect(sensor.capturing).toBe(true);
    await clock.advanceAsync(1000);
    sensor.present({ kind: 'member', member: 0 });
    const sample = sampleOf(await p);
    expect(templateMatches(templates[0]!, sample)).toBe(true);
    expect(statuses).toEqual(['waiting_for_finger', 'capturing']);
    expect(clock.pendingTimers).toBe(0);
    expect(sensor.capturing).toBe(false);
  });

  it('times out when nobody presents a finger', async () => {
    const { sensor, clock } = setup();
    const p = sensor.capture({ timeoutMs: 5000 });
    await clock.advanceAsync(4999);
    expect(sensor.capturing).toBe(true);
    await clock.advanceAsync(1);
    expect(await p).toEqual({ kind: 'timeout' });
  });

  it("a queued 'nothing' runs into the timeout even if more is queued behind it", async () => {
    const { sensor, clock } = setup();
    sensor.present({ kind: 'nothing' }, { kind: 'member', member: 0 });
    const p = sensor.capture({ timeoutMs: 3000 });
    await clock.advanceAsync(3000);
    expect(await p).toEqual({ kind: 'timeout' });
    expect(sensor.queued).toEqual([{ kind: 'member', member: 0 }]);
    sensor.clearQueue();
    expect(sensor.queued).toEqual([]);
  });

  it('applies the capture latency on the injected clock', async () => {
    const { sensor, clock } = setup(300);
    sensor.present({ kind: 'unknown' });
    let done = false;
    const p = sensor.capture({ timeoutMs: 1000 }).then((r) => {
      done = true;
      return r;
    });
    await clock.advanceAsync(299);
    expect(done).toBe(false);
    await clock.advanceAsync(1);
    expect((await p).kind).toBe('capture');
  });

  it('is cancelled by an AbortSignal while waiting, during latency, or before starting', async () => {
    const { sensor, clock } = setup(300);
    const ac = new AbortController();
    const waiting = sensor.capture({ timeoutMs: 5000, signal: ac.signal });
    await clock.advanceAsync(10);
    ac.abort();
    expect(await waiting).toEqual({ kind: 'cancelled' });
    expect(clock.pendingTimers).toBe(0);

    const ac2 = new AbortController();
    sensor.present({ kind: 'member', member: 0 });
    const capturing = sensor.capture({ timeoutMs: 5000, signal: ac2.signal });
    await clock.advanceAsync(100);
    ac2.abort();
    expect(await capturing).toEqual({ kind: 'cancelled' });

    expect(await sensor.capture({ timeoutMs: 5000, signal: ac.signal })).toEqual({ kind: 'cancelled' });
  });

  it('allows one capture at a time', async () => {
    const { sensor, clock } = setup();
    const first = sensor.capture({ timeoutMs: 100 });
    await expect(sensor.capture({ timeoutMs: 100 })).rejects.toMatchObject({ code: 'SENSOR_BUSY' });
    await clock.advanceAsync(100);
    expect(await first).toEqual({ kind: 'timeout' });
  });

  it('unsubscribes status listeners', async () => {
    const { sensor } = setup();
    const seen: SensorStatus[] = [];
    const off = sensor.onStatus((s) => seen.push(s));
    off();
    sensor.present({ kind: 'unknown' });
    await sensor.capture({ timeoutMs: 10 });
    expect(seen).toEqual([]);
  });
});
