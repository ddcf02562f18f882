/** Small waits on a Link, for the link tests. */
import type { Link } from '../../link/link.js';
import type { LinkError } from '../../protocol/errors.js';

/** Resolves when the link ends: undefined after a clean close, the LinkError otherwise. */
export function closed(link: Link): Promise<LinkError | undefined> {
  return new Promise((resolve) => link.onClose(resolve));
}

/** Resolves with the first `n` bytes the link receives. */
export function receive(link: Link, n: number): Promise<Uint8Array> {
  return new Promise((resolve) => {
    const out = new Uint8Array(n);
    let got = 0;
    const off = link.onData((chunk) => {
      const take = Math.min(chunk.length, n - got);
      out.set(chunk.subarray(0, take), got);
      got += take;
      if (got === n) {
        off();
        resolve(out);
      }
    });
  });
}
