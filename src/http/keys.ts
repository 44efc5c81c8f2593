import type { JSONSchemaType } from 'ajv';
import type { Context } from 'koa';
import { keyJson, type KeyRing, type Scope } from '../auth/keys.js';
import { AppError, ValidationError } from '../errors.js';
import { compile, valid } from './validate.js';

export interface CreateKeyBody {
  scopes: Scope[];
  campaigns?: string[] | null;
  name?: string | null;
  expires_at?: string | null;
}

export const createKeySchema: JSONSchemaType<CreateKeyBody> = {
  type: 'object',
  additionalProperties: false,
  required: ['scopes'],
  properties: {
    scopes: { type: 'array', minItems: 1, maxItems: 3, uniqueItems: true, items: { type: 'string', enum: ['admin', 'write', 'read'] }, description: 'admin, write, read' },
    campaigns: {
      type: 'array',
      nullable: true,
      minItems: 1,
      maxItems: 1000,
      items: { type: 'string', minLength: 1, maxLength: 256 },
      description: 'limits a read or write key to these campaigns (absent: every campaign)',
    },
    name: { type: 'string', nullable: true, minLength: 1, maxLength: 256, description: 'what the key is for (shown in lists, never secret)' },
    expires_at: {
      type: 'string',
      nullable: true,
      format: 'date-time',
      description: 'from this instant on the key is refused (a share link); in the future, at most a year ahead (absent: never)',
    },
  },
};

const validateCreate = compile(createKeySchema);
/** The longest a key given an end may live: a share link that never ends should be a key without one. */
const MAX_LIFETIME_MS = 366 * 86_400_000;

/** POST/GET /keys and DELETE /keys/{key_id}: the operator's key management (admin scope). */
export function keyHandlers(keys: KeyRing, now: () => number = Date.now) {
  return {
    async create(ctx: Context): Promise<void> {
      const body = valid(validateCreate, ctx.request.body);
      if (body.campaigns != null && body.scopes.includes('admin')) throw new ValidationError('an admin key cannot be limited to campaigns: limit a read or write key instead');
      const at = now();
      const expiresAt = body.expires_at == null ? undefined : Date.parse(body.expires_at);
      if (expiresAt !== undefined && (expiresAt <= at || expiresAt > at + MAX_LIFETIME_MS)) {
        throw new ValidationError('"expires_at" must be in the future and at most a year ahead');
      }
      const { key, stored } = await keys.create({ scopes: body.scopes, campaigns: body.campaigns, name: body.name, expiresAt }, at);
      ctx.status = 201;
      ctx.set('Location', `/api/v1/keys/${encodeURIComponent(stored.id)}`);
      ctx.body = { ...keyJson(stored), key, message: 'key created: this is the only time its secret is shown' };
    },

    list(ctx: Context): void {
      ctx.body = { keys: keys.list().map(keyJson) };
    },

    async revoke(ctx: Context): Promise<void> {
      const id = String(ctx.params.key_id);
      if (!(await keys.revoke(id, now()))) throw new AppError(404, `no live key ${JSON.stringify(id)}`);
      ctx.body = { id, revoked: true, message: 'key revoked' };
    },
  };
}
