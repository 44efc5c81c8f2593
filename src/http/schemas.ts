import type { JSONSchemaType } from 'ajv';
import { compile } from './validate.js';

/** Request schemas: the single source for validation, the request types, and api.md. */

export interface CreateCampaignBody {
  name: string;
  start_time?: string;
}

export const createCampaignSchema: JSONSchemaType<CreateCampaignBody> = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    start_time: { type: 'string', format: 'date-time', nullable: true },
  },
};

export interface ImpressionBody {
  campaign_id: string;
  user_id: string;
  ad_id: string;
  impression_id?: string;
}

const id = { type: 'string', minLength: 1, maxLength: 256 } as const;

export const impressionSchema: JSONSchemaType<ImpressionBody> = {
  type: 'object',
  additionalProperties: false,
  required: ['campaign_id', 'user_id', 'ad_id'],
  properties: { campaign_id: id, user_id: id, ad_id: id, impression_id: { ...id, nullable: true } },
};

export interface ListCampaignsQuery {
  limit?: string;
  cursor?: string;
}

export const listCampaignsSchema: JSONSchemaType<ListCampaignsQuery> = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'string', pattern: '^[1-9][0-9]{0,3}$', nullable: true },
    cursor: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,16}$', nullable: true },
  },
};

export const validators = {
  createCampaign: compile(createCampaignSchema),
  impression: compile(impressionSchema),
  listCampaigns: compile(listCampaignsSchema),
};
