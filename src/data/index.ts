// The data layer: datasets to records, records to token ids with loss masks, examples to batches.
export { DataError, MissingSplitError } from './errors.js';
export { readRecords, type ReadOptions, type ReadResult } from './read-records.js';
export { readDataFile, DATA_EXTENSIONS, isDataFileName } from './read-file.js';
export type { DataRecord } from './read-json.js';
export { listDataFiles, selectSplitFiles, type Split } from './split-files.js';
export { cachedDatasetSnapshot } from './hub-dataset.js';
export { detectFormat, DATA_FORMATS, type DataFormat } from './formats.js';
export { DEFAULT_INSTRUCTION_TEMPLATE } from './instruction.js';
export { DROP_EMPTY_REPLY, encodeExamples, type EncodeOptions, type EncodeResult } from './encode.js';
export { countTargets, IGNORE_INDEX, predictedTargets, type EncodedExample } from './segments.js';
export { derivedSeed, epochOrder, splitHeldOut, mulberry32 } from './shuffle.js';
export { padBatch, paddingId, type PaddedBatch } from './pad-batch.js';
export { readTextRecords, type TextRecord } from './text-records.js';
