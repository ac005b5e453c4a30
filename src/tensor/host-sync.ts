// Counts the calls that make the host wait for the device: reading a tensor's data, and operators
// whose output size depends on the values (nonzero, masked_select, unique, ...). On CUDA each one
// drains the stream, so a training step should make one; tests hold the step to that on CPU,
// where the same calls are made.

/** Operators (without overload) that return host values or a value-dependent shape. */
const WAITING_OPERATORS = new Set([
  'aten::item',
  'aten::_local_scalar_dense',
  'aten::is_nonzero',
  'aten::equal',
  'aten::allclose',
  'aten::nonzero',
  'aten::masked_select',
  'aten::unique',
  'aten::_unique',
  'aten::_unique2',
  'aten::unique_dim',
  'aten::unique_consecutive',
  'aten::bincount',
]);

let waits = 0;

/** Counts a read of tensor data into host memory. */
export function countHostRead(): void {
  waits++;
}

/** Counts `operator` (a schema name without overload) if it makes the host wait. */
export function countIfWaiting(operator: string): void {
  if (WAITING_OPERATORS.has(operator)) waits++;
}

/** Host waits for the device since the process started (see the file comment). */
export function hostSyncCount(): number {
  return waits;
}
