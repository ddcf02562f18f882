/** The suite's own parts: the hostile cases it carries equal the vectors file; alterFrame. */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, encodeFrame } from '../../protocol/stream-framing.js';
import { HOSTILE_MESSAGE_CASES } from './hostile-cases.js';
import { alterFrame, CHECKS } from './conformance-suite.js';

describe('conformance suite parts', () => {
  it('carries exactly the message cases of test/vectors/hostile-cbor.json', async () => {
    const vectors = JSON.parse(await readFile(new URL('../../test/vectors/hostile-cbor.json', import.meta.url), 'utf8')) as {
      message: { name: string; hex: string; error: string; requestId: number }[];
    };
    expect(HOSTILE_MESSAGE_CASES).toEqual(vectors.message.map(({ name, hex, error, requestId }) => ({ name, hex, error, requestId })));
  });

  it('alterFrame flips one payload byte and keeps a valid CRC', () => {
    const payload = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const wire = encodeFrame({ flags: 1, seq: 9, payload }, { leadingDelimiter: true });
    const events = new FrameDecoder().push(alterFrame(wire));
    const frames = events.filter((e) => e.kind === 'frame');
    expect(frames).toHaveLength(1);
    const got = frames[0]!.kind === 'frame' ? frames[0]!.packet : undefined;
    expect(got?.seq).toBe(9);
    expect(Array.from(got!.payload)).toEqual([1, 2, 3, 4, 5, 6, 7, 9]);
  });

  it('has unique check ids', () => {
    expect(new Set(CHECKS.map(([id]) => id)).size).toBe(CHECKS.length);
  });
});
