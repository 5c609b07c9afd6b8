/**
 * The `--help` of a command and of a command group, generated from the command table (the
 * options a command parses, their placeholders and which are required), so help cannot list a
 * flag the command does not take or miss one it does.
 */
import { allOptions, type Command, type Group } from './command.ts';

/** `careledger <group> <name> --help`. */
export function usageOf(group: string, name: string, c: Command): string {
  const options = allOptions(c);
  const required = Object.entries(options)
    .filter(([, o]) => o.required === true)
    .map(([flag, o]) => `--${flag} ${o.arg}`);
  const rows = Object.entries(options).map(([flag, o]) => {
    const left = `  --${flag}${o.arg === undefined ? '' : ` ${o.arg}`}`;
    const notes = [
      o.required === true ? 'required' : '',
      o.requiredUnless === undefined ? '' : `required unless --${o.requiredUnless}`,
      o.multiple === true ? 'repeatable' : '',
    ]
      .filter((n) => n !== '')
      .join(', ');
    return [left, `${o.help}${notes === '' ? '' : ` (${notes})`}`] as const;
  });
  // 22 columns, wider only for a command with a long flag and placeholder.
  const width = Math.max(22, ...rows.map(([left]) => left.length + 2));
  const lines = [...rows, ['  -h, --help', 'show this help'] as const].map(
    ([left, help]) => `${left.padEnd(width)}${help}`,
  );
  // --genesis and --key are needed but may come from the environment or the client config.
  const settings = ['genesis', 'key']
    .filter((flag) => Object.hasOwn(options, flag))
    .map((flag) => `[--${flag} ${options[flag]!.arg}]`);
  const positionals = c.positionals ?? [];
  return `Usage: careledger ${group} ${name} ${[...positionals, ...required, ...settings, '[options]'].join(' ')}

${c.description}

Options:
${lines.join('\n')}
`;
}

/** `careledger <group> --help`: its commands, one line each. */
export function groupUsage(group: string, commands: Group): string {
  const width = Math.max(...Object.keys(commands).map((n) => n.length)) + 2;
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`);
  return `Usage: careledger ${group} <command> [options]

Commands:
${lines.join('\n')}

Run \`careledger ${group} <command> --help\` for a command's options.
`;
}
