/** What every response carries and every request is read with, for the app and the direct listener alike. */

/** Sent on every response (what a browser-facing API should say; the web UI will rely on them). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
};

/** An `x-request-id` a client may choose; anything else is replaced by a UUID. */
export const REQUEST_ID = /^[A-Za-z0-9._-]{8,128}$/;

/** `Authorization: Bearer <token>`. */
export const BEARER = /^Bearer ([^\s]+)$/i;
