/**
 * The identification line a terminal prints at boot, before any frame:
 * `UNICARD-TERMINAL vendor=<v> model=<m> serial=<s> fw=<x.y.z> proto=1\r\n`, then one 0x00
 * so the host's frame decoder starts clean. At most 200 bytes, ASCII.
 */

/** Every banner line starts with this. */
export const BANNER_PREFIX = 'UNICARD-TERMINAL ';
/** Longest banner line, `\r\n` included. */
export const MAX_BANNER_BYTES = 200;

/** What the banner says. */
export interface BannerInfo {
  readonly vendor: string;
  readonly model: string;
  readonly serial: string;
  readonly firmwareVersion: readonly [number, number, number];
  readonly protocolVersion: number;
}

/** Longest value of one field: five fields must fit in 200 bytes with their names. */
const MAX_VALUE = 32;

/** A value as it may appear in the line: printable ASCII without spaces or '=', at most 32 chars. */
export function bannerValue(value: string): string {
  const cleaned = value.replace(/[^\x21-\x7e]|=/g, '_');
  return (cleaned.length > 0 ? cleaned : '_').slice(0, MAX_VALUE);
}

/** The banner line, `\r\n` included. */
export function bannerLine(info: BannerInfo): string {
  const fw = info.firmwareVersion.join('.');
  return `${BANNER_PREFIX}vendor=${bannerValue(info.vendor)} model=${bannerValue(info.model)} serial=${bannerValue(info.serial)} fw=${fw} proto=${info.protocolVersion}\r\n`;
}

/** The bytes a terminal sends at boot: the line, then 0x00. */
export function bannerBytes(info: BannerInfo): Uint8Array {
  const line = Buffer.from(bannerLine(info), 'ascii');
  const out = new Uint8Array(line.length + 1);
  out.set(line, 0);
  return out;
}

/**
 * Reads a banner line (with or without its `\r\n`); undefined when it is not one. Unknown
 * `key=value` fields are ignored so a later protocol version may add some.
 */
export function parseBannerLine(line: string): BannerInfo | undefined {
  const text = line.replace(/\r?\n$/, '');
  if (!text.startsWith(BANNER_PREFIX) || Buffer.byteLength(text, 'utf8') + 2 > MAX_BANNER_BYTES) return undefined;
  const fields = new Map<string, string>();
  for (const part of text.slice(BANNER_PREFIX.length).split(' ')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const fw = /^(\d+)\.(\d+)\.(\d+)$/.exec(fields.get('fw') ?? '');
  const proto = Number(fields.get('proto'));
  const vendor = fields.get('vendor');
  const model = fields.get('model');
  const serial = fields.get('serial');
  if (!fw || !Number.isInteger(proto) || vendor === undefined || model === undefined || serial === undefined) return undefined;
  return {
    vendor,
    model,
    serial,
    firmwareVersion: [Number(fw[1]), Number(fw[2]), Number(fw[3])],
    protocolVersion: proto,
  };
}
