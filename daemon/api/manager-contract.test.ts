import { describe, expect, it } from 'vitest';
import type { TerminalManager, TerminalEvent as ManagerEvent } from '../terminals/terminal-manager.js';
import type { ApiTerminalManager, TerminalEvent } from './manager-contract.js';
import { FakeTerminalManager } from './api-test-kit.js';

// The types are shared, so these hold by construction; the assignments keep it so if someone
// redefines them on the API side (they fail to compile on drift).
type Fits<A, B> = A extends B ? true : false;
const managerFits: Fits<TerminalManager, ApiTerminalManager> = true;
const eventsFit: Fits<ManagerEvent, TerminalEvent> = true;

describe('the terminal manager contract', () => {
  it('the daemon core manager and the test manager both fit ApiTerminalManager', () => {
    expect(managerFits && eventsFit).toBe(true);
    const fake: ApiTerminalManager = new FakeTerminalManager();
    expect(fake.list()).toEqual([]);
  });
});
