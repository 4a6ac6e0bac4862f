import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApp, type TestApp } from './helpers.ts';

describe('smoke', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await makeApp();
  });
  afterAll(() => t.close());

  it('answers health and creates a project', async () => {
    expect((await t.callJson('GET', '/health', { key: null })).status).toBe(200);
    const key = await t.createProject('p1');
    expect(key).toMatch(/^proj_p1_admin_[0-9a-f]{32}$/);
    const got = await t.callJson('GET', '/projects/p1', { key });
    expect(got.status).toBe(200);
    expect(got.body.id).toBe('p1');
  });
});
