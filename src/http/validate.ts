import { isIP } from 'node:net';
import { Ajv, type ErrorObject, type JSONSchemaType, type ValidateFunction } from 'ajv';
import { ValidationError } from '../errors.js';
import { assertWellFormed } from './unicode.js';

/** The one ajv instance; every schema is compiled once, at load. */
// `verbose` adds the failing schema to errors (only on failure) so messages can state the rule.
const ajv = new Ajv({ allErrors: false, strict: true, verbose: true });
ajv.addFormat('date-time', { type: 'string', validate: isRfc3339 });
ajv.addFormat('http-url', { type: 'string', validate: isHttpUrl });
ajv.addFormat('ip', { type: 'string', validate: (text: string) => isIP(text) !== 0 });

/** What each format requires, for error messages. */
const FORMAT_RULES: Record<string, string> = {
  'date-time': 'an RFC 3339 date-time such as 2026-01-31T12:00:00Z',
  'http-url': 'an absolute http or https URL',
  ip: 'an IPv4 or IPv6 address',
};

export type Validator<T> = ValidateFunction<T>;

/** The query schema of a route that takes no query parameter: any one is refused. */
export const NO_QUERY = { type: 'object', additionalProperties: false, properties: {} } as const;

/** The query string a route's schema accepted (the router validates it before the handler runs). */
export function queryOf<T>(ctx: { state: Record<string, unknown> }): T {
  return ctx.state.query as T;
}

export function compile<T>(schema: JSONSchemaType<T>): Validator<T> {
  return ajv.compile(schema);
}

/** Returns `value` typed when valid; otherwise throws a ValidationError naming the field. */
export function valid<T>(validate: Validator<T>, value: unknown, where = 'body'): T {
  assertWellFormed(value, where);
  if (validate(value)) return value;
  throw new ValidationError(describe(validate.errors?.[0], where));
}

/**
 * The first validation error as one sentence: body fields are `field "x"` (`unknown field "x" in
 * body`), query parameters `query "x"` (`unknown query "x"`), whichever route answers.
 */
export function describe(error: ErrorObject | undefined, where: string): string {
  if (error === undefined) return `invalid ${where}`;
  const inQuery = where === 'query';
  const name = (n: string): string => (inQuery ? `query "${n}"` : `field "${n}"`);
  const field = error.instancePath ? name(error.instancePath.slice(1).replaceAll('/', '.')) : where;
  switch (error.keyword) {
    case 'additionalProperty':
    case 'additionalProperties': {
      const unknown = (error.params as { additionalProperty: string }).additionalProperty;
      return inQuery ? `unknown query "${unknown}"` : `unknown field "${unknown}" in ${where}`;
    }
    case 'required': {
      const missing = (error.params as { missingProperty: string }).missingProperty;
      return inQuery ? `missing query "${missing}"` : `missing field "${missing}" in ${where}`;
    }
    case 'type':
      return `${field} must be ${article((error.params as { type: string }).type)}`;
    case 'minLength':
    case 'maxLength':
      return `${field} must be ${lengthRule(error.parentSchema as { minLength?: number; maxLength?: number })}`;
    case 'format':
      return `${field} must be ${FORMAT_RULES[(error.params as { format: string }).format] ?? FORMAT_RULES['date-time']}`;
    case 'enum':
      return `${field} must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    case 'pattern':
      return `${field} is malformed`;
    default:
      return `${field} ${error.message ?? 'is invalid'}`;
  }
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function lengthRule({ minLength = 0, maxLength }: { minLength?: number; maxLength?: number }): string {
  return maxLength === undefined ? `at least ${minLength} characters` : `${minLength}–${maxLength} characters long`;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))$/;

/** RFC 3339 `date-time` with a real calendar date (Date.parse alone accepts February 30th). */
export function isRfc3339(text: string): boolean {
  const m = RFC3339.exec(text);
  if (m === null) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) return false;
  if (hour > 23 || minute > 59 || second > 60) return false;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return false;
  return !Number.isNaN(Date.parse(text));
}

/** An absolute http(s) URL with a host (`URL` alone accepts `http:x` and other oddities). */
export function isHttpUrl(text: string): boolean {
  if (!/^https?:\/\/[^\s/?#]+/i.test(text)) return false;
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}
