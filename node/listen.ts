/** Binding the node's HTTP listeners (RPC, metrics) with the config's address syntax. */
import type { Server } from 'node:http';
import { listenFailed } from '../packages/core/errors.ts';
import { parseListen } from './config.ts';

/** Listens on `listen` (config field `field`); a port that cannot be bound is `NODE_LISTEN_FAILED`. */
export async function listenOn(server: Server, listen: string, field: string): Promise<void> {
  const { host, port } = parseListen(listen, field);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(listenFailed(field, listen, err));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
