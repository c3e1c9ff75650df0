import type { Context } from 'hono';
import { z } from 'zod';
import { invalidInput } from '../core/app-error.js';
import type { HttpEnv } from './http-env.js';

/** Parses a JSON body against a schema. Error messages name the field, never echo what was sent. */
export async function parseBody<S extends z.ZodType>(c: Context<HttpEnv>, schema: S): Promise<z.infer<S>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw invalidInput('the request body is not valid JSON');
  }
  return check(schema, body, 'body');
}

export function parseQuery<S extends z.ZodType>(c: Context<HttpEnv>, schema: S): z.infer<S> {
  return parseSearchParams(new URL(c.req.url).searchParams, schema);
}

/** A query string against a schema: a key given once is a string, a repeated key an array. */
export function parseSearchParams<S extends z.ZodType>(params: URLSearchParams, schema: S): z.infer<S> {
  const query: Record<string, string | string[]> = {};
  for (const key of new Set(params.keys())) {
    const all = params.getAll(key);
    query[key] = all.length === 1 ? (all[0] as string) : all;
  }
  return check(schema, query, 'query');
}

function check<S extends z.ZodType>(schema: S, input: unknown, where: string): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => {
    const field = issue.path.length === 0 ? where : issue.path.join('.');
    return `${field}: ${issue.message}`;
  });
  throw invalidInput(`invalid ${where}: ${issues.slice(0, 5).join('; ')}`, {
    issues: result.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
  });
}

export const boolParam = z
  .enum(['true', 'false', '1', '0', ''])
  .optional()
  .transform((v) => v === 'true' || v === '1' || v === '');

export const intParam = z
  .string()
  .regex(/^\d{1,15}$/, 'expected a non-negative integer')
  .transform(Number);
