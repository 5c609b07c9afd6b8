/**
 * Node processes started by a launcher (`npm start`, the benchmark, the e2e tests): `careledger
 * start --home H` as a child of the current Node, its stderr (the JSON log) appended to
 * H/node.log, so every launcher leaves the log where operators and failing tests look for it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';

const cli = join(import.meta.dirname, 'cli.ts');

/** Where a launched node's log goes. */
export function nodeLogPath(home: string): string {
  return join(home, 'node.log');
}

/**
 * Starts the node of `home`; `nodeArgs` go to Node itself (e.g. `--cpu-prof`). `wrapper` runs it
 * under another command that execs it (`ip netns exec NS`, `faketime -f +10s`), so the child is
 * still the node's own process for signals.
 */
export function spawnNode(
  home: string,
  nodeArgs: readonly string[] = [],
  env: NodeJS.ProcessEnv = process.env,
  wrapper: readonly string[] = [],
): ChildProcess {
  const command = [...wrapper, process.execPath, ...nodeArgs, cli, 'start', '--home', home];
  const child = spawn(command[0]!, command.slice(1), {
    stdio: ['ignore', 'ignore', 'pipe'],
    env,
  });
  child.stderr?.pipe(createWriteStream(nodeLogPath(home), { flags: 'a' }));
  return child;
}

/** The last `lines` lines of a launched node's log, for error messages. */
export function nodeLogTail(home: string, lines: number): string {
  try {
    return readFileSync(nodeLogPath(home), 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
