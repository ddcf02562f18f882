import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { GroupCommitQueue, KeptRefusal } from './group-commit.js';
import { LedgerError } from './ledger-error.js';
import { LedgerHarness } from './ledger-test-kit.js';
import { verifyLedger } from './verify-ledger.js';

const harnesses: LedgerHarness[] = [];
afterEach(() => {
  for (const h of harnesses.splice(0)) h.dispose();
});

describe('GroupCommitQueue', () => {
  function queue(db: Database.Database) {
    let state = 0;
    const q = new GroupCommitQueue<number>(db, {
      begin: () => undefined,
      snapshot: () => state,
      restore: (s) => {
        state = s;
      },
      failed: () => {
        state = -1;
      },
    });
    return {
      q,
      get state() {
        return state;
      },
      set state(v: number) {
        state = v;
      },
    };
  }

  it('runs the writes of one event-loop turn in one transaction, each rolled back alone on failure', async () => {
    const db = new Database(':memory:');
    db.exec('CREATE TABLE t (x INTEGER PRIMARY KEY)');
    const box = queue(db);
    const insert = db.prepare('INSERT INTO t VALUES (?)');
    const results = await Promise.allSettled([
      box.q.run(() => {
        insert.run(1);
        box.state = 1;
        return 'one';
      }),
      box.q.run(() => {
        insert.run(2);
        box.state = 2;
        throw new LedgerError('COMMIT_EXCEEDS_APPROVED', 'refused');
      }),
      box.q.run(() => {
        insert.run(3);
        return new KeptRefusal(new LedgerError('AUTHORIZATION_EXPIRED', 'kept and refused'));
      }),
      box.q.run(() => {
        insert.run(1); // duplicate key: an SQLite error becomes a LedgerError
        return 'never';
      }),
    ]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: 'one' });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: { code: 'COMMIT_EXCEEDS_APPROVED' } });
    expect(results[2]).toMatchObject({ status: 'rejected', reason: { code: 'AUTHORIZATION_EXPIRED' } });
    expect(results[3]).toMatchObject({ status: 'rejected', reason: expect.any(LedgerError) });
    // Write 2 rolled back (row and in-memory state), write 3 kept.
    expect(db.prepare('SELECT x FROM t ORDER BY x').all()).toEqual([{ x: 1 }, { x: 3 }]);
    expect(box.state).toBe(1);
    expect(box.q.counts).toEqual({ batches: 1, writes: 4 });
    await box.q.idle();
    db.close();
  });

  it('rejects the whole batch and resets its owner when the transaction cannot start', async () => {
    const db = new Database(':memory:');
    const box = queue(db);
    db.exec('BEGIN'); // someone else's transaction is open on this connection
    await expect(box.q.run(() => 1)).rejects.toBeInstanceOf(LedgerError);
    db.exec('ROLLBACK');
    await expect(box.q.run(() => 2)).resolves.toBe(2);
    db.close();
  });
});

describe('group commit in the ledger', () => {
  it('commits many concurrent writes in few transactions, all durable, chain intact, no duplicates', async () => {
    const h = new LedgerHarness('group');
    harnesses.push(h);
    const n = 120;
    const cards = Array.from({ length: 24 }, (_, i) => h.world.card(`H${i}`, 2));
    const requests = Array.from({ length: n }, (_, i) => h.bread(cards[i % cards.length]!, { perDay: 1, days: 1 }));
    const before = h.ledger.stats();
    const created = await Promise.all(requests.map((r) => h.ledger.createAuthorization(r)));
    // Commit every authorization, most of them twice at the same time (a client retrying).
    const commits = await Promise.all(created.flatMap(({ authorization }, i) => (i % 3 === 0 ? [h.ledger.commit(authorization.id, 1)] : [h.ledger.commit(authorization.id, 1), h.ledger.commit(authorization.id, 1)])));
    const after = h.ledger.stats();
    const batches = after.batches - before.batches;
    const writes = after.writes - before.writes;
    expect(writes).toBe(n + commits.length);
    expect(batches).toBeLessThan(writes / 10);
    const seqs = new Set(commits.map((c) => c.receipt.seq));
    expect(seqs.size).toBe(n);
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(commits.filter((c) => !c.replayed)).toHaveLength(n);
    // Durable: a second connection (as after a crash) sees every receipt.
    const other = new Database(h.path, { readonly: true });
    expect(other.prepare('SELECT count(*) AS n FROM receipts').get()).toEqual({ n });
    other.close();
    const report = verifyLedger(h.reopen(), h.world.roots());
    expect(report).toMatchObject({ ok: true, receipts: n });
    expect(h.ledger.usageFor('H0').rows.reduce((s, r) => s + r.quantity, 0)).toBe(n / cards.length);
  });
});
