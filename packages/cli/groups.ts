/**
 * The registry of `careledger` health-data command groups: one line per group, in the order the
 * top-level help lists them. node/cli.ts dispatches each group named here to runHealthCommand.
 */
import type { Group } from './command.ts';
import { access } from './commands/access.ts';
import { breakglass } from './commands/breakglass.ts';
import { claim } from './commands/claim.ts';
import { config } from './commands/config.ts';
import { consent } from './commands/consent.ts';
import { delegate } from './commands/delegate.ts';
import { disclosures } from './commands/disclosures.ts';
import { gov } from './commands/gov.ts';
import { keys } from './commands/keys.ts';
import { member } from './commands/member.ts';
import { patient } from './commands/patient.ts';
import { record } from './commands/record.ts';
import { request } from './commands/request.ts';

export const GROUPS: Readonly<Record<string, Group>> = {
  keys,
  patient,
  delegate,
  record,
  consent,
  request,
  access,
  disclosures,
  breakglass,
  claim,
  gov,
  config,
  member,
};

/** The `careledger` command groups this package handles; node/cli.ts dispatches each to runHealthCommand. */
export const HEALTH_COMMAND_GROUPS: readonly string[] = Object.keys(GROUPS);

/** One line per group, for the top-level `careledger --help`. */
export const HEALTH_COMMANDS_HELP = HEALTH_COMMAND_GROUPS.map(
  (g) => `  ${g.padEnd(18)}${Object.keys(GROUPS[g]!).join(', ')}`,
).join('\n');
