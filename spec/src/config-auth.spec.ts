import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('config: keys, beacons and rate limits', () => {
  it('defaults to the protected default: no root key, checks on, no proxy trusted, limits on', () => {
    expect(loadConfig({})).to.deep.include({ adminKey: '', authOff: false, trustProxy: false, beaconSecret: '' });
    expect(loadConfig({}).rateLimitRead).to.deep.equal({ points: 100, seconds: 1 });
    expect(loadConfig({}).rateLimitCampaigns).to.deep.equal({ points: 1000, seconds: 3600 });
  });

  it('takes a root key and a beacon secret of at least 32 characters, and never echoes a refused one', () => {
    const key = 'k'.repeat(32);
    expect(loadConfig({ ADMIN_KEY: key, BEACON_SECRET: key }).adminKey).to.equal(key);
    for (const env of ['ADMIN_KEY', 'BEACON_SECRET']) {
      const short = 'secret-but-only-31-characters-x';
      expect(() => loadConfig({ [env]: short }))
        .to.throw(ConfigError)
        .that.satisfies((e: Error) => e.message.includes(env) && !e.message.includes(short));
    }
  });

  it('reads AUTH, TRUST_PROXY and each RATE_LIMIT_*', () => {
    expect(loadConfig({ AUTH: 'off', TRUST_PROXY: 'on' })).to.deep.include({ authOff: true, trustProxy: true });
    expect(loadConfig({ RATE_LIMIT_WRITE: 'off' }).rateLimitWrite).to.equal(null);
    expect(loadConfig({ RATE_LIMIT_ADDRESS: '5/m' }).rateLimitAddress).to.deep.equal({ points: 5, seconds: 60 });
    expect(() => loadConfig({ AUTH: 'no' })).to.throw(ConfigError, /AUTH/);
    expect(() => loadConfig({ RATE_LIMIT_READ: '100' })).to.throw(ConfigError, /RATE_LIMIT_READ/);
  });
});
