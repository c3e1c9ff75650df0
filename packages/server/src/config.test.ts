import { describe, expect, it } from 'vitest';
import { DEFAULT_PORT, isLoopback, parseListen, parseServerConfig, type RawServerConfig } from './config.js';

describe('parseListen', () => {
  it.each([
    ['127.0.0.1:8210', '127.0.0.1', 8210],
    ['localhost:80', 'localhost', 80],
    ['0.0.0.0:443', '0.0.0.0', 443],
    ['[::1]:8210', '::1', 8210],
    ['[::]:9000', '::', 9000],
    [':9000', '127.0.0.1', 9000],
    ['  127.0.0.1:65535 ', '127.0.0.1', 65535],
  ])('reads %j as host %j port %i', (listen, host, port) => {
    expect(parseListen(listen)).toEqual({ ok: true, host, port });
  });

  it.each(['127.0.0.1:65536', '127.0.0.1:99999', '[::1]:70000'])('refuses the out-of-range port in %j', (listen) => {
    const result = parseListen(listen);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toMatch(/^--listen port \d+ is out of range$/);
  });

  it.each(['127.0.0.1', '8210', '::1:8210', '[::1]', 'host:port', 'host:-1', 'host:123456', '[nothex]:80', ''])(
    'refuses %j, showing the expected form',
    (listen) => {
      const result = parseListen(listen);
      expect(result.ok).toBe(false);
      expect(!result.ok && result.error).toContain(`must be HOST:PORT (e.g. 127.0.0.1:${DEFAULT_PORT})`);
    },
  );
});

describe('isLoopback', () => {
  it.each(['localhost', '127.0.0.1', '127.1.2.3', '::1'])('counts %s as loopback', (host) => {
    expect(isLoopback(host)).toBe(true);
  });

  it.each(['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com', '127.0.0.1.example.com', 'localhost.example.com'])(
    'does not count %s as loopback',
    (host) => {
      expect(isLoopback(host)).toBe(false);
    },
  );
});

describe('parseServerConfig', () => {
  const base: RawServerConfig = { dataDir: '/var/lib/keybox' };

  function errors(raw: RawServerConfig): string[] {
    const result = parseServerConfig(raw);
    if (result.ok) throw new Error('expected the config to be refused');
    return result.errors;
  }

  it('defaults to loopback on the default port and returns a frozen config', () => {
    const result = parseServerConfig(base);
    expect(result).toEqual({
      ok: true,
      config: {
        dataDir: '/var/lib/keybox',
        host: '127.0.0.1',
        port: DEFAULT_PORT,
        db: undefined,
        masterKey: undefined,
        masterKeyFile: undefined,
        initTokenFile: undefined,
        tlsCert: undefined,
        tlsKey: undefined,
        insecureListen: false,
        webUi: true,
        logLevel: 'info',
      },
    });
    expect(result.ok && Object.isFrozen(result.config)).toBe(true);
  });

  it.each(['0.0.0.0:8210', '[::]:8210', '10.1.2.3:8210', 'keybox.internal:443'])(
    'refuses the non-loopback address %s without TLS',
    (listen) => {
      const [error, ...rest] = errors({ ...base, listen });
      expect(rest).toEqual([]);
      expect(error).toMatch(
        /^refusing to listen on .+ without TLS: give --tls-cert and --tls-key, or --insecure-listen/,
      );
    },
  );

  it('accepts a non-loopback address with TLS or with --insecure-listen', () => {
    const tls = parseServerConfig({ ...base, listen: '0.0.0.0:8443', tlsCert: 'cert.pem', tlsKey: 'key.pem' });
    expect(tls.ok && [tls.config.host, tls.config.port, tls.config.tlsCert, tls.config.tlsKey]).toEqual([
      '0.0.0.0',
      8443,
      'cert.pem',
      'key.pem',
    ]);
    const proxied = parseServerConfig({ ...base, listen: '0.0.0.0:8210', insecureListen: true });
    expect(proxied.ok && proxied.config.insecureListen).toBe(true);
  });

  it('needs the TLS certificate and key together', () => {
    expect(errors({ ...base, tlsCert: 'cert.pem' })).toEqual(['--tls-cert and --tls-key go together']);
    expect(errors({ ...base, tlsKey: 'key.pem' })).toEqual(['--tls-cert and --tls-key go together']);
    expect(errors({ ...base, listen: '0.0.0.0:8443', tlsCert: 'cert.pem' })).toContain(
      '--tls-cert and --tls-key go together',
    );
  });

  it('reports every problem at once', () => {
    const all = errors({
      dataDir: '',
      listen: '127.0.0.1:70000',
      tlsKey: 'key.pem',
      db: 'mysql://x',
      logLevel: 'loud',
    });
    expect(all.join('\n')).toMatch(/dataDir: a data dir is required/);
    expect(all.join('\n')).toMatch(/logLevel/);

    const semantic = errors({ ...base, listen: '127.0.0.1:70000', tlsKey: 'key.pem', db: 'mysql://x' });
    expect(semantic).toEqual([
      '--listen port 70000 is out of range',
      '--tls-cert and --tls-key go together',
      '--db must be a postgres://… URL (or sqlite: for the embedded store)',
    ]);
  });

  it('refuses two root keys without echoing either', () => {
    const masterKey = 'CANARY-master-key-material-0123456789';
    const [error] = errors({ ...base, masterKey, masterKeyFile: '/etc/keybox.key' });
    expect(error).toBe('give the root key once: KEYBOX_MASTER_KEY or --master-key-file, not both');
  });

  it('never echoes a rejected root key, whatever else is wrong', () => {
    const masterKey = 'CANARY-master-key-material-0123456789';
    const result = parseServerConfig({ dataDir: '', masterKey, listen: 'bad', logLevel: 'nope' });
    expect(result.ok).toBe(false);
    expect(JSON.stringify(result)).not.toContain('CANARY');
  });

  it('accepts sqlite: and postgres URLs for --db', () => {
    for (const db of ['sqlite:', 'postgres://u@h/db', 'postgresql://u@h/db']) {
      expect(parseServerConfig({ ...base, db }).ok).toBe(true);
    }
  });
});
