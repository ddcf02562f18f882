// Preload for tests (node --require): makes `sodium-native` fail to load, as on a platform
// without its prebuilt addon, so the node:crypto fallback can be exercised for real.
const Module = require('node:module');
const load = Module._load;
Module._load = function (request, ...rest) {
  if (request === 'sodium-native') throw new Error('No native build was found for this platform (test preload)');
  return load.call(this, request, ...rest);
};
