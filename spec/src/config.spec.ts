import { getHeapStatistics } from 'node:v8';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { CONFIG_KEYS, ConfigError, duration, helpText, loadConfig, MAX_DEDUP_TTL_MS, size } from '../../src/config.js';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));

function expectConfigError(env: Record<string, string>, variable: string): ConfigError {
  let caught: unknown;
  try {
    loadConfig(env);
  } catch (err) {
    caught = err;
  }
  expect(caught, `${JSON.stringify(env)} should be rejected`).to.be.instanceOf(ConfigError);
  const err = caught as ConfigError;
  expect(err.name).to.equal('ConfigError');
  expect(err.message).to.include(variable);
  return err;
}

describe('config', () => {
  describe('loadConfig defaults', () => {
    it('uses the documented default for every variable when the environment is empty', () => {
      expect(loadConfig({})).to.deep.include({
        port: 8080,
        host: '0.0.0.0',
        dedupTtlMs: 3_600_000,
        bodyLimitBytes: 1024 * 1024,
        batchLimit: 10_000,
        logLevel: 'info',
        askTimeoutMs: 5000,
        maxRestarts: 5,
        restartWindowMs: 60_000,
        sweepIntervalMs: 250,
        sweepBudget: 65_536,
        bodyBufferBytes: 64 * 1024 * 1024,
        requestTimeoutMs: 30_000,
        headersTimeoutMs: 10_000,
        maxConnections: 10_000,
      });
    });

    it('holds, for every key, its documented default parsed', () => {
      const config = loadConfig({}) as unknown as Record<string, unknown>;
      for (const k of CONFIG_KEYS) expect(config[k.field], k.env).to.deep.equal(k.parse(k.fallback));
      expect(Object.keys(config).sort()).to.deep.equal(CONFIG_KEYS.map((k) => k.field).sort());
    });

    it('treats empty and blank values as unset', () => {
      const config = loadConfig({ PORT: '', HOST: '   ', DEDUP_TTL: '' });
      expect(config.port).to.equal(8080);
      expect(config.host).to.equal('0.0.0.0');
      expect(config.dedupTtlMs).to.equal(3_600_000);
    });

    it('reads process.env when no environment is passed', () => {
      const saved = process.env.PORT;
      process.env.PORT = '9191';
      try {
        expect(loadConfig().port).to.equal(9191);
      } finally {
        if (saved === undefined) delete process.env.PORT;
        else process.env.PORT = saved;
      }
    });

    it('ignores variables it does not know', () => {
      expect(loadConfig({ NOT_A_KEY: 'x' }).port).to.equal(8080);
    });
  });

  describe('loadConfig values', () => {
    it('reads a port and a host, trimming surrounding blanks', () => {
      const config = loadConfig({ PORT: ' 0 ', HOST: '127.0.0.1' });
      expect(config.port).to.equal(0);
      expect(config.host).to.equal('127.0.0.1');
      expect(loadConfig({ PORT: '65535', HOST: '::1' })).to.include({ port: 65_535, host: '::1' });
    });

    const durations: [string, number][] = [
      ['500ms', 500],
      ['90s', 90_000],
      ['15m', 900_000],
      ['2h', 7_200_000],
      ['1d', 86_400_000],
      ['1ms', 1],
      ['24d', MAX_DEDUP_TTL_MS],
    ];
    for (const [text, ms] of durations) {
      it(`reads DEDUP_TTL=${text} as ${ms} ms`, () => {
        expect(loadConfig({ DEDUP_TTL: text }).dedupTtlMs).to.equal(ms);
      });
    }

    const sizes: [string, number][] = [
      ['512kb', 512 * 1024],
      ['1mb', 1024 * 1024],
      ['1MB', 1024 * 1024],
      ['2048', 2048],
      ['1kb', 1024],
      ['64mb', 64 * 1024 * 1024],
    ];
    for (const [text, bytes] of sizes) {
      it(`reads BODY_LIMIT=${text} as ${bytes} bytes`, () => {
        expect(loadConfig({ BODY_LIMIT: text }).bodyLimitBytes).to.equal(bytes);
      });
    }

    it('reads every other variable', () => {
      const config = loadConfig({
        BATCH_LIMIT: '5',
        LOG_LEVEL: 'silent',
        ASK_TIMEOUT: '250ms',
        RESTART_LIMIT: '0',
        RESTART_WINDOW: '1h',
        SWEEP_INTERVAL: '1m',
        SWEEP_BUDGET: '1024',
      });
      expect(config).to.include({
        batchLimit: 5,
        logLevel: 'silent',
        askTimeoutMs: 250,
        maxRestarts: 0,
        restartWindowMs: 3_600_000,
        sweepIntervalMs: 60_000,
        sweepBudget: 1024,
      });
    });
  });

  describe('MEMORY_BUDGET and MAX_CAMPAIGNS', () => {
    it('defaults the budget to half the V8 heap limit and the campaigns to a million', () => {
      const config = loadConfig({});
      expect(config.memoryBudgetBytes).to.equal(Math.floor(getHeapStatistics().heap_size_limit / 2));
      expect(config.maxCampaigns).to.equal(1_000_000);
    });

    it('reads sizes down to 16mb and up to 1024gb, and campaign limits from 1', () => {
      expect(loadConfig({ MEMORY_BUDGET: '16mb', MAX_CAMPAIGNS: '1' })).to.include({ memoryBudgetBytes: 16 * 1024 * 1024, maxCampaigns: 1 });
      expect(loadConfig({ MEMORY_BUDGET: '16777216' }).memoryBudgetBytes).to.equal(16 * 1024 * 1024);
      expect(loadConfig({ MEMORY_BUDGET: '1024gb', MAX_CAMPAIGNS: '100000000' })).to.include({ memoryBudgetBytes: 1024 ** 4, maxCampaigns: 100_000_000 });
    });
  });

  describe('invalid values', () => {
    const invalid: [string, string][] = [
      ['PORT', 'abc'],
      ['PORT', '65536'],
      ['PORT', '-1'],
      ['PORT', '80.5'],
      ['PORT', '8080x'],
      ['HOST', 'bad host'],
      ['HOST', 'a/b'],
      ['DEDUP_TTL', '0ms'],
      ['DEDUP_TTL', '25d'],
      ['DEDUP_TTL', '1x'],
      ['DEDUP_TTL', '1.5h'],
      ['DEDUP_TTL', 'h'],
      ['DEDUP_TTL', '3600'],
      ['DEDUP_TTL', '-1h'],
      ['BODY_LIMIT', '1023'],
      ['BODY_LIMIT', '65mb'],
      ['BODY_LIMIT', '1gb'],
      ['BODY_LIMIT', 'lots'],
      ['BATCH_LIMIT', '0'],
      ['BATCH_LIMIT', '100001'],
      ['BATCH_LIMIT', '1e3'],
      ['LOG_LEVEL', 'verbose'],
      ['LOG_LEVEL', 'INFO'],
      ['ASK_TIMEOUT', '9ms'],
      ['ASK_TIMEOUT', '61s'],
      ['RESTART_LIMIT', '1001'],
      ['RESTART_LIMIT', 'five'],
      ['RESTART_WINDOW', '999ms'],
      ['RESTART_WINDOW', '2h'],
      ['SWEEP_INTERVAL', '9ms'],
      ['SWEEP_INTERVAL', '2m'],
      ['SWEEP_BUDGET', '1023'],
      ['SWEEP_BUDGET', '16777217'],
      ['BODY_BUFFER_BUDGET', '1kb'],
      ['BODY_BUFFER_BUDGET', '4097mb'],
      ['REQUEST_TIMEOUT', '999ms'],
      ['REQUEST_TIMEOUT', '11m'],
      ['HEADERS_TIMEOUT', '999ms'],
      ['MAX_CONNECTIONS', '0'],
      ['MAX_CONNECTIONS', '1000001'],
      ['MEMORY_BUDGET', '16777215'],
      ['MEMORY_BUDGET', '1025gb'],
      ['MEMORY_BUDGET', 'half'],
      ['MAX_CAMPAIGNS', '0'],
      ['MAX_CAMPAIGNS', '100000001'],
    ];
    for (const [variable, value] of invalid) {
      it(`rejects ${variable}=${JSON.stringify(value)} with a ConfigError naming ${variable}`, () => {
        const err = expectConfigError({ [variable]: value }, variable);
        expect(err.message).to.include(JSON.stringify(value));
        expect(err.message).to.include('expected');
      });
    }

    it('needs BODY_BUFFER_BUDGET of at least twice BODY_LIMIT', () => {
      expectConfigError({ BODY_LIMIT: '1mb', BODY_BUFFER_BUDGET: String(2 * 1024 * 1024 - 1) }, 'BODY_BUFFER_BUDGET');
      expect(loadConfig({ BODY_LIMIT: '1mb', BODY_BUFFER_BUDGET: '2mb' }).bodyBufferBytes).to.equal(2 * 1024 * 1024);
    });

    it('raises an unset BODY_BUFFER_BUDGET to twice a large BODY_LIMIT, and keeps an explicit one', () => {
      expect(loadConfig({ BODY_LIMIT: '64mb' }).bodyBufferBytes).to.equal(128 * 1024 * 1024);
      expect(loadConfig({ BODY_LIMIT: '32mb' }).bodyBufferBytes).to.equal(64 * 1024 * 1024);
      expectConfigError({ BODY_LIMIT: '64mb', BODY_BUFFER_BUDGET: '64mb' }, 'BODY_BUFFER_BUDGET');
    });

    it('needs HEADERS_TIMEOUT of at most REQUEST_TIMEOUT', () => {
      expectConfigError({ REQUEST_TIMEOUT: '5s', HEADERS_TIMEOUT: '5001ms' }, 'HEADERS_TIMEOUT');
      expect(loadConfig({ REQUEST_TIMEOUT: '5s', HEADERS_TIMEOUT: '5s' })).to.include({ requestTimeoutMs: 5000, headersTimeoutMs: 5000 });
    });

    it('names the bad variable even when the others are valid', () => {
      expectConfigError({ PORT: '9000', HOST: 'localhost', DEDUP_TTL: 'forever', LOG_LEVEL: 'debug' }, 'DEDUP_TTL');
    });
  });

  describe('the result', () => {
    it('is frozen', () => {
      const config = loadConfig({});
      expect(Object.isFrozen(config)).to.equal(true);
      expect(() => {
        (config as { port: number }).port = 1;
      }).to.throw(TypeError);
      expect(config.port).to.equal(8080);
    });

    it('is a fresh object on every call', () => {
      expect(loadConfig({})).not.to.equal(loadConfig({}));
    });
  });

  describe('duration and size', () => {
    it('parse each unit and reject anything else', () => {
      expect(duration('500ms')).to.equal(500);
      expect(duration('90s')).to.equal(90_000);
      expect(duration('15m')).to.equal(900_000);
      expect(duration('2h')).to.equal(7_200_000);
      expect(duration('1d')).to.equal(86_400_000);
      expect(duration('1w')).to.equal(undefined);
      expect(duration('')).to.equal(undefined);
      expect(size('512kb')).to.equal(524_288);
      expect(size('1mb')).to.equal(1_048_576);
      expect(size('10b')).to.equal(10);
      expect(size('2gb')).to.equal(2 * 1024 ** 3);
      expect(size('1tb')).to.equal(undefined);
    });
  });

  describe('documentation', () => {
    it('helpText lists every variable with its default (or "(none)") and what it accepts', () => {
      const text = helpText();
      for (const k of CONFIG_KEYS) {
        expect(text).to.match(new RegExp(`^\\s+${k.env}\\s`, 'm'), k.env);
        expect(text).to.include(`default: ${k.fallback === '' ? '(none)' : k.fallback}; accepts ${k.expected}`);
      }
      expect(text).to.not.include('(default )');
    });

    it('refuses leading zeros in every number, duration and size, and a port with one', () => {
      expect(() => loadConfig({ PORT: '08080' })).to.throw(ConfigError, /PORT="08080"/);
      expect(() => loadConfig({ BATCH_LIMIT: '0100' })).to.throw(ConfigError, /BATCH_LIMIT/);
      expect(duration('015m')).to.equal(undefined);
      expect(duration('0ms')).to.equal(0);
      expect(size('01mb')).to.equal(undefined);
      expect(() => loadConfig({ STORE: 'redis', REDIS_CLUSTER_NODES: '127.0.0.1:07000' })).to.throw(ConfigError, /REDIS_CLUSTER_NODES/);
      expect(loadConfig({ PORT: '0' }).port).to.equal(0);
      expect(loadConfig({ PORT: '8080' }).port).to.equal(8080);
    });

    it('never echoes a secret it refuses (tokens, Redis URLs that may hold a password)', () => {
      const token = 'short-secret';
      const url = 'redis://user:hunter2-secret@';
      expect(() => loadConfig({ ADMIN_KEY: token })).to.throw(ConfigError).that.satisfies((e: Error) => !e.message.includes(token));
      expect(() => loadConfig({ STORE: 'redis', REDIS_URL: url })).to.throw(ConfigError).that.satisfies((e: Error) => !e.message.includes('hunter2'));
      expect(() => loadConfig({ PORT: 'x1' })).to.throw(ConfigError, /PORT="x1"/);
    });

    it('every variable has a doc line and a default that itself parses', () => {
      for (const k of CONFIG_KEYS) {
        expect(k.doc, k.env).to.be.a('string').and.not.equal('');
        expect(k.parse(k.fallback), k.env).not.to.equal(undefined);
      }
    });

    it("every variable appears in README.md's configuration table", () => {
      const tableRows = readFileSync(README, 'utf8')
        .split('\n')
        .filter((line) => line.trimStart().startsWith('|'));
      expect(tableRows.length, 'README.md has no markdown table').to.be.above(0);
      const missing = CONFIG_KEYS.map((k) => k.env).filter(
        (env) => !tableRows.some((row) => new RegExp(`\\b${env}\\b`).test(row)),
      );
      expect(missing, `README.md's config table misses ${missing.join(', ')}`).to.deep.equal([]);
    });
  });

  describe('one rule for every variable', () => {
    /** A valid value of each variable that is written with digits (its default, or one that is). */
    const numeric = (k: (typeof CONFIG_KEYS)[number]): string | undefined => {
      const examples: Record<string, string> = { CLICK_DEDUP_TTL: '10m', SERIES_DAY_RETENTION: '400d', MEMORY_BUDGET: '64mb', REDIS_CLUSTER_NODES: '127.0.0.1:7000' };
      const value = examples[k.env] ?? k.fallback;
      // An address and a path hold digits, not numbers.
      return /\d/.test(value) && k.env !== 'HOST' && k.env !== 'DATA_DIR' ? value : undefined;
    };

    it('refuses a leading zero in every number any variable takes, and takes the same value without it', () => {
      const checked: string[] = [];
      for (const k of CONFIG_KEYS) {
        const value = numeric(k);
        if (value === undefined) continue;
        const env = k.env.startsWith('REDIS_CLUSTER') ? { STORE: 'redis' } : {};
        expect(() => loadConfig({ ...env, [k.env]: value }), `${k.env}=${value}`).not.to.throw();
        // The number of a node list is its port.
        const zeroed = k.env === 'REDIS_CLUSTER_NODES' ? value.replace(':', ':0') : value.replace(/(^|[^\d.])(\d)/, '$10$2');
        expect(() => loadConfig({ ...env, [k.env]: zeroed }), `${k.env}=${zeroed}`).to.throw(ConfigError, new RegExp(k.env));
        checked.push(k.env);
      }
      expect(checked).to.include.members(['PORT', 'DEDUP_TTL', 'BODY_LIMIT', 'RATE_LIMIT_READ', 'MAX_CAMPAIGNS', 'REDIS_CLUSTER_NODES', 'MEMORY_BUDGET']);
    });

    it('marks every key, secret and URL secret, and never echoes one it refuses, however long', () => {
      const secrets = CONFIG_KEYS.filter((k) => /KEY$|SECRET|TOKEN|_URL$/.test(k.env));
      expect(secrets.map((k) => k.env)).to.include.members(['ADMIN_KEY', 'BEACON_SECRET', 'REDIS_URL']);
      for (const k of secrets) {
        expect('secret' in k && k.secret, k.env).to.equal(true);
        for (const value of ['short', `bad value with spaces ${'x'.repeat(40)}`, 'redis://user:p4ss@']) {
          const env = k.env.startsWith('REDIS') ? { STORE: 'redis' } : {};
          expect(() => loadConfig({ ...env, [k.env]: value }), k.env)
            .to.throw(ConfigError)
            .that.satisfies((e: Error) => e.message.includes(k.env) && !e.message.includes(value) && !e.message.includes('p4ss'));
        }
      }
    });

    it('--help gives every numeric variable its range, and README.md the same default as --help', () => {
      const rows = readFileSync(README, 'utf8').split('\n');
      for (const k of CONFIG_KEYS) {
        if (numeric(k) !== undefined && !k.env.startsWith('REDIS_CLUSTER') && !k.env.startsWith('RATE_LIMIT')) expect(k.expected, k.env).to.match(/\d/);
        const row = rows.find((r) => r.startsWith(`| \`${k.env}\` |`));
        expect(row, k.env).to.be.a('string');
        expect((row as string).split(' | ')[1], k.env).to.equal(k.fallback === '' ? '*(none)*' : `\`${k.fallback}\``);
      }
      expect(helpText()).not.to.match(/\(default \)|default: ;/);
    });
  });
});
