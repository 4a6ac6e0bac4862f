import type { Transport } from '../transport.ts';
import type { Branch, BranchChanges, BranchList, CreateBranchInput, MergeResult, MergeTableInput, Table } from '../types.ts';

const BR = '/projects/:id/branches';
const BT = `${BR}/:branch/buckets/:bucket/tables/:table`;

/**
 * §14 development branches: create, list, get, delete, changes, and reset or merge one
 * table. Everything else in a branch goes through `client.inBranch(id)`.
 */
export const branchesApi = (t: Transport) => ({
  create: (projectId: string, body: CreateBranchInput) => t.json<Branch>('POST', BR, [projectId], { json: body }),
  list: (projectId: string) => t.json<BranchList>('GET', BR, [projectId]),
  get: (projectId: string, branchId: string) => t.json<Branch>('GET', `${BR}/:branch`, [projectId, branchId]),
  /** Removes the branch with everything it holds. */
  delete: (projectId: string, branchId: string) => t.empty('DELETE', `${BR}/:branch`, [projectId, branchId]),
  changes: (projectId: string, branchId: string) => t.json<BranchChanges>('GET', `${BR}/:branch/changes`, [projectId, branchId]),
  /** The branch drops its copy (or its deletion) of the table and sees main's again. */
  reset: (projectId: string, branchId: string, bucket: string, table: string) => t.json<Table>('POST', `${BT}/reset`, [projectId, branchId, bucket, table]),
  /** Main's table replaced by the branch's (409 merge_conflict unless `force`). */
  merge: (projectId: string, branchId: string, bucket: string, table: string, body: MergeTableInput = {}) =>
    t.json<MergeResult>('POST', `${BT}/merge`, [projectId, branchId, bucket, table], { json: body }),
});
