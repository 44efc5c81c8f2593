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

describe('config: INSPECTOR and INSPECTOR_TOKEN', () => {
  it('is off with no token by default', () => {
    expect(loadConfig({})).to.deep.include({ inspector: false, inspectorToken: '' });
  });

  it('reads INSPECTOR=on|off and nothing else', () => {
    expect(loadConfig({ INSPECTOR: 'on', HOST: '127.0.0.1' }).inspector).to.equal(true);
    expect(loadConfig({ INSPECTOR: 'off' }).inspector).to.equal(false);
    expect(rejection({ INSPECTOR: 'yes' }).message).to.include('INSPECTOR').and.include('on or off');
  });

  it('runs without a token on a loopback HOST', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1']) {
      expect(loadConfig({ INSPECTOR: 'on', HOST: host }).inspector, host).to.equal(true);
    }
  });

  it('refuses to start with INSPECTOR=on beyond loopback without INSPECTOR_TOKEN, naming it', () => {
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'example.com']) {
      const err = rejection({ INSPECTOR: 'on', HOST: host });
      expect(err.message, host).to.include('INSPECTOR_TOKEN').and.include(`HOST=${host}`);
    }
    expect(rejection({ INSPECTOR: 'on' }).message, 'the default HOST is 0.0.0.0').to.include('INSPECTOR_TOKEN');
  });

  it('starts beyond loopback with a token', () => {
    expect(loadConfig({ INSPECTOR: 'on', HOST: '0.0.0.0', INSPECTOR_TOKEN: TOKEN })).to.deep.include({ inspector: true, inspectorToken: TOKEN });
  });

  it('needs no token while the inspector is off, whatever the HOST', () => {
    expect(loadConfig({ HOST: '0.0.0.0' }).inspector).to.equal(false);
  });

  it('rejects tokens that are short or need escaping in a URL', () => {
    for (const token of ['short', 'x'.repeat(257), 'has space in it 0123', 'amp&ersand0123456789', 'slash/0123456789abcd']) {
      expect(rejection({ INSPECTOR_TOKEN: token }).message, token).to.include('INSPECTOR_TOKEN');
    }
    expect(loadConfig({ INSPECTOR_TOKEN: 'A-Za-z0-9._~-padding' }).inspectorToken).to.equal('A-Za-z0-9._~-padding');
  });

  it('isLoopback knows the loopback forms and nothing else', () => {
    expect(['127.0.0.1', 'localhost', '::1'].every(isLoopback)).to.equal(true);
    expect(['0.0.0.0', '::', '128.0.0.1', '127.0.0.1.example.com', 'localhost.example.com'].some(isLoopback)).to.equal(false);
  });
});
