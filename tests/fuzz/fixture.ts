// A small world for the fuzzer to aim at, kept alive while it tries to destroy it: two
// projects, a bucket with a table that holds rows, a bucket the other project shares and
// the first one links. `ensure` re-creates whatever a fuzzed request deleted (under a new
// project id when a project itself was deleted, since deleted ids stay taken).
import type { TestApp } from '../helpers.ts';
import type { Fixture, Principal, RefName } from './generators.ts';

export const TABLE_COLUMNS = [
  { name: 'id', type: 'BIGINT' },
  { name: 'name', type: 'VARCHAR' },
  { name: 'amount', type: 'DECIMAL(10,2)' },
  { name: 'ts', type: 'TIMESTAMP' },
  { name: 'flag', type: 'BOOLEAN', default: 'false' },
  { name: 'doc', type: 'JSON' },
];
const ROWS = 'id,name,amount,ts,flag,doc\n1,alpha,12.50,2026-01-01 10:00:00,true,"{""a"":1}"\n2,,0.01,,false,\n3,"x,y",-3.00,2026-11-29 12:21:47,,[1]\n';

export class FuzzWorld implements Fixture {
  private generation = 0;
  own = { id: '', key: '' };
  other = { id: '', key: '' };
  readonly bucket = 'b1';
  readonly table = 't1';
  readonly foreignBucket = 'fb';
  readonly linked = 'linked';
  /** How often `ensure` had to rebuild something (the fuzzer did reach the objects). */
  readonly repairs: Record<string, number> = {};

  constructor(private readonly t: TestApp) {}

  resolve = (ref: RefName): string => {
    switch (ref) {
      case 'own':
        return this.own.id;
      case 'other':
        return this.other.id;
      case 'bucket':
        return this.bucket;
      case 'linked':
        return this.linked;
      case 'foreign_bucket':
        return this.foreignBucket;
      case 'table':
        return this.table;
      case 'foreign_table':
        return 'ft';
      case 'column':
        return 'amount';
    }
  };

  keyOf(principal: Principal): string | undefined {
    if (principal === 'admin') return this.t.services.adminKey;
    if (principal === 'own') return this.own.key;
    if (principal === 'other') return this.other.key;
    return undefined;
  }

  private async ok(method: string, path: string, expected: number[], options: Parameters<TestApp['call']>[2] = {}): Promise<any> {
    const { status, body } = await this.t.callJson(method, path, options);
    if (!expected.includes(status)) throw new Error(`fixture: ${method} ${path} → ${status} ${JSON.stringify(body)}`);
    return body;
  }

  private repaired(what: string) {
    this.repairs[what] = (this.repairs[what] ?? 0) + 1;
  }

  /** Brings the world back to its initial shape; cheap when nothing is missing. */
  async ensure(): Promise<void> {
    const { catalog } = this.t.services;
    if (!this.own.id || !catalog.getActiveProject(this.own.id)) {
      if (this.own.id) this.repaired('own project');
      this.generation++;
      const id = `fz${this.generation}`;
      this.own = { id, key: (await this.ok('POST', '/projects', [201], { body: { id } })).api_key };
    }
    if (!this.other.id || !catalog.getActiveProject(this.other.id)) {
      if (this.other.id) this.repaired('other project');
      this.generation++;
      const id = `fo${this.generation}`;
      this.other = { id, key: (await this.ok('POST', '/projects', [201], { body: { id } })).api_key };
    }
    const own = this.own.id;
    const other = this.other.id;

    let bucket = catalog.getBucket(own, this.bucket);
    if (bucket?.source || (bucket && bucket.name !== this.bucket)) {
      await this.ok('DELETE', `/projects/${own}/buckets/${bucket.name}?force=true`, [204]);
      bucket = undefined;
    }
    if (!bucket) {
      await this.ok('POST', `/projects/${own}/buckets`, [201], { body: { name: this.bucket } });
      this.repaired('bucket');
    }
    const table = catalog.getTable(own, this.bucket, this.table);
    if (!table || table.name !== this.table || table.columns.length !== TABLE_COLUMNS.length) {
      if (table) await this.ok('DELETE', `/projects/${own}/buckets/${this.bucket}/tables/${table.name}`, [204]);
      await this.ok('POST', `/projects/${own}/buckets/${this.bucket}/tables`, [201], { body: { name: this.table, columns: TABLE_COLUMNS, primary_key: ['id'] } });
      this.repaired('table');
    }
    if ((catalog.getTable(own, this.bucket, this.table)?.rowCount ?? 0) === 0) {
      await this.ok('POST', `/projects/${own}/buckets/${this.bucket}/tables/${this.table}/import`, [200], { raw: ROWS, headers: { 'content-type': 'text/csv' } });
    }

    let foreign = catalog.getBucket(other, this.foreignBucket);
    if (foreign?.source || (foreign && foreign.name !== this.foreignBucket)) {
      await this.ok('DELETE', `/projects/${other}/buckets/${foreign.name}?force=true`, [204]);
      foreign = undefined;
    }
    if (!foreign) {
      await this.ok('POST', `/projects/${other}/buckets`, [201], { body: { name: this.foreignBucket } });
      await this.ok('POST', `/projects/${other}/buckets/${this.foreignBucket}/tables`, [201], { body: { name: 'ft', columns: [{ name: 'id', type: 'INTEGER' }] } });
      this.repaired('foreign bucket');
    }
    if (!catalog.sharesOf(other, this.foreignBucket).some((s) => s.targetProjectId.toLowerCase() === own.toLowerCase())) {
      await this.ok('POST', `/projects/${other}/buckets/${this.foreignBucket}/share`, [200], { body: { target_project_id: own } });
    }
    const link = catalog.getBucket(own, this.linked);
    const linkedRight = link?.source && link.source.projectId === other && link.source.bucket === this.foreignBucket;
    if (!linkedRight) {
      if (link) await this.ok('DELETE', `/projects/${own}/buckets/${link.name}?force=true`, [204]);
      await this.ok('POST', `/projects/${own}/buckets/${this.linked}/link`, [201], { body: { source_project_id: other, source_bucket_name: this.foreignBucket } });
      if (link) this.repaired('link');
    }
  }
}
