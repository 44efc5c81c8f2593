import { isUtf8 } from 'node:buffer';
import { expect } from 'chai';
import fc from 'fast-check';
import { ValidationError } from '../../../src/errors.js';
import { decodeUtf8, describePath, firstInvalidUtf8, illFormedPath, Utf8Stream } from '../../../src/http/unicode.js';

const bytes = (...b: number[]) => Buffer.from(b);

describe('unicode', () => {
  describe('firstInvalidUtf8', () => {
    // Each pair: the lowest or highest well-formed sequence, and its neighbour just outside.
    const edges: [string, Buffer, number][] = [
      ['ASCII', bytes(0x61, 0x7f), -1],
      ['a lone continuation byte', bytes(0x61, 0x80), 1],
      ['C2 80 (the first two-byte sequence)', bytes(0xc2, 0x80), -1],
      ['C1 BF (an overlong two-byte sequence)', bytes(0xc1, 0xbf), 0],
      ['E0 A0 80 (the first three-byte sequence)', bytes(0xe0, 0xa0, 0x80), -1],
      ['E0 9F BF (an overlong three-byte sequence)', bytes(0xe0, 0x9f, 0xbf), 0],
      ['ED 9F BF (U+D7FF)', bytes(0xed, 0x9f, 0xbf), -1],
      ['ED A0 80 (a surrogate, U+D800)', bytes(0xed, 0xa0, 0x80), 0],
      ['F0 90 80 80 (U+10000)', bytes(0xf0, 0x90, 0x80, 0x80), -1],
      ['F0 8F BF BF (an overlong four-byte sequence)', bytes(0xf0, 0x8f, 0xbf, 0xbf), 0],
      ['F4 8F BF BF (U+10FFFF)', bytes(0xf4, 0x8f, 0xbf, 0xbf), -1],
      ['F4 90 80 80 (past U+10FFFF)', bytes(0xf4, 0x90, 0x80, 0x80), 0],
      ['a sequence cut short at the end', bytes(0x61, 0xe2, 0x82), 1],
      ['FF', bytes(0x75, 0xff), 1],
    ];
    for (const [name, b, at] of edges) {
      it(`${name} → ${at}`, () => expect(firstInvalidUtf8(b)).to.equal(at));
    }

    it("agrees with Node's isUtf8 on any bytes, and the bytes before the offset are valid", () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 40 }), (a) => {
          const b = Buffer.from(a);
          const at = firstInvalidUtf8(b);
          expect(at === -1).to.equal(isUtf8(b));
          if (at >= 0) expect(isUtf8(b.subarray(0, at))).to.equal(true);
        }),
        { numRuns: 2000 },
      );
    });
  });

  describe('decodeUtf8', () => {
    const json = (before: string, bad: number[], after: string) => Buffer.concat([Buffer.from(before), Buffer.from(bad), Buffer.from(after)]);
    const error = (b: Buffer): string => {
      try {
        decodeUtf8(b);
      } catch (err) {
        expect(err).to.be.instanceOf(ValidationError);
        return (err as Error).message;
      }
      throw new Error('decoded');
    };

    it('decodes valid UTF-8 as it is, U+FFFD written by the sender included', () => {
      expect(decodeUtf8(Buffer.from('{"user_id":"u\ufffd😀"}'))).to.equal('{"user_id":"u\ufffd😀"}');
    });

    it('names the field holding an invalid byte, and its offset', () => {
      expect(error(json('{"campaign_id":"c","user_id":"u', [0xff], '"}'))).to.equal('field "user_id" is not valid UTF-8 (invalid byte at offset 31 of the body)');
    });

    it('names the item of a batch', () => {
      expect(error(json('[{"user_id":"a"},{"user_id":"b"},{"ad_id":"', [0xfe], '"}]'))).to.match(/^field "ad_id" of item 2 is not valid UTF-8/);
    });

    it('says "a field name" when the byte is in one', () => {
      expect(error(json('{"us', [0xc0, 0xaf], 'er":"x"}'))).to.match(/^a field name in body is not valid UTF-8/);
    });

    it('speaks of the body when the byte is outside any string', () => {
      expect(error(json('{"user_id":"u"}', [0xff], ''))).to.equal('request body is not valid UTF-8 (invalid byte at offset 15)');
    });
  });

  describe('Utf8Stream', () => {
    it('finds the same first invalid byte as firstInvalidUtf8 however the bytes are cut into chunks', () => {
      const utf8ish = fc.oneof(fc.uint8Array({ maxLength: 12 }), fc.string({ unit: 'grapheme', maxLength: 6 }).map((s) => Buffer.from(s)));
      fc.assert(
        fc.property(fc.array(utf8ish, { maxLength: 8 }), fc.array(fc.nat(40), { maxLength: 6 }), (parts, cuts) => {
          const b = Buffer.concat(parts);
          const stream = new Utf8Stream();
          let from = 0;
          for (const cut of [...cuts.map((c) => Math.min(c, b.length)).sort((x, y) => x - y), b.length]) {
            if (cut < from) continue;
            stream.push(b.subarray(from, cut));
            from = cut;
          }
          expect(stream.end()).to.equal(firstInvalidUtf8(b));
        }),
        { numRuns: 2000 },
      );
    });

    it('takes a sequence split between two chunks as valid, and one cut short by the end as invalid', () => {
      const whole = new Utf8Stream();
      whole.push(bytes(0x61, 0xf0, 0x9f));
      whole.push(bytes(0x98, 0x80));
      expect(whole.end()).to.equal(-1);
      const cut = new Utf8Stream();
      cut.push(bytes(0x61, 0xf0, 0x9f));
      expect(cut.end()).to.equal(1);
    });
  });

  describe('illFormedPath', () => {
    it('finds a lone high or low surrogate in a value, not a pair', () => {
      expect(illFormedPath({ a: 'x', b: 'y\ud800' })).to.deep.equal(['b']);
      expect(illFormedPath({ a: '\udc00' })).to.deep.equal(['a']);
      expect(illFormedPath({ a: '😀', b: '\ud83d\ude00' })).to.equal(undefined);
      expect(illFormedPath([{ a: 'x' }, { a: 'x', b: 1, c: ['\ud800'] }])).to.deep.equal([1, 'c', 0]);
    });

    it('finds one in a field name', () => {
      const path = illFormedPath({ ['k\ud800']: 1 });
      expect(path).to.have.length(1);
      expect(describePath(path!, 'body')).to.equal('a field name in body');
    });

    it('looks no deeper than asked', () => {
      expect(illFormedPath({ a: { b: '\ud800' } }, 1)).to.equal(undefined);
      expect(illFormedPath({ a: { b: '\ud800' } }, 2)).to.deep.equal(['a', 'b']);
    });
  });
});
