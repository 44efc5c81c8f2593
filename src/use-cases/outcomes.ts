/** The outcomes that are an answer rather than an error (the same for impressions and clicks). */
export type Answered = 'counted' | 'duplicate' | 'replayed_counted' | 'replayed_duplicate' | 'bot_filtered';

export function isAnswered(outcome: string): outcome is Answered {
  return outcome === 'counted' || outcome === 'duplicate' || outcome === 'replayed_counted' || outcome === 'replayed_duplicate' || outcome === 'bot_filtered';
}
