/**
 * The dispensing methods of the local API: authorize, authorize.cancel, commit, void,
 * balance, receipts.list, and the event `authorization.progress`. See DISPENSE-API.md.
 *
 * unicardd calls {@link startDispensing} once at startup (after the trust store is open):
 * it reads `<dataDir>/dispense.json`, opens the ledger and registers the methods. Without
 * that file the methods still exist and answer DISPENSE_UNAVAILABLE, so a shop program gets a
 * clear answer instead of METHOD_NOT_FOUND.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fastestEd25519 } from '../../protocol/crypto/ed25519.js';
import type { Ed25519 } from '../../protocol/crypto/ed25519.js';
import type { TrustedKeys } from '../../protocol/crypto/signed-structure.js';
import { invalidParams, type ApiLogger, type ApiServer, type MethodContext, type ParamReader } from '../api/index.js';
import { Ledger } from '../ledger/ledger.js';
import { DISPENSE_CONFIG_FILE, loadDispenseConfig, type LoadedDispenseConfig } from './dispense-config.js';
import { DispenseError } from './dispense-errors.js';
import { DispenseService, type AuthorizeRequest, type ItemLine } from './dispense-service.js';

/** The progress event of a running authorize. */
export const PROGRESS_EVENT = 'authorization.progress';
/** The event sent when the daemon voids expired authorizations. */
export const EXPIRED_EVENT = 'authorization.expired';

/** Method names this module registers. */
export const DISPENSE_METHODS = ['authorize', 'authorize.cancel', 'commit', 'void', 'balance', 'receipts.list'] as const;

const SHOP_ROLES = ['shop'] as const;
const MAX_KEY = 128;
const MAX_ITEMS = 64;

function readItems(reader: ParamReader, name: string): ItemLine[] | undefined {
  const v = reader.unchecked(name);
  if (v === undefined) return undefined;
  const bad = (field: string): never => {
    throw invalidParams(field, {
      kind: 'type',
      en: `a list of {"item": "<id>", "quantity": <whole number ≥ 1>} (1..${MAX_ITEMS} lines)`,
      ar: `قائمة من {"item": "<السلعة>", "quantity": <عدد صحيح ≥ 1>} (من 1 إلى ${MAX_ITEMS} بند)`,
    });
  };
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_ITEMS) bad(name);
  return (v as unknown[]).map((x, i) => {
    if (x === null || typeof x !== 'object' || Array.isArray(x)) bad(`${name}[${i}]`);
    const o = x as Record<string, unknown>;
    if (Object.keys(o).some((k) => k !== 'item' && k !== 'quantity')) bad(`${name}[${i}]`);
    if (typeof o.item !== 'string' || o.item.length === 0 || o.item.length > 32) bad(`${name}[${i}].item`);
    if (typeof o.quantity !== 'number' || !Number.isSafeInteger(o.quantity) || o.quantity < 1 || o.quantity > 100_000) bad(`${name}[${i}].quantity`);
    return { item: o.item as string, quantity: o.quantity as number };
  });
}

function readAuthorize(reader: ParamReader): AuthorizeRequest {
  const terminalId = reader.string('terminalId', 64);
  const service = reader.string('service', 16);
  if (service !== 'bread' && service !== 'ration') throw invalidParams('service', { kind: 'type', en: '"bread" or "ration"', ar: '"bread" أو "ration"' });
  const quantity = reader.optionalInt('quantity', 1, 100_000);
  const items = readItems(reader, 'items');
  if (service === 'bread' && quantity === undefined) throw invalidParams('quantity', { kind: 'missing' });
  if (service === 'bread' && items !== undefined) throw invalidParams('items', { kind: 'unknown' });
  if (service === 'ration' && items === undefined) throw invalidParams('items', { kind: 'missing' });
  if (service === 'ration' && quantity !== undefined) throw invalidParams('quantity', { kind: 'unknown' });
  const idempotencyKey = reader.string('idempotencyKey', MAX_KEY);
  const member = reader.optionalInt('member', 0, 254);
  const holder = reader.optionalString('holder', 8);
  if (holder !== undefined && holder !== 'any') throw invalidParams('holder', { kind: 'type', en: '"any"', ar: '"any"' });
  const supervisorId = reader.optionalString('supervisorId', 64) ?? reader.optionalString('supervisorCardId', 64);
  const shopId = reader.optionalString('shopId', 64);
  reader.done();
  return {
    terminalId,
    service,
    ...(quantity === undefined ? {} : { quantity }),
    ...(items === undefined ? {} : { items }),
    idempotencyKey,
    ...(member === undefined ? {} : { member }),
    ...(holder === undefined ? {} : { holder: 'any' as const }),
    ...(supervisorId === undefined ? {} : { supervisorId }),
    ...(shopId === undefined ? {} : { shopIdAsked: shopId }),
  } as AuthorizeRequest;
}

/** What {@link registerDispenseMethods} needs. */
export interface DispenseMethodDeps {
  /** The service, or undefined when dispensing is not set up (methods answer DISPENSE_UNAVAILABLE). */
  readonly service: DispenseService | undefined;
  readonly logger?: ApiLogger;
}

/** Registers the dispensing methods and events on an API server (before or after start). */
export function registerDispenseMethods(server: ApiServer, deps: DispenseMethodDeps): void {
  const svc = (): DispenseService => {
    if (deps.service === undefined) throw new DispenseError('DISPENSE_UNAVAILABLE', { detail: { file: DISPENSE_CONFIG_FILE } });
    return deps.service;
  };
  const log = deps.logger;
  server.registerEvent(PROGRESS_EVENT);
  server.registerEvent(EXPIRED_EVENT);
  /** Authorizes running per terminal, to cancel them from another call. */
  const running = new Map<string, { connectionId: number; abort: AbortController }>();

  server.methods.register({
    name: 'authorize',
    roles: SHOP_ROLES,
    params: readAuthorize,
    handler: async (p: AuthorizeRequest & { shopIdAsked?: string }, ctx: MethodContext) => {
      const s = svc();
      if (p.shopIdAsked !== undefined && p.shopIdAsked !== s.settings.shopId) {
        throw invalidParams('shopId', { kind: 'type', en: `this shop's id (${s.settings.shopId})`, ar: `رقم هذا المحل (${s.settings.shopId})` });
      }
      const { shopIdAsked: _ignored, ...req } = p;
      const { session } = ctx.requireClaim(req.terminalId);
      // One signal for "the client went away" and "authorize.cancel": a listener removed in
      // `finally`, not AbortSignal.any, whose dependants pile up on the connection's signal
      // until a GC in Node 20 (one per authorize, for as long as the connection lives).
      const abort = new AbortController();
      const onClientGone = (): void => abort.abort();
      if (ctx.signal.aborted) abort.abort();
      else ctx.signal.addEventListener('abort', onClientGone, { once: true });
      const signal = abort.signal;
      running.set(req.terminalId, { connectionId: ctx.client.connectionId, abort });
      const started = Date.now();
      try {
        const view = await s.authorize(req, {
          clientId: ctx.client.name,
          session,
          signal,
          progress: (stage, detail) => ctx.notify(PROGRESS_EVENT, { terminalId: req.terminalId, idempotencyKey: req.idempotencyKey, stage, ...(detail ?? {}) }),
        });
        log?.info({ terminalId: req.terminalId, authorizationId: view.authorizationId, approved: view.approvedQuantity, replayed: view.replayed, ms: Date.now() - started }, 'authorized');
        return view;
      } catch (e) {
        log?.info({ terminalId: req.terminalId, refused: (e as { code?: string }).code, ms: Date.now() - started }, 'authorize refused');
        throw e;
      } finally {
        ctx.signal.removeEventListener('abort', onClientGone);
        if (running.get(req.terminalId)?.abort === abort) running.delete(req.terminalId);
      }
    },
  });

  server.methods.register({
    name: 'authorize.cancel',
    roles: SHOP_ROLES,
    concurrent: true,
    params: (r) => {
      const terminalId = r.string('terminalId', 64);
      r.done();
      return { terminalId };
    },
    handler: ({ terminalId }, ctx) => {
      const run = running.get(terminalId);
      if (run === undefined || run.connectionId !== ctx.client.connectionId) return { terminalId, cancelled: false };
      run.abort.abort();
      return { terminalId, cancelled: true };
    },
  });

  server.methods.register({
    name: 'commit',
    roles: SHOP_ROLES,
    params: (r) => {
      const authorizationId = r.string('authorizationId', 64);
      const quantity = r.optionalInt('quantity', 0, 100_000);
      const items = readItems(r, 'items');
      const idempotencyKey = r.optionalString('idempotencyKey', MAX_KEY);
      r.done();
      if (quantity === undefined && items === undefined) throw invalidParams('quantity', { kind: 'missing' });
      if (quantity !== undefined && items !== undefined) throw invalidParams('items', { kind: 'unknown' });
      return { authorizationId, dispensed: (quantity ?? items) as number | ItemLine[], idempotencyKey };
    },
    handler: ({ authorizationId, dispensed }, ctx) => svc().commit(ctx.client.name, authorizationId, dispensed),
  });

  server.methods.register({
    name: 'void',
    roles: SHOP_ROLES,
    params: (r) => {
      const authorizationId = r.string('authorizationId', 64);
      const idempotencyKey = r.optionalString('idempotencyKey', MAX_KEY);
      r.done();
      return { authorizationId, idempotencyKey };
    },
    handler: ({ authorizationId }, ctx) => svc().void(ctx.client.name, authorizationId),
  });

  server.methods.register({
    name: 'balance',
    roles: SHOP_ROLES,
    params: (r) => {
      const terminalId = r.string('terminalId', 64);
      const waitMs = r.optionalInt('waitMs', 0, 600_000) ?? 1000;
      r.done();
      return { terminalId, waitMs };
    },
    handler: ({ terminalId, waitMs }, ctx) => {
      const s = svc();
      const { session } = ctx.requireClaim(terminalId);
      return s.balance(session, waitMs, ctx.signal);
    },
  });

  server.methods.register({
    name: 'receipts.list',
    roles: SHOP_ROLES,
    params: (r) => {
      const since = r.optionalInt('since', 0, Number.MAX_SAFE_INTEGER);
      const sinceTime = r.optionalInt('sinceTime', 0, Number.MAX_SAFE_INTEGER);
      const limit = r.optionalInt('limit', 1, 10_000);
      r.done();
      return { since, sinceTime, limit };
    },
    handler: ({ since, sinceTime, limit }) => {
      const receipts = svc().receipts({
        ...(since === undefined ? {} : { sinceSeq: since }),
        ...(sinceTime === undefined ? {} : { sinceTime }),
        ...(limit === undefined ? {} : { limit }),
      });
      return { receipts, last: receipts.at(-1)?.seq ?? since ?? 0 };
    },
  });
}

/** A running dispensing setup: the service (if configured) and how to stop it. */
export interface Dispensing {
  readonly service: DispenseService | undefined;
  readonly config: LoadedDispenseConfig | undefined;
  /** Stops the sweeper and closes the ledger. Idempotent. */
  close(): void;
}

/** Options of {@link startDispensing}. */
export interface StartDispensingOptions {
  readonly dataDir: string;
  /** Issuer roots (cards, roster, revocation list, policy). */
  readonly issuerKeys: TrustedKeys;
  readonly ed?: Ed25519;
  readonly logger?: ApiLogger;
  /** Default `<dataDir>/dispense.json`. */
  readonly configPath?: string;
  /** Unix ms (tests). */
  readonly clock?: () => number;
}

/**
 * Loads dispense.json (when present), opens the ledger, starts the expiry sweeper and
 * registers the methods on `server`. Throws DispenseConfigError for a bad file (the daemon
 * treats it like a bad config: exit 2).
 */
export async function startDispensing(server: ApiServer, o: StartDispensingOptions): Promise<Dispensing> {
  const ed = o.ed ?? fastestEd25519();
  const path = o.configPath ?? join(o.dataDir, DISPENSE_CONFIG_FILE);
  if (!existsSync(path)) {
    o.logger?.warn({ file: path }, `no ${DISPENSE_CONFIG_FILE}: dispensing methods answer DISPENSE_UNAVAILABLE`);
    registerDispenseMethods(server, { service: undefined, ...(o.logger === undefined ? {} : { logger: o.logger }) });
    return { service: undefined, config: undefined, close: () => undefined };
  }
  const config = await loadDispenseConfig(path, { dataDir: o.dataDir, issuerKeys: o.issuerKeys, ed });
  const ledger = Ledger.open(config.ledgerPath, { daemonSeed: config.daemonSeed, ed, ...(o.clock === undefined ? {} : { clock: o.clock }) });
  const service = new DispenseService({
    ledger,
    policies: config.policies,
    roster: config.roster,
    revocation: config.revocation,
    issuerKeys: o.issuerKeys,
    ed,
    settings: config.settings,
    ...(o.clock === undefined ? {} : { clock: o.clock }),
  });
  service.startSweeper(1000, (ids) => {
    o.logger?.info({ authorizations: ids }, 'expired authorizations voided');
    server.publish(EXPIRED_EVENT, { authorizationIds: ids, at: Date.now() });
  });
  registerDispenseMethods(server, { service, ...(o.logger === undefined ? {} : { logger: o.logger }) });
  o.logger?.info({ shopId: config.settings.shopId, ledger: config.ledgerPath, roster: config.roster.sequence, revocation: config.revocation?.sequence ?? null }, 'dispensing ready');
  let closed = false;
  return {
    service,
    config,
    close: () => {
      if (closed) return;
      closed = true;
      service.stop();
      ledger.close();
    },
  };
}
