/**
 * The message catalog of protocol version 1: every message type, its number, and its fields.
 *
 * Numbering: requests (host → terminal) are 0x01..0x3F; the result of request t is t | 0x80;
 * events (terminal → host, request id 0) are 0x40..0x5F; control messages are 0x70..0x7F
 * (Cancel 0x70 is a request whose result is 0xF0; Keepalive 0x71 and Error 0x7F are sent by
 * the terminal about a request). Envelope keys 0 (type) and 1 (request id) are common to all
 * messages; each message's own fields use keys 2..23, and nested structs use keys 0..23, so
 * every key is one byte on the wire.
 */
import {
  arrayOf,
  BOOL,
  bytes,
  bytesN,
  enumOf,
  type MessageSchema,
  type StructOf,
  struct,
  text,
  U32,
  U53,
  uint,
} from './schema.js';

/** Protocol version carried in GetInfoResult. */
export const PROTOCOL_VERSION = 1;

/** Longest identifier text (card id, terminal id, shop id, vendor, model, serial), as in certificates. */
export const MAX_ID_BYTES = 64;
/** Longest certificate (card or device) carried in a message, as in certificates. */
export const MAX_CERTIFICATE_BYTES = 4096;
/** Longest firmware image header. */
export const MAX_IMAGE_HEADER_BYTES = 1024;
/** Longest firmware chunk. */
export const MAX_FIRMWARE_CHUNK_BYTES = 16_384;
/** Longest Ping payload. */
export const MAX_PING_BYTES = 256;
/** Longest free text (error messages, log details, self-test details). */
export const MAX_TEXT_BYTES = 256;
/** Most log entries in one ReadLogResult. */
export const MAX_LOG_ENTRIES = 64;
/** Largest member index (as in card certificates). */
export const MAX_MEMBER_INDEX = 255;

/** Bits of GetInfoResult.capabilities. Unknown bits MUST be ignored by hosts. */
export const Capability = {
  cardSlot: 0x01,
  fingerprint: 0x02,
  display: 0x04,
  firmwareUpdate: 0x08,
  clock: 0x10,
  log: 0x20,
  /** Reassembles segmented packets and answers NAKs (stream links; see Segmentation). */
  segments: 0x40,
} as const;

/** Services a card authentication is for. */
export const Service = enumOf({ bread: 0, ration: 1, health: 2, postal: 3 });
/** Outcome of a holder verification. */
export const VerifyOutcome = enumOf({ match: 0, no_match: 1, timeout: 2, cancelled: 3 });
/** What a terminal busy with a request is doing (Keepalive.status). */
export const KeepaliveStatus = enumOf({
  processing: 0,
  waiting_card: 1,
  waiting_finger: 2,
  lift_and_retry: 3,
  finger_not_centred: 4,
  too_fast: 5,
  poor_quality: 6,
  finger_too_dry: 7,
  finger_too_wet: 8,
  remove_card: 9,
});
/** Overall terminal state (StatusResult.state). */
export const TerminalState = enumOf({ ready: 0, busy: 1, updating: 2, fault: 3 });
/** Firmware update state machine. */
export const FirmwareState = enumOf({ idle: 0, receiving: 1, pending: 2, testing: 3, rolled_back: 4 });
/** State of one firmware slot. */
export const SlotState = enumOf({ empty: 0, running: 1, pending: 2, testing: 3, invalid: 4 });
/** Reboot mode. */
export const RebootMode = enumOf({ normal: 0, test_image: 1 });
/** Built-in display prompts (shown in Arabic and English by the terminal). */
export const Prompt = enumOf({
  idle: 0,
  insert_card: 1,
  remove_card: 2,
  place_finger: 3,
  lift_finger: 4,
  please_wait: 5,
  approved: 6,
  declined: 7,
  card_error: 8,
  out_of_service: 9,
});
/** Log entry severity. */
export const LogLevel = enumOf({ debug: 0, info: 1, warn: 2, error: 3 });

const VERSION = arrayOf(uint(0xffff), 3, 3);
const ID_TEXT = text(MAX_ID_BYTES, 1);
const SIG = bytesN(64);
const KEY32 = bytesN(32);
const CERT = bytes(MAX_CERTIFICATE_BYTES, 1);

const LinkCounters = struct({
  rxFrames: { key: 0, type: U32, doc: 'frames received intact' },
  txFrames: { key: 1, type: U32, doc: 'frames sent' },
  rxBadFrames: { key: 2, type: U32, doc: 'frames dropped by framing (CRC, COBS, size)' },
  rxRejected: { key: 3, type: U32, doc: 'records dropped by the session (authentication, replay, not sealed)' },
  retriesAnswered: { key: 4, type: U32, doc: 'repeated request ids answered from the response cache' },
});
const FirmwareSlot = struct({
  slot: { key: 0, type: uint(3), doc: 'slot number' },
  version: { key: 1, type: VERSION, nullable: true, doc: '[major, minor, patch]; null when the slot is empty' },
  state: { key: 2, type: SlotState, doc: 'slot state' },
});
const SelfTestItem = struct({
  component: { key: 0, type: text(32, 1), doc: 'e.g. "card_reader", "secure_element", "fingerprint", "display", "clock", "storage"' },
  ok: { key: 1, type: BOOL, doc: 'passed' },
  detail: { key: 2, type: text(MAX_TEXT_BYTES), optional: true, doc: 'English detail for a technician' },
});
const DisplayLine = struct({
  ar: { key: 0, type: text(128), doc: 'Arabic text' },
  en: { key: 1, type: text(128), doc: 'English text' },
});
const LogEntry = struct({
  seq: { key: 0, type: U32, doc: 'sequence number, increasing by one per entry' },
  unixMs: { key: 1, type: U53, nullable: true, doc: 'time of the entry; null when the clock was not set' },
  level: { key: 2, type: LogLevel, doc: 'severity' },
  event: { key: 3, type: text(32, 1), doc: 'event name, e.g. "boot", "card_inserted", "fw_rollback"' },
  detail: { key: 4, type: text(MAX_TEXT_BYTES), optional: true, doc: 'English detail' },
});

/** Identity of the card in the slot (CardWaitResult and CardInserted). */
const cardFields = {
  cardId: { key: 2, type: ID_TEXT, doc: 'card id, as in the card certificate' },
  cardCertificate: { key: 3, type: CERT, doc: 'card certificate (issuer-signed, see the crypto section)' },
} as const;

function defineCatalog<const C extends Record<string, MessageSchema>>(c: C): C {
  return c;
}

/** Every message of protocol version 1, by name. */
export const MESSAGE_SCHEMAS = defineCatalog({
  // ---------------- identification and session ----------------
  GetInfo: { type: 0x01, kind: 'request', fields: {}, doc: 'who are you? (allowed in clear)' },
  GetInfoResult: {
    type: 0x81,
    kind: 'result',
    answers: 'GetInfo',
    doc: 'identity and limits of the terminal',
    fields: {
      vendor: { key: 2, type: ID_TEXT, doc: 'vendor name' },
      model: { key: 3, type: ID_TEXT, doc: 'model name' },
      serial: { key: 4, type: ID_TEXT, doc: 'serial number' },
      firmwareVersion: { key: 5, type: VERSION, doc: '[major, minor, patch] of the running firmware' },
      protocolVersion: { key: 6, type: uint(0xffff, 1), doc: 'protocol version spoken (1)' },
      maxFrameSize: { key: 7, type: uint(0xffff, 64), doc: 'largest stream-frame body (header + payload + CRC, before COBS) the terminal accepts, in bytes' },
      capabilities: { key: 8, type: U32, doc: 'bit set of Capability; unknown bits are ignored' },
      terminalId: { key: 9, type: ID_TEXT, doc: 'terminal id, as in its device certificate' },
    },
  },
  Ping: {
    type: 0x02,
    kind: 'request',
    doc: 'liveness check (allowed in clear)',
    fields: { data: { key: 2, type: bytes(MAX_PING_BYTES), optional: true, doc: 'echoed back unchanged' } },
  },
  PingResult: {
    type: 0x82,
    kind: 'result',
    answers: 'Ping',
    doc: 'answer to Ping',
    fields: { data: { key: 2, type: bytes(MAX_PING_BYTES), optional: true, doc: 'the Ping data, present exactly when it was in the Ping' } },
  },
  Handshake: {
    type: 0x03,
    kind: 'request',
    doc: 'start a session (allowed in clear; replaces any session)',
    fields: {
      hostEphemeralKey: { key: 2, type: KEY32, doc: 'host X25519 ephemeral public key' },
      hostNonce: { key: 3, type: KEY32, doc: '32 random bytes' },
      hostCapabilities: {
        key: 4,
        type: U32,
        optional: true,
        doc: 'bit set of Capability the host has: only `segments` (0x40) has a meaning. Sent only to a terminal whose GetInfo capabilities has that bit; the terminal may then segment what it sends in this session',
      },
    },
  },
  HandshakeResult: {
    type: 0x83,
    kind: 'result',
    answers: 'Handshake',
    doc: 'terminal half of the handshake',
    fields: {
      terminalEphemeralKey: { key: 2, type: KEY32, doc: 'terminal X25519 ephemeral public key' },
      deviceCertificate: { key: 3, type: CERT, doc: 'device certificate (vendor-signed)' },
      signature: { key: 4, type: SIG, doc: 'Ed25519 signature over the handshake transcript by the device key' },
    },
  },

  // ---------------- diagnostics and housekeeping ----------------
  Status: { type: 0x08, kind: 'request', fields: {}, doc: 'current state and counters' },
  StatusResult: {
    type: 0x88,
    kind: 'result',
    answers: 'Status',
    doc: 'current state and counters',
    fields: {
      state: { key: 2, type: TerminalState, doc: 'overall state' },
      cardPresent: { key: 3, type: BOOL, doc: 'a card is in the slot' },
      uptimeS: { key: 4, type: U32, doc: 'seconds since boot' },
      link: { key: 5, type: LinkCounters, doc: 'link counters since boot' },
      firmwareSlots: { key: 6, type: arrayOf(FirmwareSlot, 4, 1), doc: 'firmware slots' },
      unixMs: { key: 7, type: U53, nullable: true, doc: 'terminal clock; null when never set' },
    },
  },
  SelfTest: { type: 0x09, kind: 'request', fields: {}, doc: 'run the built-in self test' },
  SelfTestResult: {
    type: 0x89,
    kind: 'result',
    answers: 'SelfTest',
    doc: 'one entry per component tested',
    fields: { results: { key: 2, type: arrayOf(SelfTestItem, 32), doc: 'component results' } },
  },
  Display: {
    type: 0x0a,
    kind: 'request',
    doc: 'show text or a built-in prompt; exactly one of lines and prompt',
    exactlyOne: [['lines', 'prompt']],
    fields: {
      lines: { key: 2, type: arrayOf(DisplayLine, 4, 1), optional: true, doc: 'up to 4 lines, each in Arabic and English' },
      prompt: { key: 3, type: Prompt, optional: true, doc: 'a built-in prompt' },
      durationMs: { key: 4, type: U32, optional: true, doc: 'revert to the idle screen after this long; absent: until replaced' },
    },
  },
  DisplayResult: { type: 0x8a, kind: 'result', answers: 'Display', fields: {}, doc: 'shown' },
  Reboot: {
    type: 0x0b,
    kind: 'request',
    doc: 'restart the terminal (the result is sent before restarting)',
    fields: { mode: { key: 2, type: RebootMode, doc: 'normal, or boot the pending image in test mode' } },
  },
  RebootResult: { type: 0x8b, kind: 'result', answers: 'Reboot', fields: {}, doc: 'restarting' },
  SetTime: {
    type: 0x0c,
    kind: 'request',
    doc: 'set the terminal clock',
    fields: { unixMs: { key: 2, type: U53, doc: 'Unix time in milliseconds, UTC' } },
  },
  SetTimeResult: {
    type: 0x8c,
    kind: 'result',
    answers: 'SetTime',
    doc: 'clock set',
    fields: { previousUnixMs: { key: 2, type: U53, nullable: true, doc: 'the clock before setting; null when never set' } },
  },
  ReadLog: {
    type: 0x0d,
    kind: 'request',
    doc: 'read the event log',
    fields: {
      sinceSeq: { key: 2, type: U32, doc: 'first sequence number wanted' },
      max: { key: 3, type: uint(MAX_LOG_ENTRIES, 1), doc: `most entries wanted (1..${MAX_LOG_ENTRIES})` },
    },
  },
  ReadLogResult: {
    type: 0x8d,
    kind: 'result',
    answers: 'ReadLog',
    doc: 'log entries in sequence order',
    fields: {
      entries: { key: 2, type: arrayOf(LogEntry, MAX_LOG_ENTRIES), doc: 'entries with seq ≥ sinceSeq' },
      nextSeq: { key: 3, type: U32, doc: 'sinceSeq for the next call' },
    },
  },

  // ---------------- card and holder ----------------
  CardWait: {
    type: 0x10,
    kind: 'request',
    doc: 'wait for a card (keepalive status waiting_card)',
    fields: { timeoutMs: { key: 2, type: U32, doc: 'give up after this long (Error TIMEOUT)' } },
  },
  CardWaitResult: { type: 0x90, kind: 'result', answers: 'CardWait', doc: 'a card is present', fields: cardFields },
  CardAuthenticate: {
    type: 0x11,
    kind: 'request',
    doc: 'the card signs the host nonce together with the transaction',
    fields: {
      nonce: { key: 2, type: KEY32, doc: '32 fresh random bytes from the host' },
      service: { key: 3, type: Service, doc: 'service' },
      quantity: { key: 4, type: U32, doc: 'quantity in the service unit (loaves, piastres, ...)' },
      shopId: { key: 5, type: ID_TEXT, doc: 'shop id' },
      terminalId: { key: 6, type: ID_TEXT, doc: 'terminal id (as in the device certificate)' },
      time: { key: 7, type: U53, doc: 'Unix time in seconds' },
    },
  },
  CardAuthenticateResult: {
    type: 0x91,
    kind: 'result',
    answers: 'CardAuthenticate',
    doc: 'the card signature',
    fields: {
      counter: { key: 2, type: U32, doc: 'card transaction counter after this authentication' },
      signature: { key: 3, type: SIG, doc: 'Ed25519 signature by the card key (card-auth structure)' },
      cardCertificate: { key: 4, type: CERT, doc: 'card certificate' },
    },
  },
  VerifyHolder: {
    type: 0x12,
    kind: 'request',
    doc: 'match-on-card fingerprint verification (keepalive statuses waiting_finger and the retry statuses)',
    fields: {
      nonce: { key: 2, type: KEY32, doc: '32 fresh random bytes from the host' },
      member: { key: 3, type: uint(MAX_MEMBER_INDEX), nullable: true, doc: 'member index to verify; null: any member of the household' },
      timeoutMs: { key: 4, type: U32, doc: 'give up after this long (result timeout)' },
      maxAttempts: { key: 5, type: uint(10, 1), doc: 'most finger captures (1..10)' },
    },
  },
  VerifyHolderResult: {
    type: 0x92,
    kind: 'result',
    answers: 'VerifyHolder',
    doc: 'final outcome, signed by the card',
    fields: {
      result: {
        key: 2,
        type: VerifyOutcome,
        doc: 'final outcome; cancelled means stopped at the terminal itself (a host Cancel ends the request with Error CANCELLED instead)',
      },
      member: { key: 3, type: uint(MAX_MEMBER_INDEX), nullable: true, doc: 'member who matched; null unless result is match' },
      attemptsUsed: { key: 4, type: uint(10), doc: 'captures made' },
      signature: { key: 5, type: SIG, doc: 'Ed25519 signature by the card key (holder-verify structure)' },
    },
  },

  // ---------------- firmware update ----------------
  FirmwareBegin: {
    type: 0x20,
    kind: 'request',
    doc: 'start or resume an upload (keyed by the image hash in the header)',
    fields: {
      imageHeader: { key: 2, type: bytes(MAX_IMAGE_HEADER_BYTES, 1), doc: 'signed image header' },
      totalSize: { key: 3, type: uint(0xffff_ffff, 1), doc: 'size of the image body in bytes' },
    },
  },
  FirmwareBeginResult: {
    type: 0xa0,
    kind: 'result',
    answers: 'FirmwareBegin',
    doc: 'where to continue',
    fields: { resumeOffset: { key: 2, type: U32, doc: '0 for a new upload; the bytes already held for a resumed one' } },
  },
  FirmwareChunk: {
    type: 0x21,
    kind: 'request',
    doc: 'one piece of the image body',
    fields: {
      offset: { key: 2, type: U32, doc: 'offset of data in the body; must equal the terminal\'s next offset' },
      data: { key: 3, type: bytes(MAX_FIRMWARE_CHUNK_BYTES, 1), doc: `1..${MAX_FIRMWARE_CHUNK_BYTES} bytes` },
    },
  },
  FirmwareChunkResult: {
    type: 0xa1,
    kind: 'result',
    answers: 'FirmwareChunk',
    doc: 'chunk stored',
    fields: { nextOffset: { key: 2, type: U32, doc: 'offset expected next' } },
  },
  FirmwareFinish: { type: 0x22, kind: 'request', fields: {}, doc: 'all bytes sent: check hash and signature, mark pending' },
  FirmwareFinishResult: {
    type: 0xa2,
    kind: 'result',
    answers: 'FirmwareFinish',
    doc: 'image verified',
    fields: { state: { key: 2, type: FirmwareState, doc: 'pending when the image was accepted' } },
  },
  FirmwareActivate: { type: 0x23, kind: 'request', fields: {}, doc: 'reboot into the pending image in test mode' },
  FirmwareActivateResult: { type: 0xa3, kind: 'result', answers: 'FirmwareActivate', fields: {}, doc: 'rebooting into the test image' },
  FirmwareConfirm: { type: 0x24, kind: 'request', fields: {}, doc: 'keep the running test image (raises the anti-rollback counter)' },
  FirmwareConfirmResult: {
    type: 0xa4,
    kind: 'result',
    answers: 'FirmwareConfirm',
    doc: 'image confirmed',
    fields: { antiRollbackCounter: { key: 2, type: U32, doc: 'anti-rollback counter after confirming' } },
  },
  FirmwareStatus: { type: 0x25, kind: 'request', fields: {}, doc: 'state of the firmware update' },
  FirmwareStatusResult: {
    type: 0xa5,
    kind: 'result',
    answers: 'FirmwareStatus',
    doc: 'state of the firmware update',
    fields: {
      runningVersion: { key: 2, type: VERSION, doc: 'running firmware [major, minor, patch]' },
      pendingVersion: { key: 3, type: VERSION, nullable: true, doc: 'pending or testing image; null when none' },
      state: { key: 4, type: FirmwareState, doc: 'update state' },
      antiRollbackCounter: { key: 5, type: U32, doc: 'images with a lower security version are refused' },
      uploadOffset: { key: 6, type: U32, doc: 'bytes received of the current upload (0 when none)' },
    },
  },

  // ---------------- events (request id 0) ----------------
  CardInserted: { type: 0x40, kind: 'event', doc: 'a card was inserted', fields: cardFields },
  CardRemoved: {
    type: 0x41,
    kind: 'event',
    doc: 'the card was removed',
    fields: { cardId: { key: 2, type: ID_TEXT, doc: 'id of the card removed' } },
  },

  // ---------------- control ----------------
  Cancel: {
    type: 0x70,
    kind: 'request',
    doc: 'stop a request in progress',
    fields: { targetId: { key: 2, type: uint(0xffff_ffff, 1), doc: 'request id of the request to stop' } },
  },
  CancelResult: {
    type: 0xf0,
    kind: 'result',
    answers: 'Cancel',
    doc: 'whether something was stopped',
    fields: { cancelled: { key: 2, type: BOOL, doc: 'true when the target was in progress and is now stopped' } },
  },
  Keepalive: {
    type: 0x71,
    kind: 'control',
    doc: 'the terminal is still working on the request with this id',
    fields: {
      status: { key: 2, type: KeepaliveStatus, doc: 'what it is doing or waiting for' },
      attempt: { key: 3, type: uint(10, 1), optional: true, doc: 'current finger capture (VerifyHolder)' },
    },
  },
  Error: {
    type: 0x7f,
    kind: 'control',
    doc: 'the request with this id failed (id 0: the id could not be read)',
    fields: {
      code: { key: 2, type: uint(0xffff), doc: 'wire error code (see Error codes); unknown codes are shown as numbers' },
      message: { key: 3, type: text(MAX_TEXT_BYTES), optional: true, doc: 'English detail for logs' },
    },
  },
});

/** Name of a message type. */
export type MessageName = keyof typeof MESSAGE_SCHEMAS;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The TypeScript form of message `N`: its name, its request id and its fields. */
export type MessageOf<N extends MessageName> = Simplify<
  { type: N; id: number } & StructOf<(typeof MESSAGE_SCHEMAS)[N]['fields']>
>;

/** Any message. */
export type Message = { [N in MessageName]: MessageOf<N> }[MessageName];

export type GetInfo = MessageOf<'GetInfo'>;
export type GetInfoResult = MessageOf<'GetInfoResult'>;
export type Ping = MessageOf<'Ping'>;
export type PingResult = MessageOf<'PingResult'>;
export type Handshake = MessageOf<'Handshake'>;
export type HandshakeResult = MessageOf<'HandshakeResult'>;
export type Status = MessageOf<'Status'>;
export type StatusResult = MessageOf<'StatusResult'>;
export type SelfTest = MessageOf<'SelfTest'>;
export type SelfTestResult = MessageOf<'SelfTestResult'>;
export type Display = MessageOf<'Display'>;
export type DisplayResult = MessageOf<'DisplayResult'>;
export type Reboot = MessageOf<'Reboot'>;
export type RebootResult = MessageOf<'RebootResult'>;
export type SetTime = MessageOf<'SetTime'>;
export type SetTimeResult = MessageOf<'SetTimeResult'>;
export type ReadLog = MessageOf<'ReadLog'>;
export type ReadLogResult = MessageOf<'ReadLogResult'>;
export type CardWait = MessageOf<'CardWait'>;
export type CardWaitResult = MessageOf<'CardWaitResult'>;
export type CardAuthenticate = MessageOf<'CardAuthenticate'>;
export type CardAuthenticateResult = MessageOf<'CardAuthenticateResult'>;
export type VerifyHolder = MessageOf<'VerifyHolder'>;
export type VerifyHolderResult = MessageOf<'VerifyHolderResult'>;
export type FirmwareBegin = MessageOf<'FirmwareBegin'>;
export type FirmwareBeginResult = MessageOf<'FirmwareBeginResult'>;
export type FirmwareChunk = MessageOf<'FirmwareChunk'>;
export type FirmwareChunkResult = MessageOf<'FirmwareChunkResult'>;
export type FirmwareFinish = MessageOf<'FirmwareFinish'>;
export type FirmwareFinishResult = MessageOf<'FirmwareFinishResult'>;
export type FirmwareActivate = MessageOf<'FirmwareActivate'>;
export type FirmwareActivateResult = MessageOf<'FirmwareActivateResult'>;
export type FirmwareConfirm = MessageOf<'FirmwareConfirm'>;
export type FirmwareConfirmResult = MessageOf<'FirmwareConfirmResult'>;
export type FirmwareStatus = MessageOf<'FirmwareStatus'>;
export type FirmwareStatusResult = MessageOf<'FirmwareStatusResult'>;
export type CardInserted = MessageOf<'CardInserted'>;
export type CardRemoved = MessageOf<'CardRemoved'>;
export type Cancel = MessageOf<'Cancel'>;
export type CancelResult = MessageOf<'CancelResult'>;
export type Keepalive = MessageOf<'Keepalive'>;
export type ErrorMessage = MessageOf<'Error'>;

/** Names of the enumerations' values, for code that switches on them. */
export type ServiceName = keyof typeof Service.values;
export type VerifyOutcomeName = keyof typeof VerifyOutcome.values;
export type KeepaliveStatusName = keyof typeof KeepaliveStatus.values;
export type FirmwareStateName = keyof typeof FirmwareState.values;
export type PromptName = keyof typeof Prompt.values;
