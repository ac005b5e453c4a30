// The tokens format: pre-tokenized records {input_ids, labels? | loss_mask?}. labels follow Hugging
// Face: same length as input_ids, unshifted, -100 where there is no target.
import { DataError } from './errors.js';
import { describeValue } from './fields.js';
import type { DataRecord } from './read-json.js';
import { IGNORE_INDEX, type EncodedExample } from './segments.js';

function intArray(record: DataRecord, field: string, index: number): number[] {
  const value = record[field];
  if (!Array.isArray(value)) throw new DataError(`record ${index}: field '${field}' must be a list of integers, got ${describeValue(value)}`);
  value.forEach((v, t) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new DataError(`record ${index}: ${field}[${t}] must be an integer, got ${typeof v === 'number' ? v : describeValue(v)}`);
  });
  return value as number[];
}

/**
 * With `responseOnly` the record's own mask (labels or loss_mask) decides the targets; without it
 * every token is one, as for the text formats.
 */
export function tokensExample(record: DataRecord, index: number, responseOnly: boolean): EncodedExample {
  const inputIds = intArray(record, 'input_ids', index);
  inputIds.forEach((id, t) => {
    if (id < 0) throw new DataError(`record ${index}: input_ids[${t}] must be a non-negative token id, got ${id}`);
  });
  const has = (field: string) => record[field] !== undefined && record[field] !== null;
  if (has('labels') && has('loss_mask')) throw new DataError(`record ${index}: give 'labels' or 'loss_mask', not both`);
  const sameLength = (field: string, values: unknown[]) => {
    if (values.length !== inputIds.length) {
      throw new DataError(`record ${index}: '${field}' has ${values.length} entries but 'input_ids' has ${inputIds.length}; they must be the same length`);
    }
  };
  let labels = [...inputIds];
  if (has('labels')) {
    const given = intArray(record, 'labels', index);
    sameLength('labels', given);
    given.forEach((label, t) => {
      // Catches labels shifted by one (the other common convention), which would train on the wrong tokens.
      if (label !== IGNORE_INDEX && label !== inputIds[t]) {
        throw new DataError(`record ${index}: labels[${t}] is ${label} but must be -100 or input_ids[${t}] (${inputIds[t]}): labels are unshifted, as in Hugging Face`);
      }
    });
    if (responseOnly) labels = [...given];
  } else if (has('loss_mask')) {
    const mask = record.loss_mask;
    if (!Array.isArray(mask)) throw new DataError(`record ${index}: field 'loss_mask' must be a list of 0/1, got ${describeValue(mask)}`);
    sameLength('loss_mask', mask);
    mask.forEach((m, t) => {
      if (m !== 0 && m !== 1 && m !== true && m !== false) throw new DataError(`record ${index}: loss_mask[${t}] must be 0 or 1, got ${JSON.stringify(m)}`);
    });
    if (responseOnly) labels = inputIds.map((id, t) => (mask[t] === 1 || mask[t] === true ? id : IGNORE_INDEX));
  }
  return { inputIds: [...inputIds], labels };
}
