import { describe, expect, it } from 'vitest';
import { ApiError } from './api-errors.js';
import { ClaimRegistry, type ClaimChange } from './claim-registry.js';

const A = { connectionId: 1, name: 'pos-a' };
const B = { connectionId: 2, name: 'pos-b', client: 'till 2' };
const C = { connectionId: 3, name: 'pos-c' };

function settled<T>(p: Promise<T>): { state: () => 'pending' | 'resolved' | 'rejected'; value: () => unknown } {
  let state: 'pending' | 'resolved' | 'rejected' = 'pending';
  let value: unknown;
  p.then(
    (v) => ((state = 'resolved'), (value = v)),
    (e: unknown) => ((state = 'rejected'), (value = e)),
  );
  return { state: () => state, value: () => value };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('ClaimRegistry', () => {
  it('grants a free terminal, repeats are alreadyHeld, others are refused at once without a wait', async () => {
    let now = 100;
    const changes: ClaimChange[] = [];
    const r = new ClaimRegistry({ now: () => now, onChange: (c) => changes.push(c) });
    expect(await r.claim('T1', A, 0)).toEqual({ alreadyHeld: false, waitedMs: 0 });
    expect(await r.claim('T1', A, 0)).toEqual({ alreadyHeld: true, waitedMs: 0 });
    await expect(r.claim('T1', B, 0)).rejects.toMatchObject({ code: 'TERMINAL_BUSY', detail: { terminalId: 'T1', holder: { name: 'pos-a' } } });
    expect(r.holder('T1')).toBe(A);
    expect(r.heldSince('T1')).toBe(100);
    expect(r.heldBy(1)).toEqual(['T1']);
    now = 150;
    expect(r.release('T1', 2)).toBe('held-by-other');
    expect(r.release('T1', 1)).toBe('released');
    expect(r.release('T1', 1)).toBe('not-claimed');
    expect(r.size).toBe(0);
    expect(changes.map((c) => c.kind)).toEqual(['granted', 'released']);
  });

  it('waiters are served in order; a released terminal goes to the first', async () => {
    let now = 0;
    const r = new ClaimRegistry({ now: () => now });
    await r.claim('T1', A, 0);
    const b = settled(r.claim('T1', B, 60_000));
    const c = settled(r.claim('T1', C, 60_000));
    expect(r.waiting('T1')).toEqual([B, C]);
    // A connection already in line cannot queue twice.
    await expect(r.claim('T1', B, 60_000)).rejects.toMatchObject({ code: 'TERMINAL_BUSY' });
    now = 40;
    r.release('T1', A.connectionId);
    await tick();
    expect(b.state()).toBe('resolved');
    expect(b.value()).toEqual({ alreadyHeld: false, waitedMs: 40 });
    expect(c.state()).toBe('pending');
    expect(r.holder('T1')).toBe(B);
    r.dropConnection(B.connectionId, new ApiError('SHUTTING_DOWN'));
    await tick();
    expect(c.state()).toBe('resolved');
    expect(r.holder('T1')).toBe(C);
  });

  it('dropConnection withdraws the connection\'s waits and releases its claims', async () => {
    const r = new ClaimRegistry();
    await r.claim('T1', A, 0);
    await r.claim('T2', B, 0);
    const bWait = settled(r.claim('T1', B, 60_000));
    const cWait = settled(r.claim('T1', C, 60_000));
    expect(r.dropConnection(B.connectionId, new ApiError('SHUTTING_DOWN'))).toEqual(['T2']);
    await tick();
    expect(bWait.state()).toBe('rejected');
    expect(r.waiting('T1')).toEqual([C]);
    expect(r.holder('T2')).toBeUndefined();
    r.rejectAllWaiters(new ApiError('SHUTTING_DOWN'));
    await tick();
    expect(cWait.state()).toBe('rejected');
    expect((cWait.value() as ApiError).code).toBe('SHUTTING_DOWN');
    expect(r.holder('T1')).toBe(A);
  });

  it('a wait that runs out rejects with TERMINAL_BUSY and leaves the line', async () => {
    const r = new ClaimRegistry();
    await r.claim('T1', A, 0);
    const e = await r.claim('T1', B, 5).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'TERMINAL_BUSY', detail: { holder: { name: 'pos-a' } } });
    expect(r.waiting('T1')).toEqual([]);
    r.release('T1', A.connectionId);
    expect(r.holder('T1')).toBeUndefined();
  });
});
