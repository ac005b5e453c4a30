// Errors of the data layer. Their messages are complete for the user (they name the file, record
// and field at fault and what would be valid), so the CLI prints them as they are.

export class DataError extends Error {
  override name = 'DataError';
}

/**
 * A folder or dataset has files named for other splits but none for the one asked for. A separate
 * class so a trainer can catch it and carve a held-out set with `splitHeldOut` instead.
 */
export class MissingSplitError extends DataError {
  override name = 'MissingSplitError';
  constructor(
    message: string,
    readonly split: string,
    readonly files: readonly string[],
  ) {
    super(message);
  }
}
