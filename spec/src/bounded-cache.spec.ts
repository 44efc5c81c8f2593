import { expect } from 'chai';
import fc from 'fast-check';
import sinon from 'sinon';
import { BoundedCache } from '../../src/bounded-cache.js';

describe('BoundedCache', () => {
  it('makes a value once per key, holds at most its size (oldest out) and never keeps an undefined value', () => {
    const make = sinon.spy((key: string) => (key === 'unknown' ? undefined : `value of ${key}`));
    const cache = new BoundedCache(make, 2);
    expect(cache.get('a')).to.equal(cache.get('a'));
    expect(make.callCount).to.equal(1);
    expect(cache.get('unknown')).to.equal(undefined);
    expect(cache.held).to.equal(1);
    cache.get('b');
    cache.get('c');
    expect(cache.held).to.equal(2);
    cache.get('c');
    cache.get('b');
    expect(make.callCount).to.equal(4);
    cache.get('a');
    expect(make.callCount).to.equal(5);
  });

  it('agrees with a first-in-first-out model on any sequence of keys', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'x'), { maxLength: 40 }), (size, keys) => {
        let made = 0;
        const cache = new BoundedCache((k) => (k === 'x' ? undefined : (made++, k)), size);
        const model: string[] = [];
        let modelMade = 0;
        for (const k of keys) {
          expect(cache.get(k)).to.equal(k === 'x' ? undefined : k);
          if (k !== 'x' && !model.includes(k)) {
            modelMade++;
            if (model.length >= size) model.shift();
            model.push(k);
          }
          expect(made).to.equal(modelMade);
          expect(cache.held).to.equal(model.length);
        }
      }),
    );
  });
});
