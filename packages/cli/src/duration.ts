import { durationSeconds } from '@keybox/sdk/durations';
import { usageError } from './errors.js';

export { formatDuration } from '@keybox/sdk/durations';

/** `90s`, `15m`, `1h`, `7d`, `2w`, or a plain number of seconds, as whole seconds. */
export function parseDuration(text: string, flag: string): number {
  const seconds = durationSeconds(text);
  if (seconds === undefined) throw usageError(`--${flag} takes a duration such as 90s, 15m, 1h, 7d or 2w`);
  return seconds;
}
