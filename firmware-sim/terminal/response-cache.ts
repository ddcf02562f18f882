/**
 * The exactly-once cache: the finished responses of the most recent requests, by request id,
 * with the canonical bytes of the request they answered. A repeated id with the same bytes
 * is answered from here (re-sealed, never re-executed); the same id with other bytes is
 * REQUEST_ID_REUSED. The protocol requires at least 32 entries; the oldest finished entry is
 * evicted first.
 */

/** Entries the reference terminal keeps (the protocol's minimum is 32). */
export const RESPONSE_CACHE_CAPACITY = 64;

/** A finished request and what it was answered with. */
export interface CachedResponse {
  /** Canonical CBOR of the request (after unsealing). */
  readonly request: Uint8Array;
  /** The response message bytes as first sent, before sealing. */
  readonly response: Uint8Array;
}

/** What the cache says about an incoming request. */
export type CacheLookup =
  | { readonly kind: 'miss' }
  | { readonly kind: 'hit'; readonly response: Uint8Array }
  | { readonly kind: 'conflict' };

/** Bounded map from request id to {@link CachedResponse}, evicting the oldest. */
export class ResponseCache {
  private readonly entries = new Map<number, CachedResponse>();

  constructor(readonly capacity = RESPONSE_CACHE_CAPACITY) {
    if (!Number.isInteger(capacity) || capacity < 32) throw new RangeError('the response cache holds at least 32 entries');
  }

  /** Compares an incoming request with what is remembered under its id. */
  lookup(id: number, request: Uint8Array): CacheLookup {
    const hit = this.entries.get(id);
    if (hit === undefined) return { kind: 'miss' };
    return sameBytes(hit.request, request) ? { kind: 'hit', response: hit.response } : { kind: 'conflict' };
  }

  /** Remembers a finished request (replacing an older entry under the same id). */
  put(id: number, entry: CachedResponse): void {
    this.entries.delete(id);
    this.entries.set(id, { request: entry.request.slice(), response: entry.response.slice() });
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value as number;
      this.entries.delete(oldest);
    }
  }

  /** Number of entries held. */
  get size(): number {
    return this.entries.size;
  }
}

/** Byte equality (request bodies are not secret: no constant-time need). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
