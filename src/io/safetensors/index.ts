export { SafetensorsFile } from './reader.js';
export { writeSafetensors, type RawEntry, type SafetensorsEntries } from './writer.js';
export { SafetensorsCheckpoint, SINGLE_FILE, INDEX_FILE } from './sharded.js';
export { SafetensorsError, SAFETENSORS_DTYPES, MAX_HEADER_BYTES, type TensorInfo, type SafetensorsErrorCode } from './format.js';
