/**
 * Where the simulated terminal's serial line comes out: a pty it makes itself (socat), an
 * existing serial device, or a TCP port (ser2net-style). A port hands the terminal a link
 * (once, or per TCP client) and knows how to vanish and come back, as an unplugged device.
 */
import type { Link } from '../../link/link.js';
import type { PaceOptions } from '../../link/pacer.js';
import { PtyLink } from '../../link/pty-link.js';
import { SerialLink } from '../../link/serial-link.js';
import { TcpLinkServer, type TcpLink } from '../../link/tcp-link.js';
import type { LinkError } from '../../protocol/errors.js';

/** Kinds of port. */
export type PortKind = 'pty' | 'serial' | 'tcp' | 'memory';

/** What a port does for the simulator. */
export interface TerminalPort {
  readonly kind: PortKind;
  /** Writes are paced to `baudRate`. */
  readonly paced: boolean;
  readonly baudRate: number | undefined;
  /** False while vanished. */
  readonly present: boolean;
  /** False when the port cannot disappear by itself (the simulator then just goes silent). */
  readonly canVanish: boolean;
  /** Where a host finds the port (for the ready line and the status command). */
  describe(): Record<string, unknown>;
  /**
   * Opens the port. `onLink` gets every link a host can talk over (again after a return:
   * the terminal then prints its banner); `onFatal` when the port fails for good.
   */
  start(onLink: (link: Link) => void, onFatal: (error: LinkError) => void): Promise<void>;
  vanish(): Promise<void>;
  return(): Promise<void>;
  close(): Promise<void>;
}

/** Pacing settings shared by the port kinds. */
export interface PortPacing {
  /** Pace writes (default: true for pty and serial, false for TCP). */
  pace?: boolean;
  /** Line rate to pace to (default 115200). */
  baudRate?: number;
}

const DEFAULT_BAUD = 115_200;

function paceOf(p: PortPacing, byDefault: boolean): PaceOptions | undefined {
  return (p.pace ?? byDefault) ? { baudRate: p.baudRate ?? DEFAULT_BAUD, bitsPerByte: 10 } : undefined;
}

/** A pty made with socat at `path`; vanish kills socat (see PtyLink). */
export class PtyPort implements TerminalPort {
  readonly kind = 'pty' as const;
  readonly canVanish = true;
  readonly paced: boolean;
  readonly baudRate: number | undefined;
  private link: PtyLink | undefined;
  private readonly pace: PaceOptions | undefined;

  constructor(
    readonly path: string,
    pacing: PortPacing = {},
    private readonly onLog?: (message: string) => void,
  ) {
    this.pace = paceOf(pacing, true);
    this.paced = this.pace !== undefined;
    this.baudRate = this.pace?.baudRate;
  }

  get present(): boolean {
    return this.link?.present ?? false;
  }

  describe(): Record<string, unknown> {
    return { kind: this.kind, path: this.path, paced: this.paced, baudRate: this.baudRate ?? null, present: this.present, socatPid: this.link?.pid ?? null };
  }

  async start(onLink: (link: Link) => void, onFatal: (error: LinkError) => void): Promise<void> {
    const link = await PtyLink.open(this.path, {
      ...(this.pace ? { pace: this.pace } : {}),
      ...(this.onLog ? { onLog: this.onLog } : {}),
    });
    this.link = link;
    link.onPresence((present) => {
      if (present) onLink(link);
    });
    link.onClose((error) => {
      if (error) onFatal(error);
    });
    onLink(link);
  }

  async vanish(): Promise<void> {
    await this.link?.vanish();
  }

  async return(): Promise<void> {
    await this.link?.return();
  }

  async close(): Promise<void> {
    await this.link?.close();
  }
}

/** An existing serial device (a real UART, or one end of a pty pair). It cannot vanish. */
export class SerialDevicePort implements TerminalPort {
  readonly kind = 'serial' as const;
  readonly canVanish = false;
  readonly paced: boolean;
  readonly baudRate: number | undefined;
  private link: SerialLink | undefined;
  private readonly pace: PaceOptions | undefined;
  private readonly lineRate: number;

  constructor(
    readonly path: string,
    pacing: PortPacing = {},
  ) {
    this.pace = paceOf(pacing, true);
    this.paced = this.pace !== undefined;
    this.lineRate = pacing.baudRate ?? DEFAULT_BAUD;
    this.baudRate = this.lineRate;
  }

  get present(): boolean {
    return this.link?.isOpen ?? false;
  }

  describe(): Record<string, unknown> {
    return { kind: this.kind, path: this.path, paced: this.paced, baudRate: this.baudRate ?? null, present: this.present };
  }

  async start(onLink: (link: Link) => void, onFatal: (error: LinkError) => void): Promise<void> {
    const link = await SerialLink.open(this.path, { baudRate: this.lineRate, ...(this.pace ? { pace: this.pace } : {}) });
    this.link = link;
    link.onClose((error) => {
      if (error) onFatal(error);
    });
    onLink(link);
  }

  async vanish(): Promise<void> {}
  async return(): Promise<void> {}

  async close(): Promise<void> {
    await this.link?.close();
  }
}

/** A TCP listener, one client at a time (ser2net's default: a second client is refused). */
export class TcpPort implements TerminalPort {
  readonly kind = 'tcp' as const;
  readonly canVanish = true;
  readonly paced: boolean;
  readonly baudRate: number | undefined;
  private server: TcpLinkServer | undefined;
  private boundPort: number;
  private onLink: ((link: Link) => void) | undefined;
  private readonly pace: PaceOptions | undefined;

  constructor(
    private readonly port: number,
    private readonly host = '127.0.0.1',
    pacing: PortPacing = {},
    private readonly onLog?: (message: string) => void,
  ) {
    this.pace = paceOf(pacing, false);
    this.paced = this.pace !== undefined;
    this.baudRate = this.pace?.baudRate;
    this.boundPort = port;
  }

  get present(): boolean {
    return this.server !== undefined;
  }

  /** The port listened on (the real one when 0 was asked for). */
  get listeningPort(): number {
    return this.boundPort;
  }

  describe(): Record<string, unknown> {
    return { kind: this.kind, host: this.host, port: this.boundPort, paced: this.paced, baudRate: this.baudRate ?? null, present: this.present };
  }

  async start(onLink: (link: Link) => void): Promise<void> {
    this.onLink = onLink;
    await this.listen(this.port);
  }

  private async listen(port: number): Promise<void> {
    const server = await TcpLinkServer.listen({
      host: this.host,
      port,
      ...(this.pace ? { pace: this.pace } : {}),
      onRefused: (remote) => this.onLog?.(`refused a second connection from ${remote}: a host is already connected`),
    });
    this.boundPort = server.address.port;
    server.onLink((link: TcpLink) => {
      this.onLog?.(`host connected from ${link.info.path}`);
      link.onClose(() => this.onLog?.(`host ${link.info.path} disconnected`));
      this.onLink?.(link);
    });
    this.server = server;
  }

  /** Stops listening and drops the client: the host sees the connection reset and refused. */
  async vanish(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.close();
  }

  /** Listens again on the same port. */
  async return(): Promise<void> {
    if (this.server) return;
    await this.listen(this.boundPort);
  }

  async close(): Promise<void> {
    await this.vanish();
  }
}
