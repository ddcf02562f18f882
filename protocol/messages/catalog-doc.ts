/**
 * Renders the catalog as the Markdown tables of PROTOCOL.d/50-messages.md. A test checks that
 * the document contains exactly this text, so the spec cannot drift from the validator.
 */
import { MESSAGE_SCHEMAS, type MessageName } from './catalog.js';
import type { FieldSpec, FieldType, MessageSchema } from './schema.js';
import type { CodecErrorCode } from '../errors.js';
import { WIRE_ERRORS, WireError, wireErrorForCodec } from '../wire-errors.js';

const hex2 = (n: number): string => `0x${n.toString(16).toUpperCase().padStart(2, '0')}`;
const sentence = (s: string): string => (s.charAt(0).toUpperCase() + s.slice(1)).replace(/[.]?$/, '.');

/** Catalog entries with each request followed by its result. */
function ordered(): [MessageName, MessageSchema][] {
  const rank = (t: number): number => (t & 0x7f) * 2 + (t >> 7);
  return (Object.entries(MESSAGE_SCHEMAS) as [MessageName, MessageSchema][]).sort((a, b) => rank(a[1].type) - rank(b[1].type));
}

/** CDDL-like one-line description of a field type. */
export function describeType(t: FieldType): string {
  switch (t.kind) {
    case 'uint':
      if (t.min === 0 && t.max === 0xffff_ffff) return 'uint32';
      if (t.min === 0 && t.max === Number.MAX_SAFE_INTEGER) return 'uint (0..2^53-1)';
      return `uint (${t.min}..${t.max === 0xffff_ffff ? '2^32-1' : t.max})`;
    case 'bool':
      return 'bool';
    case 'bytes':
      return t.minLen === t.maxLen ? `bstr (${t.minLen} bytes)` : `bstr (${t.minLen}..${t.maxLen} bytes)`;
    case 'text':
      return `tstr (${t.minBytes}..${t.maxBytes} UTF-8 bytes)`;
    case 'enum':
      return `uint enum: ${Object.entries(t.values)
        .map(([n, v]) => `${v} ${n}`)
        .join(', ')}`;
    case 'array': {
      const n = t.minItems === t.maxItems ? `${t.minItems}` : `${t.minItems}..${t.maxItems}`;
      return `array (${n}) of ${t.of.kind === 'struct' ? 'map (below)' : describeType(t.of)}`;
    }
    case 'struct':
      return 'map (below)';
  }
}

function fieldRows(fields: Readonly<Record<string, FieldSpec>>): string[] {
  return Object.entries(fields)
    .sort((a, b) => a[1].key - b[1].key)
    .map(([name, f]) => {
      const presence = f.optional ? 'optional' : 'required';
      const type = describeType(f.type) + (f.nullable ? ' / null' : '');
      return `| ${f.key} | ${name} | ${type} | ${presence} | ${sentence(f.doc)} |`;
    });
}

function nestedStructs(fields: Readonly<Record<string, FieldSpec>>, prefix: string): string[] {
  const out: string[] = [];
  for (const [name, f] of Object.entries(fields)) {
    const t = f.type.kind === 'array' ? f.type.of : f.type;
    if (t.kind !== 'struct') continue;
    const label = `${prefix}${name}${f.type.kind === 'array' ? '[]' : ''}`;
    out.push('', `Map \`${label}\`:`, '', '| key | name | type | presence | meaning |', '|---|---|---|---|---|', ...fieldRows(t.fields));
    out.push(...nestedStructs(t.fields, `${label}.`));
  }
  return out;
}

/** Summary table: every message type with its number, kind and direction. */
export function renderMessageIndex(): string {
  const rows = ordered().map(([name, s]) => {
      const dir = s.kind === 'request' ? 'host → terminal' : 'terminal → host';
      return `| ${hex2(s.type)} | ${name} | ${s.kind}${s.answers ? ` (answers ${s.answers})` : ''} | ${dir} | ${sentence(s.doc)} |`;
    });
  return ['| type | name | kind | direction | purpose |', '|---|---|---|---|---|', ...rows].join('\n');
}

/** One section per message: heading, purpose and key table (and nested maps). */
export function renderMessageSections(): string {
  const out: string[] = [];
  for (const [name, s] of ordered()) {
    out.push(`### ${name} (${hex2(s.type)})`, '', sentence(s.doc));
    if (s.exactlyOne) for (const g of s.exactlyOne) out.push('', `Exactly one of ${g.map((n) => `\`${n}\``).join(', ')} MUST be present.`);
    out.push('');
    if (Object.keys(s.fields).length === 0) {
      out.push('No fields: the map holds only keys 0 and 1.');
    } else {
      out.push('| key | name | type | presence | meaning |', '|---|---|---|---|---|', ...fieldRows(s.fields));
      out.push(...nestedStructs(s.fields, ''));
    }
    out.push('');
  }
  return out.join('\n');
}

/** The wire error table of PROTOCOL.d/60-error-codes.md. */
export function renderWireErrorTable(): string {
  const rows = WIRE_ERRORS.map((e) => `| ${hex2(e.code)} | ${e.code} | ${e.name} | ${sentence(e.meaning)} |`);
  return ['| code | decimal | name | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

/** How decoder errors become wire errors (PROTOCOL.d/60-error-codes.md). */
export function renderCodecMappingTable(codes: readonly CodecErrorCode[]): string {
  const rows = codes.map((c) => {
    const w = wireErrorForCodec(c);
    return `| ${c} | ${w} (${hex2(WireError[w])}) |`;
  });
  return ['| decoder error | wire error |', '|---|---|', ...rows].join('\n');
}
