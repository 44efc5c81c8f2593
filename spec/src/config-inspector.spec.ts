import { expect } from 'chai';
import { ConfigError, isLoopback, loadConfig } from '../../src/config.js';

const TOKEN = 'abcdefghijklmnop0123';

function rejection(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`${JSON.stringify(env)} should be rejected`);
}

describe('config: INSPECTOR', () => {
  it('is off by default', () => {
    expect(loadConfig({})).to.deep.include({ inspector: false });
  });

  it('reads INSPECTOR=on|off and nothing else', () => {
    expect(loadConfig({ INSPECTOR: 'on', HOST: '127.0.0.1' }).inspector).to.equal(true);
    expect(loadConfig({ INSPECTOR: 'off' }).inspector).to.equal(false);
    expect(rejection({ INSPECTOR: 'yes' }).message).to.include('INSPECTOR').and.include('on or off');
  });

  it('starts on any HOST: beyond loopback the inspector needs an admin key like every admin route', () => {
    for (const host of ['127.0.0.1', '::1', '0.0.0.0', '10.0.0.5']) expect(loadConfig({ INSPECTOR: 'on', HOST: host }).inspector, host).to.equal(true);
  });

  it('refuses INSPECTOR_TOKEN, now an admin key, without echoing it', () => {
    const err = rejection({ INSPECTOR: 'on', INSPECTOR_TOKEN: TOKEN });
    expect(err.message).to.include('INSPECTOR_TOKEN').and.include('ADMIN_KEY').and.not.include(TOKEN);
  });

  it('isLoopback knows the loopback forms and nothing else', () => {
    expect(['127.0.0.1', 'localhost', '::1'].every(isLoopback)).to.equal(true);
    expect(['0.0.0.0', '::', '128.0.0.1', '127.0.0.1.example.com', 'localhost.example.com'].some(isLoopback)).to.equal(false);
  });
});
