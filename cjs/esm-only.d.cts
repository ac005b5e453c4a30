// The types of `require('distillery')`: none. distillery is ESM-only; import it from an ES module
// (`import { distill } from 'distillery'`), or from CommonJS with `await import('distillery')`.
export {};
