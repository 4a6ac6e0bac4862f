import { CreateBranchSchema, createBranch } from '../../handlers/branches/create.ts';
import { getBranchChanges } from '../../handlers/branches/changes.ts';
import { deleteBranch } from '../../handlers/branches/delete.ts';
import { getBranch } from '../../handlers/branches/get.ts';
import { listBranches } from '../../handlers/branches/list.ts';
import { MergeTableSchema, mergeTable } from '../../handlers/branches/merge.ts';
import { resetTable } from '../../handlers/branches/reset.ts';
import type { RouteDef } from '../routes.ts';

const BR = '/projects/:id/branches';
const BT = `${BR}/:branch/buckets/:bucket/tables/:table`;

/**
 * §14 development branches. The bucket, table and data routes under
 * `P/branches/{branch}/…` are not listed here: they are generated from the routes that
 * declare `branch` (see `branchTwins` in src/routes.ts).
 */
export const branchRoutes: RouteDef[] = [
  { method: 'POST', path: BR, auth: 'project', scope: 'write', handler: createBranch, body: CreateBranchSchema, summary: 'Create a development branch (copies nothing)', tag: 'branches', responses: [201, 401, 403, 404, 409, 413, 415, 422] },
  { method: 'GET', path: BR, auth: 'project', scope: 'read', handler: listBranches, summary: 'List branches (default first)', tag: 'branches', responses: [200, 401, 403, 404, 422] },
  { method: 'GET', path: `${BR}/:branch`, auth: 'project', scope: 'read', handler: getBranch, summary: 'Get a branch', tag: 'branches', responses: [200, 401, 403, 404, 422] },
  { method: 'DELETE', path: `${BR}/:branch`, auth: 'project', scope: 'write', branchRestrictedKeys: 'forbidden', handler: deleteBranch, summary: 'Delete a branch and everything it holds', tag: 'branches', responses: [204, 400, 401, 403, 404, 422] },
  { method: 'GET', path: `${BR}/:branch/changes`, auth: 'project', scope: 'read', handler: getBranchChanges, summary: 'What the branch holds: copied, created and deleted tables and buckets', tag: 'branches', responses: [200, 400, 401, 403, 404, 422] },
  { method: 'POST', path: `${BT}/reset`, auth: 'project', scope: 'write', handler: resetTable, summary: "Drop the branch's copy (or deletion) of a table and see main's again", tag: 'branches', responses: [200, 400, 401, 403, 404, 422] },
  { method: 'POST', path: `${BT}/merge`, auth: 'project', scope: 'write', branchRestrictedKeys: 'forbidden', handler: mergeTable, body: MergeTableSchema, summary: "Replace main's table by the branch's (atomic; 409 when main moved, unless force)", tag: 'branches', responses: [200, 400, 401, 403, 404, 409, 413, 415, 422] },
];
