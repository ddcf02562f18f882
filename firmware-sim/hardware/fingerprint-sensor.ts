/**
 * The fingerprint sensor. It only captures; matching happens on the card
 * ({@link SecureElement.matchFinger}), so a capture is an opaque sample the handler hands
 * to the card. What the simulated sensor "sees" next is a queue the control interface feeds:
 * a member's finger, a stranger's finger, a bad placement (a retry status), or nothing.
 */
import { sleep, type Clock } from './clock.js';
import { HardwareError } from './hardware-error.js';
import { DEFAULT_MAX_NOISE_BITS, TEMPLATE_BYTES, noisyCapture } from './fingerprint-template.js';
import type { RandomBytes } from './random.js';

/**
 * A capture the sensor could not use; the person should try again. These are not final:
 * the handler reports them as keepalive statuses and captures again.
 */
export type SensorRetryStatus = 'poor_capture' | 'not_centred' | 'too_fast';

/** Progress the sensor reports while a capture runs (forwarded as keepalive statuses). */
export type SensorStatus = 'waiting_for_finger' | 'capturing' | SensorRetryStatus;

/** Outcome of one {@link FingerprintSensor.capture} call. */
export type CaptureResult =
  /** A usable sample; give it to the card to match. */
  | { readonly kind: 'capture'; readonly sample: Uint8Array }
  /** Unusable placement; ask the person to lift and retry. */
  | { readonly kind: 'retry'; readonly status: SensorRetryStatus }
  /** No finger within the timeout. */
  | { readonly kind: 'timeout' }
  /** The caller's AbortSignal fired. */
  | { readonly kind: 'cancelled' };

export interface CaptureOptions {
  /** How long to wait for a finger, ms of monotonic time. */
  timeoutMs: number;
  /** Aborting ends the capture with `{ kind: 'cancelled' }`. */
  signal?: AbortSignal;
}

/** The sensor as the handlers see it. */
export interface FingerprintSensor {
  /** Wait for a finger and capture it. One capture at a time (else SENSOR_BUSY). Never rejects otherwise. */
  capture(options: CaptureOptions): Promise<CaptureResult>;
  /** Subscribe to status updates; returns the unsubscribe function. */
  onStatus(listener: (status: SensorStatus) => void): () => void;
}

/** What the simulated sensor will be shown next (fed by the control interface). */
export type FingerPresentation =
  /** The finger enrolled for member `member` (index) of the card in the slot. */
  | { readonly kind: 'member'; readonly member: number }
  /** A finger not enrolled on the card. */
  | { readonly kind: 'unknown' }
  /** A placement the sensor rejects with a retry status. */
  | { readonly kind: 'retry'; readonly status: SensorRetryStatus }
  /** Nobody puts a finger down: the capture runs into its timeout. */
  | { readonly kind: 'nothing' };

/**
 * Where the simulated citizen's fingers come from: the enrolled template of a member of
 * the card currently in the slot (undefined if no card or no such member, which the sensor
 * then treats as an unknown finger). This is the simulation's model of the person, not a
 * path the terminal's firmware would have.
 */
export interface FingerSource {
  templateFor(member: number): Uint8Array | undefined;
}

export interface SimulatedFingerprintSensorOptions {
  clock: Clock;
  random: RandomBytes;
  fingers: FingerSource;
  /** Time from finger placed to result, ms (default 0: benchmarks; a real sensor takes ~300). */
  latencyMs?: number;
  /** Noise bits of a genuine capture (default {@link DEFAULT_MAX_NOISE_BITS}). */
  maxNoiseBits?: number;
}

/** The simulated sensor: a presentation queue, a latency, status updates. */
export class SimulatedFingerprintSensor implements FingerprintSensor {
  /** Capture latency in ms; may be changed at any time (applies to the next capture). */
  latencyMs: number;
  private readonly clock: Clock;
  private readonly random: RandomBytes;
  private readonly fingers: FingerSource;
  private readonly maxNoiseBits: number;
  private readonly queue: FingerPresentation[] = [];
  private readonly listeners = new Set<(s: SensorStatus) => void>();
  private wake: (() => void) | undefined;
  private busy = false;

  constructor(options: SimulatedFingerprintSensorOptions) {
    this.clock = options.clock;
    this.random = options.random;
    this.fingers = options.fingers;
    this.latencyMs = options.latencyMs ?? 0;
    this.maxNoiseBits = options.maxNoiseBits ?? DEFAULT_MAX_NOISE_BITS;
  }

  /** Queue what the sensor will be shown next; wakes a capture that is waiting. */
  present(...items: FingerPresentation[]): void {
    this.queue.push(...items);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Forget everything queued. */
  clearQueue(): void {
    this.queue.length = 0;
  }

  /** What is queued, oldest first. */
  get queued(): readonly FingerPresentation[] {
    return [...this.queue];
  }

  /** True while a capture runs. */
  get capturing(): boolean {
    return this.busy;
  }

  onStatus(listener: (status: SensorStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async capture(options: CaptureOptions): Promise<CaptureResult> {
    if (this.busy) throw new HardwareError('SENSOR_BUSY', 'a capture is already running');
    const { signal } = options;
    if (signal?.aborted) return { kind: 'cancelled' };
    this.busy = true;
    try {
      const item = await this.nextPresentation(options);
      if (item === 'timeout' || item === 'cancelled') return { kind: item };
      if (item.kind === 'nothing') {
        // Nobody came: wait out the rest of the timeout, as a real sensor would.
        return await this.waitForTimeout(options);
      }
      this.emit('capturing');
      if ((await sleep(this.clock, this.latencyMs, signal)) === 'aborted') return { kind: 'cancelled' };
      if (item.kind === 'retry') {
        this.emit(item.status);
        return { kind: 'retry', status: item.status };
      }
      return { kind: 'capture', sample: this.sampleOf(item) };
    } finally {
      this.busy = false;
    }
  }

  private sampleOf(item: { kind: 'member'; member: number } | { kind: 'unknown' }): Uint8Array {
    const template = item.kind === 'member' ? this.fingers.templateFor(item.member) : undefined;
    return template ? noisyCapture(template, this.random, this.maxNoiseBits) : this.random(TEMPLATE_BYTES);
  }

  private emit(status: SensorStatus): void {
    for (const l of [...this.listeners]) l(status);
  }

  /** The next queued presentation, waiting for one if the queue is empty. */
  private nextPresentation(options: CaptureOptions): Promise<FingerPresentation | 'timeout' | 'cancelled'> {
    const first = this.queue.shift();
    if (first) return Promise.resolve(first);
    this.emit('waiting_for_finger');
    return new Promise((resolve) => {
      const { signal } = options;
      const finish = (r: FingerPresentation | 'timeout' | 'cancelled'): void => {
        cancelTimer();
        signal?.removeEventListener('abort', onAbort);
        this.wake = undefined;
        resolve(r);
      };
      const onAbort = (): void => finish('cancelled');
      const cancelTimer = this.clock.setTimer(options.timeoutMs, () => finish('timeout'));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.wake = () => {
        const next = this.queue.shift();
        if (next) finish(next);
      };
    });
  }

  private async waitForTimeout(options: CaptureOptions): Promise<CaptureResult> {
    const r = await sleep(this.clock, options.timeoutMs, options.signal);
    return r === 'aborted' ? { kind: 'cancelled' } : { kind: 'timeout' };
  }
}
