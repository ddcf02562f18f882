/**
 * The daemon's memory flags: the launcher passes exactly UNICARDD_NODE_FLAGS, and this Node
 * takes them the way node-flags.ts says (a Node upgrade that renamed or ignored one would
 * silently give the memory back).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../test/e2e/daemon-harness.js';
import { missingNodeFlags, UNICARDD_NODE_FLAGS } from './node-flags.js';

describe('UNICARDD_NODE_FLAGS', () => {
  it('are the node_flags bin/unicardd passes', () => {
    const launcher = readFileSync(join(REPO_ROOT, 'bin/unicardd'), 'utf8');
    const line = /^node_flags="([^"]*)"$/m.exec(launcher);
    expect(line?.[1]?.split(' ')).toEqual([...UNICARDD_NODE_FLAGS]);
  });

  it('size the V8 heap as documented when node starts with them', () => {
    // Allocation that survives a few scavenges makes a default young generation grow.
    const probe = `
      const v8 = require('node:v8');
      const keep = new Array(20000);
      for (let i = 0; i < 2000000; i++) keep[i % keep.length] = { i, a: [i, i] };
      const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
      const threads = require('node:fs').readdirSync('/proc/self/task').length;
      process.stdout.write(JSON.stringify({ young: young.space_size, limit: v8.getHeapStatistics().heap_size_limit, threads, execArgv: process.execArgv }));
    `;
    type Probe = { young: number; limit: number; threads: number; execArgv: string[] };
    const run = (flags: readonly string[]) => JSON.parse(execFileSync(process.execPath, [...flags, '-e', probe], { encoding: 'utf8' })) as Probe;
    const MiB = 1024 * 1024;
    const flagged = run(UNICARDD_NODE_FLAGS);
    const plain = run([]);
    // Young generation: 2 semi-spaces of at most 2 MiB (the default grows past that here).
    expect(flagged.young).toBeLessThanOrEqual(4 * MiB);
    expect(plain.young).toBeGreaterThan(16 * MiB);
    // The heap limit: 256 MiB of old generation plus the young generation.
    expect(flagged.limit).toBeLessThanOrEqual(300 * MiB);
    // One V8 platform thread instead of four.
    expect(plain.threads - flagged.threads).toBe(3);
    expect(missingNodeFlags(flagged.execArgv)).toEqual([]);
    expect(missingNodeFlags(plain.execArgv)).toEqual([...UNICARDD_NODE_FLAGS]);
  });
});
