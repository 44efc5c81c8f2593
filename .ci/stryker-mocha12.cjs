// @stryker-mutator/mocha-runner 9 requires mocha's lib/cli/*.js files without an extension;
// mocha 12 renamed them to .cjs (runner 10 follows, but needs Node 22). Resolve the old names.
const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (/[\\/]mocha[\\/]lib[\\/]cli[\\/][\w-]+$/.test(request)) request += '.cjs';
  return resolve.call(this, request, ...rest);
};
