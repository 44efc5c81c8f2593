/**
 * Redis Cluster hash slots, for keys the store must place in a given slot: a per-slot epoch key
 * lives in the same slot as the campaigns it guards, so a campaign's scripts can check it atomically.
 */

export const SLOTS = 16_384;

/** CRC16/XMODEM (polynomial 0x1021, initial 0) of an ASCII string, as Redis Cluster computes it. */
function crc16(text: string): number {
  let crc = 0;
  for (let i = 0; i < text.length; i++) {
    crc ^= text.charCodeAt(i) << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The slot of a hash tag (the text between the braces). Every tag the store makes is ASCII. */
export function slotOf(tag: string): number {
  return crc16(tag) % SLOTS;
}

let tags: readonly string[] | undefined;

/**
 * For each slot, the shortest tag of the form `e<base-36 number>` that hashes to it (the first
 * ~170,000 numbers cover all 16,384 slots; worked out once, in some tens of milliseconds).
 */
export function slotTags(): readonly string[] {
  if (tags !== undefined) return tags;
  const found = new Array<string | undefined>(SLOTS);
  let left = SLOTS;
  for (let n = 0; left > 0; n++) {
    const tag = 'e' + n.toString(36);
    const slot = slotOf(tag);
    if (found[slot] === undefined) {
      found[slot] = tag;
      left--;
    }
  }
  tags = Object.freeze(found as string[]);
  return tags;
}
