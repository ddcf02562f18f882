/**
 * Coalesces the writes a socket gets within one event-loop tick into one system call.
 *
 * The daemon answers in bursts: a Display prompt goes out right before the request behind it,
 * a progress notification right before the reply. Written one by one, each is a write(2) and,
 * with Nagle off, a TCP segment. Corked on the first write of a tick and uncorked on
 * process.nextTick, they leave together in one writev(2), before any I/O or timer runs, so
 * nothing waits longer than the code already running.
 */
import type { Writable } from 'node:stream';

/** Corks a stream for the rest of the current tick (once per tick, however often it is called). */
export class TickCork {
  private corked = false;

  constructor(private readonly stream: Writable) {}

  /** Call before each write. */
  hold(): void {
    if (this.corked) return;
    this.corked = true;
    this.stream.cork();
    process.nextTick(() => {
      this.corked = false;
      this.stream.uncork();
    });
  }
}
