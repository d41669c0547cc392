/**
 * The one error type of the domain. Adapters and the core throw it; the API maps `kind` to a status
 * and renders every instance as the same problem+json shape.
 */
export type ErrorKind = 'invalid' | 'unauthorized' | 'forbidden' | 'not_found' | 'conflict' | 'unprocessable' | 'unavailable';

export class RearguardError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    /** Machine-readable extras: `field` names the invalid input, others (e.g. `run_id`) help the client. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'RearguardError';
  }
}

export const notFound = (what: string, id: string) => new RearguardError('not_found', `${what} ${id} does not exist`);
