import { describe, expect, it } from 'vitest';
import { ManualClock } from './clock.js';
import { PROMPTS, SimulatedDisplay, toArabicDigits, type PromptId } from './display.js';

const ARABIC = /[\u0600-\u06FF]/;

describe('SimulatedDisplay', () => {
  it('starts on the ready screen and records each screen with its time', () => {
    const clock = new ManualClock(1_000);
    const display = new SimulatedDisplay({ clock });
    expect(display.current.source).toBe('ready');
    clock.advance(5);
    const s = display.show('insert_card');
    expect(s).toEqual({ lines: [{ ar: 'برجاء إدخال الكارت', en: 'Please insert the card' }], source: 'insert_card', shownAt: 1_005 });
    expect(display.current).toBe(s);
    expect(display.history.map((h) => h.source)).toEqual(['ready', 'insert_card']);
  });

  it('fills parameters in both languages, Arabic with Arabic-Indic digits', () => {
    const display = new SimulatedDisplay({ clock: new ManualClock() });
    expect(display.show('finger_not_recognised', { attempts: 2 }).lines[0]).toEqual({
      ar: 'البصمة غير مطابقة — المحاولات المتبقية: ٢',
      en: 'Fingerprint not recognised — attempts left: 2',
    });
    expect(display.show('updating_firmware', { percent: 42.7 }).lines[0]?.ar).toContain('٤٢٪');
    expect(display.show('updating_firmware', { percent: 42.7 }).lines[0]?.en).toContain('42%');
    expect(display.show('firmware_test_boot', { version: '1.1.0' }).lines[0]?.ar).toContain('١.١.٠');
    expect(display.show('refused', { reason: { ar: 'تم صرف حصة اليوم', en: "today's share was already collected" } }).lines[0]).toEqual({
      ar: 'مرفوض: تم صرف حصة اليوم',
      en: "Refused: today's share was already collected",
    });
  });

  it('every prompt has an Arabic and an English line', () => {
    const display = new SimulatedDisplay({ clock: new ManualClock() });
    for (const id of Object.keys(PROMPTS) as PromptId[]) {
      const [line] = display.show(id, { attempts: 1, percent: 1, version: '1' }).lines;
      expect(line?.ar).toMatch(ARABIC);
      expect(line?.en).toMatch(/^[\x20-\x7e—…]+$/);
    }
  });

  it('shows host text, notifies listeners and bounds its history', () => {
    const display = new SimulatedDisplay({ clock: new ManualClock(), historyLimit: 3 });
    const seen: string[] = [];
    const off = display.onChange((s) => seen.push(s.source));
    display.showText([
      { ar: 'خبز مدعم', en: 'Subsidised bread' },
      { ar: '٢٠ رغيف', en: '20 loaves' },
    ]);
    expect(display.current.lines).toHaveLength(2);
    display.show('approved');
    off();
    display.show('remove_card');
    expect(seen).toEqual(['text', 'approved']);
    expect(display.history.map((h) => h.source)).toEqual(['text', 'approved', 'remove_card']);
  });

  it('converts digits', () => {
    expect(toArabicDigits('v1.10 / 2026')).toBe('v١.١٠ / ٢٠٢٦');
    expect(toArabicDigits(0)).toBe('٠');
  });
});
