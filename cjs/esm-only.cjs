// What `require('distillery')` (and `require('distillery/tensor')`) loads: the package is ES modules
// only, and CommonJS gets this one error on every Node version, rather than ERR_REQUIRE_ESM on some
// and, on those that can require() ES modules (20.19+, 22.12+), a path this package is not tested on.
'use strict';
const error = new Error(
  "distillery is ESM-only: load it with `import { distill } from 'distillery'` from an ES module " +
    '(an .mjs/.mts file, or "type": "module" in package.json), or with ' +
    "`const { distill } = await import('distillery')` from CommonJS",
);
error.code = 'ERR_REQUIRE_ESM';
throw error;
