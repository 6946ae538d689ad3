/**
 * A mistake the user can fix (bad config, missing file, unavailable engine).
 * The CLI prints its message as one line and exits with code 2; anything else is a bug.
 */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}
