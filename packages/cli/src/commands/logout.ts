import { logout } from './login.js';

export function run(argv: string[]): Promise<number> {
  return logout(argv);
}
