/**
 * The hostile message cases of test/vectors/hostile-cbor.json ("message" section), copied
 * here so the CLI runs without the test tree. A test checks this list equals the vectors file.
 */
export interface HostileMessageCase {
  name: string;
  hex: string;
  /** The CodecError code a decoder raises; the terminal answers wireErrorForCodec(error). */
  error: string;
  /** The request id a terminal can still read (0: none). */
  requestId: number;
}

/** Every hostile message case. */
export const HOSTILE_MESSAGE_CASES: readonly HostileMessageCase[] = [
  {
    "name": "not a map (array)",
    "hex": "80",
    "error": "MSG_NOT_A_MAP",
    "requestId": 0
  },
  {
    "name": "not a map (integer)",
    "hex": "07",
    "error": "MSG_NOT_A_MAP",
    "requestId": 0
  },
  {
    "name": "unknown message type 0x63 (id 7)",
    "hex": "a20018630107",
    "error": "MSG_UNKNOWN_TYPE",
    "requestId": 7
  },
  {
    "name": "unknown message type 0 (id 7)",
    "hex": "a200000107",
    "error": "MSG_UNKNOWN_TYPE",
    "requestId": 7
  },
  {
    "name": "message type is a text string",
    "hex": "a20061610107",
    "error": "MSG_WRONG_TYPE",
    "requestId": 7
  },
  {
    "name": "message type missing",
    "hex": "a10107",
    "error": "MSG_MISSING_FIELD",
    "requestId": 7
  },
  {
    "name": "request id missing",
    "hex": "a10001",
    "error": "MSG_MISSING_FIELD",
    "requestId": 0
  },
  {
    "name": "request id is a text string",
    "hex": "a20001016131",
    "error": "MSG_WRONG_TYPE",
    "requestId": 0
  },
  {
    "name": "request id 2^32",
    "hex": "a20001011b0000000100000000",
    "error": "MSG_OUT_OF_RANGE",
    "requestId": 0
  },
  {
    "name": "request id negative",
    "hex": "a200010120",
    "error": "MSG_OUT_OF_RANGE",
    "requestId": 0
  },
  {
    "name": "request id 0 on a request",
    "hex": "a200010100",
    "error": "MSG_OUT_OF_RANGE",
    "requestId": 0
  },
  {
    "name": "event CardRemoved with request id 5",
    "hex": "a30018410105026178",
    "error": "MSG_OUT_OF_RANGE",
    "requestId": 5
  },
  {
    "name": "GetInfo with an unknown key 2",
    "hex": "a3000101070200",
    "error": "MSG_UNKNOWN_FIELD",
    "requestId": 7
  },
  {
    "name": "GetInfo with a text key",
    "hex": "a300010107616100",
    "error": "MSG_UNKNOWN_FIELD",
    "requestId": 7
  },
  {
    "name": "SetTime without unixMs",
    "hex": "a2000c0107",
    "error": "MSG_MISSING_FIELD",
    "requestId": 7
  },
  {
    "name": "SetTime with unixMs as text",
    "hex": "a3000c0107026131",
    "error": "MSG_WRONG_TYPE",
    "requestId": 7
  },
  {
    "name": "SetTime with unixMs null",
    "hex": "a3000c010702f6",
    "error": "MSG_WRONG_TYPE",
    "requestId": 7
  },
  {
    "name": "SetTime with unixMs 2^53 (bigint)",
    "hex": "a3000c0107021b0020000000000000",
    "error": "MSG_OUT_OF_RANGE",
    "requestId": 7
  },
  {
    "name": "Handshake with a 31-byte key",
    "hex": "a40003010702581f000000000000000000000000000000000000000000000000000000000000000358200000000000000000000000000000000000000000000000000000000000000000",
    "error": "MSG_OUT_OF_RANGE",
    "requestId": 7
  },
  {
    "name": "Handshake with a key as text",
    "hex": "a40003010702782061616161616161616161616161616161616161616161616161616161616161610358200000000000000000000000000000000000000000000000000000000000000000",
    "error": "MSG_WRONG_TYPE",
    "requestId": 7
  },
  {
    "name": "Cancel of request id 0",
    "hex": "a300187001070200",
    "error": "MSG_OUT_OF_RANGE",
    "requestId": 7
  },
  {
    "name": "Reboot with unknown mode 7",
    "hex": "a3000b01070207",
    "error": "MSG_OUT_OF_RANGE",
    "requestId": 7
  },
  {
    "name": "Reboot with mode as bool",
    "hex": "a3000b010702f5",
    "error": "MSG_WRONG_TYPE",
    "requestId": 7
  },
  {
    "name": "Display with both lines and prompt",
    "hex": "a4000a01070281a20061610161620301",
    "error": "MSG_FIELD_CONFLICT",
    "requestId": 7
  },
  {
    "name": "Display with neither lines nor prompt",
    "hex": "a2000a0107",
    "error": "MSG_MISSING_FIELD",
    "requestId": 7
  },
  {
    "name": "Display line with an unknown key",
    "hex": "a3000a01070281a30061610161620200",
    "error": "MSG_UNKNOWN_FIELD",
    "requestId": 7
  },
  {
    "name": "Display with 5 lines (max 4)",
    "hex": "a3000a01070285a200600160a200600160a200600160a200600160a200600160",
    "error": "MSG_OUT_OF_RANGE",
    "requestId": 7
  },
  {
    "name": "Error with a negative code",
    "hex": "a300187f01070220",
    "error": "MSG_OUT_OF_RANGE",
    "requestId": 7
  },
  {
    "name": "Error message of 257 bytes",
    "hex": "a400187f01070201037901016161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161616161",
    "error": "MSG_OUT_OF_RANGE",
    "requestId": 7
  },
  {
    "name": "GetInfo with non-canonical type (18 01)",
    "hex": "a20018010107",
    "error": "CBOR_NON_CANONICAL",
    "requestId": 0
  },
  {
    "name": "GetInfo with keys out of order",
    "hex": "a201070001",
    "error": "CBOR_NON_CANONICAL",
    "requestId": 0
  },
  {
    "name": "GetInfo with a duplicate id key",
    "hex": "a3000101070107",
    "error": "CBOR_DUPLICATE_KEY",
    "requestId": 0
  },
  {
    "name": "VerifyHolder with maxAttempts 0",
    "hex": "a600120107025820000000000000000000000000000000000000000000000000000000000000000003f6041927100500",
    "error": "MSG_OUT_OF_RANGE",
    "requestId": 7
  },
  {
    "name": "VerifyHolder with member -1",
    "hex": "a60012010702582000000000000000000000000000000000000000000000000000000000000000000320041927100503",
    "error": "MSG_OUT_OF_RANGE",
    "requestId": 7
  },
  {
    "name": "StatusResult with a firmware version of two numbers",
    "hex": "a80018880107020003f4040005a5000001000200030004000681a3000001820102020107f6",
    "error": "MSG_OUT_OF_RANGE",
    "requestId": 7
  }
];
