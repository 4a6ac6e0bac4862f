import type { Transport } from '../transport.ts';
import type { Bucket, GrantReadonlyResult, LinkBucketInput, ShareBucketInput, SharedBucketList, ShareResult, UnshareQuery } from '../types.ts';

const B = '/projects/:id/buckets/:bucket';

/** §6 sharing, linking, read-only access. */
export const sharingApi = (t: Transport) => ({
  share: (projectId: string, bucket: string, body: ShareBucketInput) => t.json<ShareResult>('POST', `${B}/share`, [projectId, bucket], { json: body }),
  unshare: (projectId: string, bucket: string, query: UnshareQuery) => t.empty('DELETE', `${B}/share`, [projectId, bucket], { query }),
  /** Makes `bucket` in `projectId` a live, read-only window on a bucket shared with it. */
  link: (projectId: string, bucket: string, body: LinkBucketInput) => t.json<Bucket>('POST', `${B}/link`, [projectId, bucket], { json: body }),
  unlink: (projectId: string, bucket: string) => t.empty('DELETE', `${B}/link`, [projectId, bucket]),
  grantReadonly: (projectId: string, bucket: string) => t.json<GrantReadonlyResult>('POST', `${B}/grant-readonly`, [projectId, bucket]),
  revokeReadonly: (projectId: string, bucket: string) => t.empty('DELETE', `${B}/grant-readonly`, [projectId, bucket]),
  /** GET /projects/{id}/shared-buckets — what other projects shared with this one. */
  sharedWith: (projectId: string) => t.json<SharedBucketList>('GET', '/projects/:id/shared-buckets', [projectId]),
});
