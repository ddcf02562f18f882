/**
 * The methods of the daemon-core issue: status, terminals.list, terminals.claim,
 * terminals.release, subscribe, unsubscribe (hello lives in the transport).
 */
import { ApiError, notClaimed, unknownTerminal } from './api-errors.js';
import { terminalStateError } from './api-connection.js';
import type { ClaimResult, ReleaseResult, StatusResult, SubscriptionResult, TerminalsListResult } from './api-types.js';
import { describe } from './claim-registry.js';
import type { MethodRegistry } from './method-registry.js';

/** Longest a claim may wait (10 minutes): a shop client that wants longer asks again. */
export const MAX_CLAIM_WAIT_MS = 600_000;

/** Longest terminal id accepted. */
const MAX_TERMINAL_ID = 128;

/** Adds the core methods. `status` comes from the server, which knows its own counters. */
export function registerCoreMethods(registry: MethodRegistry, status: () => StatusResult): void {
  registry.register({
    name: 'status',
    params: (r) => r.done(),
    handler: (): StatusResult => status(),
  });

  registry.register({
    name: 'terminals.list',
    params: (r) => r.done(),
    handler: (_p, ctx): TerminalsListResult => ({ terminals: ctx.manager.list().map((t) => ctx.view(t)) }),
  });

  registry.register({
    name: 'terminals.claim',
    params: (r) => ({
      terminalId: r.string('terminalId', MAX_TERMINAL_ID),
      waitMs: r.optionalInt('waitMs', 0, MAX_CLAIM_WAIT_MS) ?? 0,
    }),
    handler: async ({ terminalId, waitMs }, ctx): Promise<ClaimResult> => {
      const info = ctx.terminal(terminalId);
      // A terminal this connection already holds stays its own whatever its state (a claim
      // survives an unplug); a new claim needs a terminal that can be driven now.
      if (ctx.claims.holder(terminalId)?.connectionId !== ctx.client.connectionId) {
        const stateError = terminalStateError(info);
        if (stateError !== undefined) throw stateError;
      }
      const owner = {
        connectionId: ctx.client.connectionId,
        name: ctx.client.name,
        ...(ctx.client.client === undefined ? {} : { client: ctx.client.client }),
      };
      const grant = await ctx.claims.claim(terminalId, owner, waitMs);
      if (ctx.signal.aborted) throw new ApiError('SHUTTING_DOWN');
      return {
        terminalId,
        alreadyHeld: grant.alreadyHeld,
        waitedMs: grant.waitedMs,
        terminal: ctx.view(ctx.manager.get(terminalId) ?? info),
      };
    },
  });

  registry.register({
    name: 'terminals.release',
    params: (r) => ({ terminalId: r.string('terminalId', MAX_TERMINAL_ID) }),
    handler: ({ terminalId }, ctx): ReleaseResult => {
      const outcome = ctx.claims.release(terminalId, ctx.client.connectionId);
      if (outcome === 'released') return { terminalId, released: true };
      if (outcome === 'held-by-other') {
        const holder = ctx.claims.holder(terminalId);
        throw notClaimed(terminalId, holder === undefined ? undefined : describe(holder));
      }
      if (ctx.manager.get(terminalId) === undefined) throw unknownTerminal(terminalId);
      return { terminalId, released: false };
    },
  });

  registry.register({
    name: 'subscribe',
    params: (r) => ({ events: r.stringArray('events') }),
    handler: ({ events }, ctx): SubscriptionResult => {
      checkEvents(events, ctx.eventNames());
      ctx.subscribe(events);
      return { events: ctx.subscriptions() };
    },
  });

  registry.register({
    name: 'unsubscribe',
    params: (r) => ({ events: r.optionalStringArray('events') }),
    handler: ({ events }, ctx): SubscriptionResult => {
      if (events !== undefined) checkEvents(events, ctx.eventNames());
      ctx.unsubscribe(events);
      return { events: ctx.subscriptions() };
    },
  });
}

/** Event names are checked against the server's list (which later issues extend). */
function checkEvents(events: readonly string[], known: readonly string[]): void {
  for (const [i, name] of events.entries()) {
    if (!known.includes(name)) {
      const list = known.join(', ');
      throw new ApiError('INVALID_PARAMS', {
        en: `Parameter "events[${i}]" must be one of: ${list}.`,
        ar: `الحقل "events[${i}]" يجب أن يكون واحدًا من: ${list}.`,
        detail: { field: `events[${i}]` },
      });
    }
  }
}
