import type { AdInfo, ClickFact } from '../../actors/analytics-protocol.js';
import type { CampaignReplay } from '../../actors/protocol.js';
import { RecordType } from './journal.js';

/**
 * Replays the analytics records (ads, impression tallies, clicks) into a recovering campaign state.
 * `body` is the record's payload after its count. Returns false when the record does not parse.
 */
export function replayAnalyticsRecord<S>(type: RecordType, replay: CampaignReplay<S>, state: S, at: number, body: Buffer): boolean {
  try {
    if (type === RecordType.AdRegistered) {
      replay.adRegistered(state, JSON.parse(body.toString()) as AdInfo);
    } else if (type === RecordType.Tallied || type === RecordType.TalliedAt) {
      const adCount = body.readUInt16LE(0);
      let p = 2;
      const ads: string[] = [];
      for (let i = 0; i < adCount; i++) {
        const n = body.readUInt16LE(p);
        ads.push(body.toString('utf8', p + 2, p + 2 + n));
        p += 2 + n;
      }
      // TalliedAt: 3 bytes an impression, then 8 bytes of time an impression.
      const width = type === RecordType.Tallied ? 3 : 11;
      if ((body.length - p) % width !== 0) return false;
      const n = (body.length - p) / width;
      const times = type === RecordType.Tallied ? undefined : Float64Array.from({ length: n }, (_, k) => body.readDoubleLE(p + 3 * n + 8 * k));
      replay.tallied(state, at, ads, body.subarray(p, p + 3 * n), times);
    } else {
      const raw = JSON.parse(body.toString()) as { a: number; ad: string; o: 'c' | 'd' | 'b'; p?: number; d?: number[]; i?: number[]; r?: number }[];
      const facts: ClickFact[] = raw.map((f) => ({
        at: f.a,
        adId: f.ad,
        outcome: f.o === 'c' ? 'counted' : f.o === 'd' ? 'duplicate' : 'bot_filtered',
        playbackTime: f.p,
        digest: f.d === undefined ? undefined : Uint32Array.from(f.d),
        ...(f.i !== undefined && { clickId: { digest: Uint32Array.from(f.i), at: f.r ?? f.a } }),
      }));
      replay.clicked(state, facts);
    }
    return true;
  } catch {
    return false;
  }
}

export function isAnalyticsRecord(type: RecordType): boolean {
  return type === RecordType.AdRegistered || type === RecordType.Tallied || type === RecordType.TalliedAt || type === RecordType.Clicked;
}
