import { checkSecretName } from '../contract/names.js';

/**
 * A name as it may appear in an error: quoted when it looks like a name, left out otherwise, since a string that
 * is not name-shaped may well be a value passed where a name was meant.
 */
export function shownName(name: string): string {
  return checkSecretName(name).ok ? `"${name}"` : 'the name given';
}
