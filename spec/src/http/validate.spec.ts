import { expect } from 'chai';
import { ValidationError } from '../../../src/errors.js';
import { listCampaignsSchema, validators } from '../../../src/http/schemas.js';
import { compile, describe as describeError, isRfc3339, valid } from '../../../src/http/validate.js';

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(ValidationError);
    expect((err as ValidationError).status).to.equal(400);
    return (err as Error).message;
  }
  return expect.fail('expected a ValidationError');
}

describe('validate', () => {
  describe('isRfc3339', () => {
    const accepted = [
      '2026-01-31T12:00:00Z',
      '2026-01-31t12:00:00z',
      '2026-01-31T12:00:00.5Z',
      '2026-01-31T12:00:00.123456789Z',
      '2026-01-31T12:00:00+02:00',
      '2026-01-31T12:00:00-11:30',
      '2024-02-29T00:00:00Z',
      '2000-02-29T00:00:00Z',
      '2026-12-31T23:59:59Z',
    ];
    for (const text of accepted) {
      it(`accepts ${text}`, () => {
        expect(isRfc3339(text)).to.equal(true);
      });
    }

    const rejected = [
      '2026-02-30T00:00:00Z',
      '2023-02-29T00:00:00Z',
      '1900-02-29T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-00-10T00:00:00Z',
      '2026-01-00T00:00:00Z',
      '2026-01-31T24:00:00Z',
      '2026-01-31T12:60:00Z',
      '2026-01-31T12:00:61Z',
      '2026-01-31T12:00:00',
      '2026-01-31 12:00:00Z',
      '2026-01-31',
      '2026-01-31T12:00:00+24:00',
      '2026-01-31T12:00:00+02:60',
      '2026-01-31T12:00:00+0200',
      '2026-01-31T12:00Z',
      '2026-01-31T12:00:00.Z',
      '2026-01-31T12:00:00.1234567890Z',
      '+02026-01-31T12:00:00Z',
      '26-01-31T12:00:00Z',
      'yesterday',
      '',
      ' 2026-01-31T12:00:00Z',
      '2026-01-31T12:00:00Z ',
    ];
    for (const text of rejected) {
      it(`rejects ${JSON.stringify(text)}`, () => {
        expect(isRfc3339(text)).to.equal(false);
      });
    }
  });

  describe('valid', () => {
    it('returns the value when it matches the schema', () => {
      const body = { name: 'x', start_time: '2026-01-31T12:00:00Z' };
      expect(valid(validators.createCampaign, body)).to.equal(body);
    });

    it('names an unknown field and where it was found', () => {
      expect(messageOf(() => valid(validators.createCampaign, { name: 'x', colour: 'red' }))).to.equal('unknown field "colour" in body');
      expect(messageOf(() => valid(compile(listCampaignsSchema), { page: '2' }, 'query'))).to.equal('unknown query "page"');
    });

    it('names a missing field', () => {
      expect(messageOf(() => valid(validators.createCampaign, {}))).to.equal('missing field "name" in body');
    });

    it('names a field of the wrong type', () => {
      expect(messageOf(() => valid(validators.createCampaign, { name: 7 }))).to.equal('field "name" must be a string');
      expect(messageOf(() => valid(validators.createCampaign, []))).to.equal('body must be an object');
    });

    it('states the length rule of a string field on both sides', () => {
      expect(messageOf(() => valid(validators.createCampaign, { name: '' }))).to.match(/^field "name" must be .*\b1\b.*characters/);
      expect(messageOf(() => valid(validators.createCampaign, { name: 'x'.repeat(201) }))).to.match(/^field "name" must be .*\b200 characters/);
      expect(messageOf(() => valid(validators.impression, { campaign_id: 'c', user_id: 'u'.repeat(257), ad_id: 'a' }))).to.match(
        /^field "user_id" must be .*\b256 characters/,
      );
    });

    it('names a date-time field that is not RFC 3339', () => {
      expect(messageOf(() => valid(validators.createCampaign, { name: 'x', start_time: '2026-02-30T00:00:00Z' }))).to.match(
        /^field "start_time" must be an RFC 3339 date-time/,
      );
    });

    it('names a field that does not match its pattern', () => {
      expect(messageOf(() => valid(compile(listCampaignsSchema), { limit: '0' }, 'query'))).to.equal('query "limit" is malformed');
    });

    it('never accepts a __proto__ key, and never pollutes Object.prototype', () => {
      const value = JSON.parse('{"__proto__":{"polluted":1},"campaign_id":"c","user_id":"u","ad_id":"a"}');
      expect(validators.impression(value)).to.equal(false);
      expect(describeError(validators.impression.errors?.[0], 'impression')).to.equal('unknown field "__proto__" in impression');
      expect(({} as any).polluted).to.equal(undefined);
    });
  });

  describe('describe', () => {
    it('falls back to a generic sentence without an ajv error', () => {
      expect(describeError(undefined, 'body')).to.equal('invalid body');
    });

    it('joins nested paths with dots', () => {
      const nested = compile<{ a: { b: number } }>({
        type: 'object',
        required: ['a'],
        properties: { a: { type: 'object', required: ['b'], properties: { b: { type: 'number' } } } },
      });
      expect(nested({ a: { b: 'x' } })).to.equal(false);
      expect(describeError(nested.errors?.[0], 'body')).to.equal('field "a.b" must be a number');
    });
  });
});
