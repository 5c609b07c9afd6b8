/**
 * The application a node runs (config `proxy_app`) and the genesis handshake. On an empty
 * database the application builds its genesis state (ABCI's InitChain) and the node writes it
 * together with the genesis chain state in one synced batch, so a crash leaves either nothing or
 * a complete genesis. The running node and `rollback` start chains through here alike.
 */

import { type ChainState, genesisState } from '../packages/types/chain-state.ts';
import type { Genesis } from '../packages/types/genesis.ts';
import type { Application } from '../state/application.ts';
import type { BlockStore } from '../state/block-store.ts';
import type { Db } from '../state/db.ts';
import { HealthApp } from '../state/health/app.ts';
import { KvStoreApp } from '../state/kvstore-app.ts';
import type { ApplicationName } from './config.ts';

/** `keepStateVersions`: config storage.keep_state_versions (0, the default here, keeps every state). */
export async function openApplication(
  name: ApplicationName,
  db: Db,
  keepStateVersions = 0,
): Promise<Application> {
  const store = { keepVersions: keepStateVersions };
  switch (name) {
    case 'health':
      return HealthApp.open(db, { store });
    case 'kvstore':
      return KvStoreApp.open(db, store);
  }
}

/** Writes the genesis state of `app` and of the chain into the empty `db`; returns the chain state. */
export async function initChain(
  genesis: Genesis,
  db: Db,
  blocks: BlockStore,
  app: Application,
): Promise<ChainState> {
  const init = await app.initChain(genesis);
  const chain = genesisState(genesis, init.appHash);
  await db.batch([...blocks.genesisOps(chain), ...init.ops], { sync: true });
  blocks.genesisCommitted(chain);
  app.commit(chain.initialHeight - 1n, init.appHash);
  return chain;
}
