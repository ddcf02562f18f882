/**
 * Crash-safe file replacement: write a temporary file next to the target, fsync it, rename
 * it over the target, fsync the directory. A kill at any point leaves either the old file or
 * the new one, never a mix; a leftover temporary file is ignored by readers and overwritten
 * by the next write.
 */
import { open, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Points inside {@link writeFileAtomic} where a test may simulate a crash by throwing. */
export type AtomicWriteStep = 'temp-written' | 'renamed';

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o600: most of what we persist holds secrets). */
  mode?: number;
  /** fsync file and directory (default true). Benchmarks may switch it off. */
  durable?: boolean;
  /** Test hook called after each step; throwing from it simulates a crash at that point. */
  onStep?: (step: AtomicWriteStep, path: string) => void;
}

/** The temporary file {@link writeFileAtomic} uses for `path`. */
export function tempPathFor(path: string): string {
  return `${path}.tmp`;
}

/** Replace `path` with `data` atomically (see module comment). */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const mode = options.mode ?? 0o600;
  const durable = options.durable ?? true;
  const tmp = tempPathFor(path);
  // 'w' truncates a stale temp file from an earlier crash.
  const fh = await open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    // The mode argument of open() is filtered by the umask; set it exactly.
    await fh.chmod(mode);
    if (durable) await fh.sync();
  } finally {
    await fh.close();
  }
  options.onStep?.('temp-written', path);
  await rename(tmp, path);
  if (durable) await syncDirectory(dirname(path));
  options.onStep?.('renamed', path);
}

/** fsync a directory so a rename in it survives power loss (no-op where unsupported). */
export async function syncDirectory(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Some platforms (Windows) cannot open or fsync a directory; the rename is still atomic.
  } finally {
    await fh?.close();
  }
}

/** Remove a file if it exists. */
export async function removeIfExists(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/**
 * Serialises async operations on one object, so two persists never interleave their temp
 * files. `run(fn)` starts `fn` after every earlier one settled and returns its result.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}
