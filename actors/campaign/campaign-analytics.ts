import { CampaignAnalytics } from '../counting/analytics.js';
import type { AnalyticsEvent, ClickFact } from '../analytics-protocol.js';
import type { CampaignState } from './state.js';

/**
 * The campaign actor's analytics messages (ads, clicks, windows, series), handled on its own mailbox
 * against its own state, like impressions. Reads of a campaign that never had analytics allocate nothing.
 */
export function handleAnalytics(state: CampaignState, event: AnalyticsEvent): void {
  switch (event.type) {
    case 'ads.register': {
      if (state.budget?.full === true && !state.analytics?.ads.has(event.ad.id)) {
        event.reply('over_budget');
        return;
      }
      const result = analyticsOf(state).register(event.ad);
      if (result === 'created') state.journal?.adRegistered?.(state.info.id, event.ad);
      event.reply(result);
      return;
    }
    case 'ads.list':
      event.reply(state.analytics?.listAds(event.after, event.limit) ?? { ads: [] });
      return;
    case 'ads.totals':
      event.reply(state.analytics?.totals(event.at, event.span, event.before) ?? []);
      return;
    case 'clicks': {
      // At the budget, a click that would make analytics or an ad row is refused; others go on.
      const full = state.budget?.full === true;
      const had = state.analytics !== undefined;
      const analytics = analyticsOf(state);
      const journal = state.journal?.clicked ? state.journal : undefined;
      for (let k = 0; k < event.items.length; k++) {
        const click = event.items[k];
        if (click.at < state.info.startTime) {
          event.out[k] = 'not_started';
          continue;
        }
        if (full && (!had || analytics.wouldAddRow(click.adId))) {
          event.out[k] = 'over_budget';
          continue;
        }
        // One fact per click, journaled as it is applied, so a crash mid-batch loses none.
        const facts: ClickFact[] | undefined = journal && [];
        event.out[k] = analytics.click(click, event.now, facts);
        if (facts !== undefined && facts.length > 0) journal?.clicked?.(state.info.id, facts);
      }
      event.reply(event.out);
      return;
    }
    case 'analytics':
      event.reply((state.analytics ?? new CampaignAnalytics(state.analyticsOptions)).report(event.at, event.span, event.byAd));
      return;
    case 'series':
      event.reply((state.analytics ?? new CampaignAnalytics(state.analyticsOptions)).series(event.at, event.query));
      return;
  }
}

/** Answers an analytics message whose handler crashed: clicks with what was done, reads with undefined. */
export function answerAnalyticsInflight(event: AnalyticsEvent): void {
  if (event.type === 'clicks') event.reply(event.out);
  else event.reply(undefined);
}

export function analyticsOf(state: CampaignState): CampaignAnalytics {
  return (state.analytics ??= new CampaignAnalytics(state.analyticsOptions));
}
