/**
 * A coherent demo world in one call: issuer and vendor roots, one terminal, a handful of
 * Port Said and Cairo households in every roster state, the signed roster and revocation
 * list, and firmware images for every firmware-update path (factory, update, downgrade,
 * forged signature, tampered body). `manifest.json` describes it all without secrets; tests
 * and the demo read it instead of hard-coding file names.
 */
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { writeFileAtomic } from '../hardware/atomic-file.js';
import type { MemberRoleName } from '../hardware/card-file.js';
import { keyPairFromSeed } from '../hardware/key-file.js';
import { decodeFirmwareImage, encodeFirmwareImage } from './firmware-image.js';
import type { CardStateName } from './signed-lists.js';
import {
  initIssuer,
  initVendor,
  makeCard,
  makeFirmware,
  makeRevocation,
  makeRoster,
  makeTerminal,
  writeFirmware,
  type CardResult,
  type FirmwareResult,
  type NewMember,
  type ToolkitContext,
} from './toolkit.js';

/** Format tag of the manifest. */
export const DEMO_MANIFEST_FORMAT = 'unicard-demo-world/1';

/** Governorate codes used in the demo (two-digit codes of the national id). */
export const Governorate = { cairo: 1, alexandria: 2, port_said: 3 } as const;

/** Demo terminal: vendor and model, as the boot banner and firmware headers name them. */
export const DEMO_VENDOR = 'SimVendor';
export const DEMO_MODEL = 'SIM-1';
export const DEMO_TERMINAL_ID = 'SIM0001';

/** One card in the manifest (no secrets). */
export interface ManifestCard {
  readonly cardId: string;
  /** Path relative to the world directory. */
  readonly file: string;
  readonly householdId: string;
  readonly governorate: number;
  readonly cardSerial: number;
  readonly keyId: string;
  readonly members: readonly { index: number; role: MemberRoleName; name?: string }[];
  readonly validFrom: number;
  readonly validUntil: number;
  readonly rosterState: CardStateName;
  readonly revoked: boolean;
  /** What the card is in the demo for. */
  readonly purpose: string;
}

/** One firmware image in the manifest. */
export interface ManifestFirmware {
  readonly file: string;
  readonly version: readonly [number, number, number];
  readonly antiRollback: number;
  readonly size: number;
  readonly bodyHash: string;
  /** What a terminal with the factory image does with it. */
  readonly expect: 'factory' | 'accepted' | 'FIRMWARE_DOWNGRADE' | 'FIRMWARE_BAD_SIGNATURE' | 'FIRMWARE_HASH_MISMATCH';
}

/** manifest.json. Paths are relative to the world directory. */
export interface DemoManifest {
  readonly format: typeof DEMO_MANIFEST_FORMAT;
  readonly createdAt: number;
  readonly issuer: { readonly keyFile: string; readonly publicKeyFile: string; readonly keyId: string };
  readonly vendor: { readonly keyFile: string; readonly publicKeyFile: string; readonly keyId: string; readonly name: string };
  readonly terminals: readonly {
    readonly terminalId: string;
    readonly keyFile: string;
    readonly identityFile: string;
    readonly identityBase: string;
    readonly keyId: string;
    readonly vendor: string;
    readonly model: string;
  }[];
  readonly cards: readonly ManifestCard[];
  readonly roster: { readonly file: string; readonly sequence: number };
  readonly revocation: { readonly file: string; readonly sequence: number };
  readonly firmware: Readonly<Record<'factory' | 'update' | 'downgrade' | 'forged' | 'tampered', ManifestFirmware>>;
}

interface DemoCard {
  cardId: string;
  householdId: string;
  governorate: number;
  members: NewMember[];
  state: CardStateName;
  /** Days before now the state began (default: since validity start). */
  stateDaysAgo?: number;
  cardSerial?: number;
  expired?: boolean;
  revoked?: 'replaced';
  purpose: string;
}

const DEMO_CARDS: DemoCard[] = [
  {
    cardId: 'PSD-000001',
    householdId: 'HH-03-000001',
    governorate: Governorate.port_said,
    members: [
      { role: 'head', name: 'محمد عبد الله السيد' },
      { role: 'spouse', name: 'فاطمة أحمد حسن' },
      { role: 'dependant', name: 'أحمد محمد عبد الله' },
      { role: 'dependant', name: 'مريم محمد عبد الله' },
      { role: 'dependant', name: 'يوسف محمد عبد الله' },
    ],
    state: 'active',
    purpose: 'household of 5 in Port Said (bread: 2 days at once; ration: 4 × EGP 50 + EGP 25)',
  },
  {
    cardId: 'PSD-000002',
    householdId: 'HH-03-000002',
    governorate: Governorate.port_said,
    members: [
      { role: 'head', name: 'سعيد إبراهيم علي' },
      { role: 'spouse', name: 'زينب محمود سالم' },
    ],
    state: 'active',
    purpose: 'elderly couple in Port Said (fingerprint retries, another member verifies)',
  },
  {
    cardId: 'PSD-000003',
    householdId: 'HH-03-000003',
    governorate: Governorate.port_said,
    members: [{ role: 'head', name: 'نادية عبد الرحمن فؤاد' }],
    state: 'suspended',
    stateDaysAgo: 1,
    purpose: 'reported lost yesterday: suspended',
  },
  {
    cardId: 'PSD-000004',
    householdId: 'HH-03-000004',
    governorate: Governorate.port_said,
    members: [
      { role: 'head', name: 'كريم حسن مصطفى' },
      { role: 'spouse', name: 'هبة سامي عادل' },
      { role: 'dependant', name: 'عمر كريم حسن' },
    ],
    state: 'replaced',
    stateDaysAgo: 10,
    revoked: 'replaced',
    purpose: 'replaced card (refused at once, also on the revocation list)',
  },
  {
    cardId: 'PSD-000005',
    householdId: 'HH-03-000004',
    governorate: Governorate.port_said,
    members: [
      { role: 'head', name: 'كريم حسن مصطفى' },
      { role: 'spouse', name: 'هبة سامي عادل' },
      { role: 'dependant', name: 'عمر كريم حسن' },
    ],
    state: 'active',
    stateDaysAgo: 10,
    cardSerial: 2,
    purpose: 'replacement card of household HH-03-000004',
  },
  {
    cardId: 'PSD-000006',
    householdId: 'HH-03-000006',
    governorate: Governorate.port_said,
    members: [
      { role: 'head', name: 'رانيا طارق شوقي' },
      { role: 'dependant', name: 'ياسين محمود عبد الحميد' },
    ],
    state: 'not_activated',
    purpose: 'issued but not yet activated',
  },
  {
    cardId: 'PSD-000007',
    householdId: 'HH-03-000007',
    governorate: Governorate.port_said,
    members: [{ role: 'head', name: 'عبد الفتاح حسين درويش' }],
    state: 'active',
    expired: true,
    purpose: 'expired certificate',
  },
  {
    cardId: 'CAI-000001',
    householdId: 'HH-01-000001',
    governorate: Governorate.cairo,
    members: [
      { role: 'head', name: 'مصطفى كمال عبد العزيز' },
      { role: 'spouse', name: 'سارة يوسف منصور' },
      { role: 'dependant', name: 'ليلى مصطفى كمال' },
      { role: 'dependant', name: 'علي مصطفى كمال' },
    ],
    state: 'active',
    purpose: 'household of 4 from Cairo (refused in a Port Said shop without a policy exception)',
  },
];

export interface DemoWorldOptions {
  /** Firmware body size in bytes (default 65,536). */
  firmwareSize?: number;
  force?: boolean;
}

/** Creates the demo world in `dir` and returns its manifest (also written to manifest.json). */
export async function demoWorld(ctx: ToolkitContext, dir: string, options: DemoWorldOptions = {}): Promise<DemoManifest> {
  const rel = (p: string): string => relative(dir, p);
  const force = options.force ?? false;
  const now = Math.floor(ctx.nowMs() / 1000);
  const day = 86_400;

  const issuer = await initIssuer(ctx, { dir, force });
  const vendor = await initVendor(ctx, { dir, force });
  const terminal = await makeTerminal(ctx, {
    dir,
    vendorKeyPath: vendor.keyPath,
    terminalId: DEMO_TERMINAL_ID,
    vendor: DEMO_VENDOR,
    model: DEMO_MODEL,
    force,
  });

  const made: { spec: DemoCard; result: CardResult }[] = [];
  for (const spec of DEMO_CARDS) {
    const validFrom = spec.expired ? now - 5 * 365 * day - 30 * day : now - 30 * day;
    const validUntil = spec.expired ? now - 30 * day : validFrom + 5 * 365 * day;
    const result = await makeCard(ctx, {
      dir,
      issuerKeyPath: issuer.keyPath,
      cardId: spec.cardId,
      householdId: spec.householdId,
      governorate: spec.governorate,
      members: spec.members,
      cardSerial: spec.cardSerial ?? 1,
      validFrom,
      validUntil,
      force,
    });
    made.push({ spec, result });
  }

  const states = new Map(
    made.map(({ spec, result }) => [
      spec.cardId,
      { state: spec.state, since: spec.stateDaysAgo !== undefined ? now - spec.stateDaysAgo * day : result.validFrom },
    ]),
  );
  const roster = await makeRoster(ctx, { dir, issuerKeyPath: issuer.keyPath, cardPaths: made.map((m) => m.result.cardPath), states });
  const revocation = await makeRevocation(ctx, {
    dir,
    issuerKeyPath: issuer.keyPath,
    cards: made
      .filter((m) => m.spec.revoked)
      .map((m) => ({ cardId: m.spec.cardId, cardSerial: m.result.cardSerial, revokedAt: now - (m.spec.stateDaysAgo ?? 0) * day, reason: m.spec.revoked! })),
    terminals: [{ terminalId: 'SIM0666', revokedAt: now - 60 * day, reason: 'compromised' }],
  });

  const size = options.firmwareSize ?? 65_536;
  const fw = { dir, vendorKeyPath: vendor.keyPath, vendor: DEMO_VENDOR, model: DEMO_MODEL, size };
  const factory = await makeFirmware(ctx, { ...fw, version: [1, 0, 0], antiRollback: 1 });
  const update = await makeFirmware(ctx, { ...fw, version: [1, 1, 0], antiRollback: 2 });
  const downgrade = await makeFirmware(ctx, { ...fw, version: [0, 9, 0], antiRollback: 0 });
  // Signed by a key no terminal trusts (generated here and thrown away).
  const forger = keyPairFromSeed('vendor-root', ctx.random(32), ctx.ed);
  const forged = await writeFirmware(ctx, { ...fw, version: [1, 1, 0], antiRollback: 2, out: 'firmware-1.1.0-forged.img' }, forger);
  // A genuine header with a body that was altered after signing.
  const genuine = decodeFirmwareImage(new Uint8Array(await readFile(update.path)));
  const altered = Uint8Array.from(genuine.body);
  altered[altered.length >> 1]! ^= 0x01;
  const tamperedPath = join(dir, 'firmware-1.1.0-tampered.img');
  await writeFileAtomic(tamperedPath, encodeFirmwareImage(genuine.header, altered), { mode: 0o644 });
  const tampered: FirmwareResult = { ...update, path: tamperedPath };

  const fwEntry = (r: FirmwareResult, expect: ManifestFirmware['expect']): ManifestFirmware => ({
    file: rel(r.path),
    version: r.version,
    antiRollback: r.antiRollback,
    size: r.size,
    bodyHash: r.bodyHash,
    expect,
  });

  const manifest: DemoManifest = {
    format: DEMO_MANIFEST_FORMAT,
    createdAt: now,
    issuer: { keyFile: rel(issuer.keyPath), publicKeyFile: rel(issuer.publicKeyPath), keyId: issuer.keyId },
    vendor: { keyFile: rel(vendor.keyPath), publicKeyFile: rel(vendor.publicKeyPath), keyId: vendor.keyId, name: DEMO_VENDOR },
    terminals: [
      {
        terminalId: terminal.terminalId,
        keyFile: rel(terminal.keyPath),
        identityFile: rel(terminal.identityPath),
        identityBase: rel(terminal.identityBase),
        keyId: terminal.keyId,
        vendor: DEMO_VENDOR,
        model: DEMO_MODEL,
      },
    ],
    cards: made.map(({ spec, result }) => ({
      cardId: result.cardId,
      file: rel(result.cardPath),
      householdId: result.householdId,
      governorate: result.governorate,
      cardSerial: result.cardSerial,
      keyId: result.keyId,
      members: result.members,
      validFrom: result.validFrom,
      validUntil: result.validUntil,
      rosterState: spec.state,
      revoked: spec.revoked !== undefined,
      purpose: spec.purpose,
    })),
    roster: { file: rel(roster.path), sequence: roster.sequence },
    revocation: { file: rel(revocation.path), sequence: revocation.sequence },
    firmware: {
      factory: fwEntry(factory, 'factory'),
      update: fwEntry(update, 'accepted'),
      downgrade: fwEntry(downgrade, 'FIRMWARE_DOWNGRADE'),
      forged: fwEntry(forged, 'FIRMWARE_BAD_SIGNATURE'),
      tampered: fwEntry(tampered, 'FIRMWARE_HASH_MISMATCH'),
    },
  };
  await writeFileAtomic(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o644 });
  return manifest;
}
