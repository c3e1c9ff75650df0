import { openPostgresStore } from '../core/store/postgres-store.js';
import { PG_TEMPLATE } from './test-store.js';

/*
 * vitest globalSetup of the `postgres` project: a throwaway PostgreSQL cluster from the machine's binaries
 * (scripts/pg-cluster.js), with a migrated template database the tests copy. KEYBOX_TEST_PG_URL, if set, names an
 * existing server to use instead (its user needs CREATEDB).
 */
export default async function setup(): Promise<() => Promise<void>> {
  let stop: () => Promise<void> = () => Promise.resolve();
  if (process.env['KEYBOX_TEST_PG_URL'] === undefined) {
    const { startCluster } = await import('../../../../scripts/pg-cluster.js');
    const cluster = await startCluster();
    process.env['KEYBOX_TEST_PG_URL'] = cluster.url;
    stop = () => cluster.stop();
  }
  const pg = (await import('pg')).default;
  const admin = new pg.Client({ connectionString: process.env['KEYBOX_TEST_PG_URL'] });
  await admin.connect();
  try {
    await admin.query(`drop database if exists ${PG_TEMPLATE}`);
    await admin.query(`create database ${PG_TEMPLATE}`);
  } finally {
    await admin.end();
  }
  const url = new URL(process.env['KEYBOX_TEST_PG_URL']);
  url.pathname = `/${PG_TEMPLATE}`;
  const store = await openPostgresStore(url.toString());
  await store.close();
  return stop;
}
