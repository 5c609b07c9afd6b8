/**
 * Child process of host.test.ts: starts two hosts, gossips one message between them, stops both,
 * prints `delivered, stopped` and then must exit on its own. It never calls process.exit, so any
 * socket or timer a host leaves behind keeps it alive and the parent's bounded wait fails.
 */
import { idOf, recorder, startHost, waitFor } from './helpers.ts';

const members = [idOf(1), idOf(2)];
const rb = recorder();
const a = await startHost(1, { members }, recorder().handlers);
const b = await startHost(2, { members, persistentPeers: [a.addresses()[0]!] }, rb.handlers);
await waitFor('B subscribed at A', () => a.topicPeers('tx').includes(b.peerId));
await a.publish('tx', new TextEncoder().encode('last message'));
await waitFor('B to receive', () => rb.received.length === 1);
await b.stop();
await a.stop();
process.stdout.write('delivered, stopped\n');
