/**
 * An error meant for the person reading the workflow log: one line that names the
 * file, input or command at fault and the fix. main.ts reports it with core.error and
 * no stack trace; anything else that escapes is a bug and keeps its stack.
 */
export class ActionError extends Error {
  constructor(
    message: string,
    readonly title = 'setup-poetry-torch',
    readonly file?: string,
  ) {
    super(message);
    this.name = 'ActionError';
  }
}
