import { DatabaseSync } from 'node:sqlite';

/**
 * The app's settings table (key → value), in SQLite. Before the migration it also held runtime secrets, which is
 * what the ADR moves out: afterwards it keeps only non-secret settings such as smtp.host.
 */
export function openSettingsStore(file) {
  const db = new DatabaseSync(file);
  db.exec('CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
  const select = db.prepare('SELECT value FROM settings WHERE key = ?');
  const upsert = db.prepare(
    'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
  );
  const remove = db.prepare('DELETE FROM settings WHERE key = ?');

  function transaction(run) {
    db.exec('BEGIN IMMEDIATE');
    try {
      run();
      db.exec('COMMIT');
    } catch (error) {
      db.exec('ROLLBACK');
      throw error;
    }
  }

  return {
    get: (key) => select.get(key)?.value,
    keys: () =>
      db
        .prepare('SELECT key FROM settings ORDER BY key')
        .all()
        .map((row) => row.key),
    set: (entries) => transaction(() => Object.entries(entries).forEach(([k, v]) => upsert.run(k, v))),
    delete: (keys) => transaction(() => keys.forEach((k) => remove.run(k))),
    close: () => db.close(),
  };
}

/**
 * The settings table as the SDK's legacy source: each secret lives under the first of its `settingsKeys`
 * (smtp.password for SMTP_PASSWORD). The SDK reads it last, and its cleanup clears it.
 */
export function legacySettings(store, manifest) {
  const keyOf = new Map(
    manifest.items.filter((i) => i.secret && i.settingsKeys.length > 0).map((i) => [i.name, i.settingsKeys[0]]),
  );
  return {
    label: 'the settings table',
    read: (names) => Object.fromEntries(names.map((n) => [n, keyOf.has(n) ? store.get(keyOf.get(n)) : undefined])),
    clear: (names) => store.delete(names.filter((n) => keyOf.has(n)).map((n) => keyOf.get(n))),
  };
}

/** `{ smtp: { host: 'h' } }` → `{ 'smtp.host': 'h' }`: the table stores flat keys. Only scalars are kept. */
export function flatten(value, prefix = '', out = {}) {
  for (const [key, entry] of Object.entries(value ?? {})) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    if (entry !== null && typeof entry === 'object' && !Array.isArray(entry)) flatten(entry, path, out);
    else if (['string', 'number', 'boolean'].includes(typeof entry)) out[path] = String(entry);
  }
  return out;
}
