import type { Transport } from '../transport.ts';
import type { Bucket, BucketList, CreateBucketInput, DeleteBucketQuery } from '../types.ts';

const BS = '/projects/:id/buckets';
const B = `${BS}/:bucket`;

/** §5 buckets. */
export const bucketsApi = (t: Transport) => ({
  create: (projectId: string, body: CreateBucketInput) => t.json<Bucket>('POST', BS, [projectId], { json: body }),
  list: (projectId: string) => t.json<BucketList>('GET', BS, [projectId]),
  get: (projectId: string, bucket: string) => t.json<Bucket>('GET', B, [projectId, bucket]),
  /** Cascade by default; `force` also removes other projects' links to it. */
  delete: (projectId: string, bucket: string, query: DeleteBucketQuery = {}) => t.empty('DELETE', B, [projectId, bucket], { query }),
});
