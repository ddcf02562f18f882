/**
 * The schema language of the message catalog: each message is a table of fields, each field a
 * small integer key and a type. One generic validator (message-codec.ts) walks these tables,
 * and the TypeScript type of every message is derived from its table, so the types, the
 * validator and the spec (generated from the same tables) cannot disagree.
 */

/** Unsigned integer in [min, max] (max ≤ 2^53 - 1, so it is always a JS number). */
export interface UintType {
  readonly kind: 'uint';
  readonly min: number;
  readonly max: number;
}
/** true or false. */
export interface BoolType {
  readonly kind: 'bool';
}
/** Byte string of minLen..maxLen bytes. */
export interface BytesType {
  readonly kind: 'bytes';
  readonly minLen: number;
  readonly maxLen: number;
}
/** UTF-8 text string of minBytes..maxBytes bytes (counted in UTF-8, not characters). */
export interface TextType {
  readonly kind: 'text';
  readonly minBytes: number;
  readonly maxBytes: number;
}
/** Closed enumeration: a uint on the wire, a name in TypeScript. */
export interface EnumType {
  readonly kind: 'enum';
  readonly values: Readonly<Record<string, number>>;
}
/** Array of minItems..maxItems elements of one type. */
export interface ArrayType {
  readonly kind: 'array';
  readonly of: FieldType;
  readonly minItems: number;
  readonly maxItems: number;
}
/** Nested map with its own small integer keys (0..23). */
export interface StructType {
  readonly kind: 'struct';
  readonly fields: Readonly<Record<string, FieldSpec>>;
}

/** Any field type. */
export type FieldType = UintType | BoolType | BytesType | TextType | EnumType | ArrayType | StructType;

/** One field: its key in the CBOR map, its type, and whether it may be absent or null. */
export interface FieldSpec {
  readonly key: number;
  readonly type: FieldType;
  /** The key may be absent. */
  readonly optional?: boolean;
  /** The value may be CBOR null (the field says what null means). */
  readonly nullable?: boolean;
  /** One line for the spec. */
  readonly doc: string;
}

/** What role a message plays. */
export type MessageKind = 'request' | 'result' | 'event' | 'control';

/** One message type. */
export interface MessageSchema {
  /** The value of envelope key 0. */
  readonly type: number;
  readonly kind: MessageKind;
  /** For a result: the request it answers. */
  readonly answers?: string;
  readonly fields: Readonly<Record<string, FieldSpec>>;
  /** Groups of field names of which exactly one must be present. */
  readonly exactlyOne?: readonly (readonly string[])[];
  /** One line for the spec. */
  readonly doc: string;
}

// ---- builders (they keep literal types so the message types can be derived) ----

/** uint in [min, max]. */
export const uint = (max: number, min = 0): UintType => ({ kind: 'uint', min, max });
/** uint32. */
export const U32: UintType = uint(0xffff_ffff);
/** uint up to 2^53 - 1 (times in milliseconds). */
export const U53: UintType = uint(Number.MAX_SAFE_INTEGER);
export const BOOL: BoolType = { kind: 'bool' };
/** Byte string of exactly n bytes. */
export const bytesN = (n: number): BytesType => ({ kind: 'bytes', minLen: n, maxLen: n });
/** Byte string of minLen..maxLen bytes. */
export const bytes = (maxLen: number, minLen = 0): BytesType => ({ kind: 'bytes', minLen, maxLen });
/** Text of minBytes..maxBytes UTF-8 bytes. */
export const text = (maxBytes: number, minBytes = 0): TextType => ({ kind: 'text', minBytes, maxBytes });
/** Enumeration; the record maps names to wire values. */
export const enumOf = <const V extends Record<string, number>>(values: V): { readonly kind: 'enum'; readonly values: V } => ({
  kind: 'enum',
  values,
});
/** Array of `of`. */
export const arrayOf = <const T extends FieldType>(of: T, maxItems: number, minItems = 0): {
  readonly kind: 'array';
  readonly of: T;
  readonly minItems: number;
  readonly maxItems: number;
} => ({ kind: 'array', of, minItems, maxItems });
/** Nested struct. */
export const struct = <const F extends Record<string, FieldSpec>>(fields: F): { readonly kind: 'struct'; readonly fields: F } => ({
  kind: 'struct',
  fields,
});

// ---- type derivation ----

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The TypeScript value of a field type. */
export type ValueOf<T> = T extends { readonly kind: 'uint' }
  ? number
  : T extends { readonly kind: 'bool' }
    ? boolean
    : T extends { readonly kind: 'bytes' }
      ? Uint8Array
      : T extends { readonly kind: 'text' }
        ? string
        : T extends { readonly kind: 'enum'; readonly values: infer V }
          ? keyof V & string
          : T extends { readonly kind: 'array'; readonly of: infer E }
            ? ValueOf<E>[]
            : T extends { readonly kind: 'struct'; readonly fields: infer F }
              ? StructOf<F>
              : never;

type FieldValue<S> = S extends { readonly type: infer T; readonly nullable: true }
  ? ValueOf<T> | null
  : S extends { readonly type: infer T }
    ? ValueOf<T>
    : never;

/** The TypeScript object of a struct's fields (optional fields are optional properties). */
export type StructOf<F> = Simplify<
  { -readonly [K in keyof F as F[K] extends { readonly optional: true } ? never : K]: FieldValue<F[K]> } & {
    -readonly [K in keyof F as F[K] extends { readonly optional: true } ? K : never]?: FieldValue<F[K]>;
  }
>;
