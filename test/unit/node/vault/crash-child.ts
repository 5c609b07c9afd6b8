/**
 * Child process of crash.test.ts: uploads, confirms and erases records in a loop on the vault
 * of the home folder argv[2], starting at record argv[3], and reports each step on stdout before
 * (`erasing`) or after (`confirmed`, `erased`) it, until the parent kills it with SIGKILL.
 * Record i's plaintext and key material derive from i, so the parent can check them.
 */

import { Vault } from '../../../../node/vault/vault.ts';
import { encryptRecord } from '../../../../packages/records/envelope.ts';
import { bytesOf, chunksOf, materialOf } from './fixtures.ts';

const [home, startText] = process.argv.slice(2);
const vault = await Vault.open(home!);
for (let i = Number(startText); ; i++) {
  const material = materialOf(i);
  const envelope = encryptRecord(bytesOf(i, 150_000 + i), material.dataKey);
  const { sha256 } = await vault.upload(chunksOf(envelope, 8192), material);
  const hex = Buffer.from(sha256).toString('hex');
  await vault.confirm(sha256);
  process.stdout.write(`confirmed ${i} ${hex}\n`);
  if (i % 3 === 0) {
    process.stdout.write(`erasing ${i} ${hex}\n`);
    await vault.erase(sha256);
    process.stdout.write(`erased ${i} ${hex}\n`);
  }
}
