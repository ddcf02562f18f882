/**
 * DISPENSE-API.md stays in step with the code: every dispensing error with its number, every
 * method and event name.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API_ERRORS } from '../api/api-errors.js';
import { DISPENSE_ERRORS, DISPENSE_ERROR_CODES, DispenseError } from './dispense-errors.js';
import { DISPENSE_METHODS, EXPIRED_EVENT, PROGRESS_EVENT } from './dispense-methods.js';

const doc = readFileSync(new URL('../../DISPENSE-API.md', import.meta.url), 'utf8');

describe('DISPENSE-API.md', () => {
  it('lists every dispensing error with its number', () => {
    for (const code of DISPENSE_ERROR_CODES) expect(doc).toContain(`| \`${code}\` | ${DISPENSE_ERRORS[code].rpc} |`);
  });

  it('documents every method and event', () => {
    for (const m of DISPENSE_METHODS) expect(doc).toContain(`\`${m}\``);
    expect(doc).toContain(`\`${PROGRESS_EVENT}\``);
    expect(doc).toContain(`\`${EXPIRED_EVENT}\``);
  });
});

describe('the dispensing error catalog', () => {
  it('uses the 2000–2999 range, unique numbers, names the API catalog does not use, Arabic text', () => {
    const numbers = DISPENSE_ERROR_CODES.map((c) => DISPENSE_ERRORS[c].rpc);
    expect(new Set(numbers).size).toBe(numbers.length);
    for (const n of numbers) expect(n >= 2000 && n <= 2999).toBe(true);
    for (const c of DISPENSE_ERROR_CODES) {
      expect(Object.hasOwn(API_ERRORS, c)).toBe(false);
      expect(DISPENSE_ERRORS[c].ar).toMatch(/[\u0600-\u06ff]/);
    }
  });

  it('goes on the wire like any API error: code, number, en, ar, detail', () => {
    const e = new DispenseError('CARD_CLONED', { detail: { cardId: 'PSD-000005', en: 'not overwritten' } });
    expect(e.toJsonRpc()).toEqual({
      code: 2012,
      message: DISPENSE_ERRORS.CARD_CLONED.en,
      data: { code: 'CARD_CLONED', en: DISPENSE_ERRORS.CARD_CLONED.en, ar: DISPENSE_ERRORS.CARD_CLONED.ar, cardId: 'PSD-000005' },
    });
  });
});
