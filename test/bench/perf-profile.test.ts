import { describe, expect, it } from 'vitest';
import { layerOf, parsePerfScript, summarisePerfScript } from '../../bench/perf-profile.js';

// The shape `perf script` prints (perf 6.1): a header per sample, then one frame per line.
const SCRIPT = `node  4100 26292.410788:    1003009 cpu-clock:ppp: 
\t    7f6678a0 ge25519_double_scalarmult_vartime+0x3f (/work/main/node_modules/sodium-native/prebuilds/linux-x64/sodium-native.node)
\t    7f66781877bc JS:*verify file:///work/main/dist/protocol/crypto/ed25519.js:322:11+0x3fc (/tmp/perf-4100.map)
\t         14ce0dc Builtins_JSEntryTrampoline+0x5c (/usr/bin/node)

node  4100 26292.411790:    1003009 cpu-clock:ppp: 
\t    ffffffff8100 iowrite16+0x10 ([kernel.kallsyms])
\t    7f00001 fsync+0x1 (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t    7f00002 sqlite3PagerSync+0x1 (/work/main/node_modules/better-sqlite3/build/Release/better_sqlite3.node)
\t    7f667811 JS:*encode file:///work/main/node_modules/cbor-x/encode.js:258:18+0x1 (/tmp/perf-4100.map)

node  4100 26292.412791:    1003009 cpu-clock:ppp: 
\t    ffffffff8200 copy_folio_from_iter_atomic+0x1 ([kernel.kallsyms])
\t    7f00003 __libc_writev+0x1 (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t    7f667812 JS:^transmit file:///work/main/dist/daemon/session/terminal-session.js:512:13+0x1 (/tmp/perf-4100.map)

node  4100 26292.413792:    1003009 cpu-clock:ppp: 
\t    7f667813 JS:*usageQuery file:///work/main/dist/daemon/policy/evaluator.js:128:27+0x1 (/tmp/perf-4100.map)
\t    7f667814 JS:*runAuthorize file:///work/main/dist/daemon/dispense/dispense-service.js:278:23+0x1 (/tmp/perf-4100.map)

node  4100 26292.414793:    1003009 cpu-clock:ppp: 
\t    ffffffff8300 do_epoll_wait+0x1 ([kernel.kallsyms])
\t    14c05fb uv__io_poll+0x4db (/usr/bin/node)

node  4102 26292.415794:    1003009 cpu-clock:ppp: 
\t    c494db v8::internal::compiler::GraphReducer::ReduceTop+0x1 (/usr/bin/node)

node  4102 26292.416795:    1003009 cpu-clock:ppp: 
\t    c494dc v8::internal::Scavenger::ScavengeObject+0x1 (/usr/bin/node)
`;

describe('perf profile summary', () => {
  it('parses samples with their thread and frames', () => {
    const samples = parsePerfScript(SCRIPT);
    expect(samples).toHaveLength(7);
    expect(samples.map((s) => s.tid)).toEqual([4100, 4100, 4100, 4100, 4100, 4102, 4102]);
    expect(samples[0]?.frames[1]).toEqual({ symbol: 'JS:*verify file:///work/main/dist/protocol/crypto/ed25519.js:322:11', dso: '/tmp/perf-4100.map' });
  });

  it('counts native libraries before JIT names (which can be stale), then the nearest layer of our code', () => {
    const layers = parsePerfScript(SCRIPT).slice(0, 5).map((s) => layerOf(s.frames));
    expect(layers).toEqual([
      'libsodium (Ed25519, secretbox)',
      'ledger: SQLite (its writes and fsync in the kernel included)', // under a stale "encode" name
      'terminal session: system calls',
      'policy',
      'event loop: system calls',
    ]);
  });

  it('shares the measured CPU per authorization out by samples: main thread by layer, helpers by kind', () => {
    // 3,500 µs per authorization over 7 samples: 500 µs each.
    const s = summarisePerfScript(SCRIPT, 4100, 3500);
    expect(s.samples).toBe(7);
    expect(s.mainUsPerAuthorization).toBe(2500);
    expect(s.helperUsPerAuthorization).toBe(1000);
    expect(s.helpers).toEqual({ compilerUs: 500, gcUs: 500, otherUs: 0 });
    expect(s.layers.map((l) => [l.layer, l.usPerAuthorization, l.pct])).toContainEqual(['policy', 500, 20]);
    expect(s.layers.reduce((sum, l) => sum + l.pct, 0)).toBeCloseTo(100);
  });

  it('reads nothing from text that is not perf output', () => {
    expect(parsePerfScript('not perf\n\nat all')).toEqual([]);
    expect(summarisePerfScript('', 1, 1000)).toMatchObject({ samples: 0, mainUsPerAuthorization: 0, layers: [] });
  });
});
