/** What a project key may do (§11); each scope includes the ones before it. */
export type Scope = 'read' | 'write' | 'admin';
export const SCOPES: readonly Scope[] = ['read', 'write', 'admin'];

/** Whether a key of scope `held` may use a route that needs `required`. */
export const scopeCovers = (held: Scope, required: Scope) => SCOPES.indexOf(held) >= SCOPES.indexOf(required);
