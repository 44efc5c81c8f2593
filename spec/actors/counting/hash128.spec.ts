import { expect } from 'chai';
import { hash128 } from '../../../actors/counting/hash128.js';

/**
 * An independent, deliberately plain MurmurHash3 x86_128 over a byte array (lanes in arrays, the tail
 * gathered in a loop rather than a fall-through switch), used as the oracle for `hash128`.
 */
function referenceX86_128(bytes: Uint8Array, seed = 0): number[] {
  const C = [0x239b961b, 0xab0e9789, 0x38b34ae5, 0xa1e38b93];
  const K_ROT = [15, 16, 17, 18];
  const H_ROT = [19, 17, 15, 13];
  const H_ADD = [0x561ccd1b, 0x0bcaa747, 0x96cd1c35, 0x32ac3b17];
  const u = (x: number): number => x >>> 0;
  const rotl = (x: number, r: number): number => u((x << r) | (x >>> (32 - r)));
  const mul = (a: number, b: number): number => u(Math.imul(a, b));
  const mixK = (k: number, lane: number): number => mul(rotl(mul(k, C[lane]), K_ROT[lane]), C[(lane + 1) % 4]);
  const fmix = (x: number): number => {
    x = u(x ^ (x >>> 16));
    x = mul(x, 0x85ebca6b);
    x = u(x ^ (x >>> 13));
    x = mul(x, 0xc2b2ae35);
    return u(x ^ (x >>> 16));
  };
  const h = [u(seed), u(seed), u(seed), u(seed)];
  const len = bytes.length;
  const blocks = Math.floor(len / 16);
  const word = (o: number): number => u(bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24));
  for (let b = 0; b < blocks; b++) {
    for (let lane = 0; lane < 4; lane++) {
      h[lane] = u(h[lane] ^ mixK(word(b * 16 + lane * 4), lane));
      h[lane] = rotl(h[lane], H_ROT[lane]);
      h[lane] = u(h[lane] + h[(lane + 1) % 4]);
      h[lane] = u(mul(h[lane], 5) + H_ADD[lane]);
    }
  }
  const tail = len - blocks * 16;
  const k = [0, 0, 0, 0];
  for (let j = 0; j < tail; j++) k[j >> 2] = u(k[j >> 2] | (bytes[blocks * 16 + j] << ((j & 3) * 8)));
  for (let lane = 3; lane >= 0; lane--) if (tail > lane * 4) h[lane] = u(h[lane] ^ mixK(k[lane], lane));
  for (let lane = 0; lane < 4; lane++) h[lane] = u(h[lane] ^ len);
  const spread = (): void => {
    h[0] = u(h[0] + h[1] + h[2] + h[3]);
    for (let lane = 1; lane < 4; lane++) h[lane] = u(h[lane] + h[0]);
  };
  spread();
  for (let lane = 0; lane < 4; lane++) h[lane] = fmix(h[lane]);
  spread();
  return h;
}

/** The string whose UTF-16 code units are the little-endian byte pairs of `bytes` (even length). */
function unitsOf(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 2) s += String.fromCharCode(bytes[i] | (bytes[i + 1] << 8));
  return s;
}

function digestOf(s: string): number[] {
  const out = new Uint32Array(4);
  hash128(s, out);
  return [...out];
}

/** The four words as the published vectors print them: `0x` then each word in hex, unpadded. */
function printed(words: number[]): string {
  return '0x' + words.map((w) => w.toString(16)).join('');
}

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

/**
 * Published MurmurHash3_x86_128 digests (seed 0) of UTF-8 strings, from the MurmurHash-Swift test
 * suite (daisuke-t-jp/MurmurHash-Swift), which prints the words h1..h4 without zero padding.
 */
const PUBLISHED: readonly [string, string][] = [
  ['', '0x0000'],
  ['H', '0xf69feb5df45637a0f45637a0f45637a0'],
  ['He', '0x47f82b373b8fc7283b8fc7283b8fc728'],
  ['Hel', '0x7b0cd2cdcc2b995ccc2b995ccc2b995c'],
  ['Hell', '0x7f771597e65bee6ae65bee6ae65bee6a'],
  ['Hello', '0x2360ae465e6336c6ad45b3f4ad45b3f4'],
  ['Hello ', '0x497dc9d9b73bad59a57b7235a57b7235'],
  ['Hello W', '0x3d021fe8d111dc31b6345ff3b6345ff3'],
  ['Hello Wo', '0xdb37ce0fe9a99ae0da8c411bda8c411b'],
  ['Hello Wor', '0x107e2665706ff8b8eb00bf34e910bf63'],
  ['Hello Worl', '0x2444bd95337fb2193d57dfac56dfdf0c'],
  ['Hello World', '0x92cafa6a59653c6540fffff0b3beb9c'],
  ['Hello World!', '0x6bee9883eb1be4f59dfb7172ae3fbea9'],
  ['Hello World! ', '0xc85c2fe13e579f88205695c8120178a3'],
  ['Hello World! H', '0xaaadb4452b35ce375a481289ecaa84fe'],
  ['Hello World! He', '0x784f7f08ab145b43cf27d08dc5413b50'],
  ['Hello World! Hel', '0x82475db0161f88d8850474822a76794a'],
  ['Hello World! Hell', '0xa0cf95de87e61640ad45f08dc508c90a'],
  ['Hello World! Hello', '0x453fc5363af752fbaa52e054540a402c'],
  ['Hello World! Hello World! Hello Wo', '0xe63975239102cb333dc5ae42c304eaa7'],
  ['Hello World! Hello World! Hello World', '0x1c95a3f7906f972c94ce43d912a4eebc'],
  ['Hello World! Hello World! Hello World!', '0x97c20b59c7de4e21bf270576dcfc2f'],
  ['メロス', '0xdcfa2df52a3c5ab9d74d6d304e537d23'],
];

/** Deterministic bytes (a small LCG) so that failures reproduce. */
function patternBytes(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

describe('hash128', () => {
  describe('the reference oracle used below', () => {
    it("reproduces SMHasher's verification value for MurmurHash3_x86_128 (0xB3ECE62A)", () => {
      // Arrange: SMHasher's VerificationTest hashes {}, {0}, {0,1}, ... {0..254} with seed 256 − n.
      const key = new Uint8Array(256);
      const digests = new Uint8Array(16 * 256);
      const view = new DataView(digests.buffer);
      for (let n = 0; n < 256; n++) {
        key[n] = n;
        referenceX86_128(key.subarray(0, n), 256 - n).forEach((w, lane) => view.setUint32(n * 16 + lane * 4, w, true));
      }

      // Act
      const verification = referenceX86_128(digests, 0)[0];

      // Assert
      expect(verification).to.equal(0xb3ece62a);
    });

    it('reproduces published digests for byte lengths 0 to 38, odd and even', () => {
      for (const [text, expected] of PUBLISHED) {
        expect(printed(referenceX86_128(ascii(text))), JSON.stringify(text)).to.equal(expected);
      }
    });
  });

  it('matches the published digests when the input bytes are fed as little-endian UTF-16 code units', () => {
    // Only even byte lengths can be written as code units: the service always hashes 2 bytes a unit.
    const even = PUBLISHED.filter(([text]) => ascii(text).length % 2 === 0);
    expect(even.length).to.be.greaterThan(10);
    for (const [text, expected] of even) {
      expect(printed(digestOf(unitsOf(ascii(text)))), JSON.stringify(text)).to.equal(expected);
    }
  });

  it('matches the reference for every even byte length from 0 to 40 (every reachable tail, up to two blocks)', () => {
    for (let length = 0; length <= 40; length += 2) {
      for (let seed = 1; seed <= 8; seed++) {
        const bytes = patternBytes(length, seed * 7919 + length);
        expect(digestOf(unitsOf(bytes)), `length ${length}, seed ${seed}`).to.deep.equal(referenceX86_128(bytes));
      }
    }
  });

  it('matches the reference on all-0x00, all-0x80 and all-0xff inputs (zero tail words, sign bits)', () => {
    for (let length = 0; length <= 40; length += 2) {
      for (const fill of [0x00, 0x80, 0xff]) {
        const bytes = new Uint8Array(length).fill(fill);
        expect(digestOf(unitsOf(bytes)), `length ${length}, fill ${fill}`).to.deep.equal(referenceX86_128(bytes));
      }
    }
  });

  it('hashes any JS string (non-ASCII, astral, lone surrogates) as the reference hashes its UTF-16LE bytes', () => {
    const samples = ['user-42', 'ünïcødé', '用户-七', '😀 emoji 🚀', '\ud800 lone high', 'lone low \udfff', 'a'.repeat(1000), '\u0000'];
    for (const s of samples) {
      const bytes = new Uint8Array(Buffer.from(s, 'utf16le'));
      expect(bytes.length).to.equal(s.length * 2);
      expect(digestOf(s), JSON.stringify(s)).to.deep.equal(referenceX86_128(bytes));
    }
  });

  it('hashes the empty string to four zero words (seed 0)', () => {
    expect(digestOf('')).to.deep.equal([0, 0, 0, 0]);
  });

  it('overwrites the whole output buffer, so a reused buffer gives the same digest', () => {
    const out = new Uint32Array([1, 2, 3, 4]);
    hash128('user-1', out);
    const first = [...out];
    hash128('another user entirely', out);
    hash128('user-1', out);
    expect([...out]).to.deep.equal(first);
  });

  it('gives different digests to strings that differ by one code unit, by case, or by a trailing NUL', () => {
    const strings = ['', '\u0000', '\u0000\u0000', 'a', 'A', 'a\u0000', 'ab', 'ba', 'user-1', 'user-2', 'user-10', 'User-1', 'user-1 '];
    const seen = new Set(strings.map((s) => printed(digestOf(s))));
    expect(seen.size).to.equal(strings.length);
  });

  it('has no collision on the 96 stored bits across 200,000 distinct user ids, and spreads them evenly over 256 shards', () => {
    // Arrange
    const count = 200_000;
    const out = new Uint32Array(4);
    const stored = new Set<string>();
    const perShard = new Array<number>(256).fill(0);

    // Act
    for (let i = 0; i < count; i++) {
      hash128(`user-${i}`, out);
      stored.add(`${out[0]}:${out[1]}:${out[2]}`);
      perShard[out[3] >>> 24]++;
    }

    // Assert: ~781 ids a shard (σ ≈ 28); ±25 % is about 7σ.
    expect(stored.size).to.equal(count);
    expect(Math.min(...perShard)).to.be.greaterThan((count / 256) * 0.75);
    expect(Math.max(...perShard)).to.be.lessThan((count / 256) * 1.25);
  });
});
