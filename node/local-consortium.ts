/**
 * The local consortium of `npm start` (localnet.ts) and `npm run demo` (demo.ts): four validator
 * homes (hospital, clinic, lab, insurer) under one folder, created on first use and reused after,
 * and what a launcher needs to know of them. One place, so both agree on names, folder and chain.
 *
 *   CARELEDGER_LOCALNET  the folder for the homes (default ./localnet)
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CareLedgerError } from '../packages/core/errors.ts';
import { loadHome } from './home.ts';
import { createTestnet } from './testnet.ts';

/** The institutions, in node order: node I is NAMES[I], its member id the same word. */
export const LOCALNET_NAMES: readonly string[] = ['hospital', 'clinic', 'lab', 'insurer'];
export const LOCALNET_CHAIN_ID = 'careledger-local';

/** Where the homes are: $CARELEDGER_LOCALNET, or ./localnet. */
export function localnetRoot(): string {
  return resolve(process.env.CARELEDGER_LOCALNET ?? 'localnet');
}

/**
 * The homes under `root`, created first if missing (progress lines go to `progress`).
 * LOCALNET_OUTDATED if they were made before the health-data application (no members in genesis).
 */
export function ensureLocalnetHomes(root: string, progress: (line: string) => void): string[] {
  if (!existsSync(join(root, 'node0'))) {
    progress(`creating a local consortium in ${root}`);
    createTestnet({
      validators: LOCALNET_NAMES.length,
      output: root,
      names: LOCALNET_NAMES,
      chainId: LOCALNET_CHAIN_ID,
      progress: (l) => progress(`  ${l}`),
    });
  }
  const homes = LOCALNET_NAMES.map((_, i) => join(root, `node${i}`));
  if (loadHome(homes[0]!).genesis.appState === undefined)
    throw new CareLedgerError(
      'LOCALNET_OUTDATED',
      `${root} was created by an older version (its genesis has no app_state); remove it to create a new local consortium`,
    );
  return homes;
}
