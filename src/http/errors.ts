/** The one error type handlers throw; `app` turns it into the contract's error body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const notFound = (code: string, message: string, details?: Record<string, unknown>) =>
  new HttpError(404, code, message, details);

export const conflict = (code: string, message: string, details?: Record<string, unknown>) =>
  new HttpError(409, code, message, details);

export interface ValidationIssue {
  path: string;
  message: string;
}

export const validationError = (issues: ValidationIssue[], message = 'Request validation failed') =>
  new HttpError(422, 'validation_error', message, { issues });

export function errorBody(code: string, message: string, details?: Record<string, unknown>) {
  return { detail: details ? { error: code, message, details } : { error: code, message } };
}
