// cbor-x checks `if (extractor)` and keeps its JavaScript string decoder.
module.exports = null;
