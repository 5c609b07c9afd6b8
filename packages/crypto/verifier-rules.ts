/**
 * The chain's signature rule, pinned by published edge cases, and the self-check a node runs
 * before it starts.
 *
 * The cases are the twelve of the ed25519-speccheck project (novifinancial/ed25519-speccheck,
 * `cases.json`: small-order and mixed-order keys and R, non-canonical A, R and S). The chain
 * accepts exactly case 3 and refuses the other eleven: libsodium's answers, which Node 24's
 * OpenSSL gives too. Other verifiers differ (OpenSSL 3.0 builds and Go accept 0–3 and 11, Zebra's
 * ZIP-215 nine of them): a node built against a verifier that answered one case differently
 * could commit a block the others reject, so it must not start.
 */
import { CareLedgerError } from '../core/errors.ts';
import { verifyUncached } from './ed25519.ts';

export interface VerifierCase {
  readonly case: number;
  readonly what: string;
  readonly message: string;
  readonly publicKey: string;
  readonly signature: string;
  /** The chain's answer. */
  readonly accepted: boolean;
}

export const SPECCHECK_CASES: readonly VerifierCase[] = [
  {
    case: 0,
    what: 'small A and R, S = 0',
    message: '8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6',
    publicKey: 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
    signature:
      'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a' +
      '0000000000000000000000000000000000000000000000000000000000000000',
    accepted: false,
  },
  {
    case: 1,
    what: 'small-order A only',
    message: '9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79',
    publicKey: 'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
    signature:
      'f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43' +
      'a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04',
    accepted: false,
  },
  {
    case: 2,
    what: 'small-order R only',
    message: 'aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab',
    publicKey: 'f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43',
    signature:
      'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa' +
      '8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e',
    accepted: false,
  },
  {
    case: 3,
    what: 'mixed-order A and R (valid unless full order is checked)',
    message: '9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79',
    publicKey: 'cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d',
    signature:
      '9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f' +
      '87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009',
    accepted: true,
  },
  {
    case: 4,
    what: 'mixed-order A and R, passes only cofactored',
    message: 'e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c',
    publicKey: 'cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d',
    signature:
      '160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed512' +
      '5ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09',
    accepted: false,
  },
  {
    case: 5,
    what: 'mixed-order A, R of order L, passes cofactored only when 8h is pre-reduced',
    message: 'e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c',
    publicKey: 'cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d',
    signature:
      '21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7' +
      'e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405',
    accepted: false,
  },
  {
    case: 6,
    what: 'S > L',
    message: '85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40',
    publicKey: '442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623',
    signature:
      'e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e' +
      '547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514',
    accepted: false,
  },
  {
    case: 7,
    what: 'S much larger than L',
    message: '85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40',
    publicKey: '442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623',
    signature:
      '8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa1942' +
      '7e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22',
    accepted: false,
  },
  {
    case: 8,
    what: 'non-canonical R, reduced for the hash',
    message: '9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41',
    publicKey: 'f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43',
    signature:
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff' +
      '03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f',
    accepted: false,
  },
  {
    case: 9,
    what: 'non-canonical R, not reduced for the hash',
    message: '9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41',
    publicKey: 'f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43',
    signature:
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff' +
      'ca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908',
    accepted: false,
  },
  {
    case: 10,
    what: 'non-canonical A, reduced for the hash',
    message: 'e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b',
    publicKey: 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
    signature:
      'a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dc' +
      'a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04',
    accepted: false,
  },
  {
    case: 11,
    what: 'non-canonical A, not reduced for the hash',
    message: '39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f',
    publicKey: 'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
    signature:
      'a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dc' +
      'a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04',
    accepted: false,
  },
];

type Verify = (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean;

/** The cases on which `verify` does not give the chain's answer (none for the chain's verifier). */
export function verifierDisagreements(verify: Verify = verifyUncached): VerifierCase[] {
  const bytes = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));
  return SPECCHECK_CASES.filter(
    (c) => verify(bytes(c.publicKey), bytes(c.message), bytes(c.signature)) !== c.accepted,
  );
}

/** Throws VERIFIER_RULES_MISMATCH unless `verify` answers every pinned case as the chain does. */
export function assertChainVerifier(verify: Verify = verifyUncached): void {
  const wrong = verifierDisagreements(verify);
  if (wrong.length === 0) return;
  const list = wrong.map((c) => `case ${c.case} (${c.what}): ${c.accepted ? 'refused' : 'accepted'}`);
  throw new CareLedgerError(
    'VERIFIER_RULES_MISMATCH',
    `this build's ed25519 verifier does not give the chain's answers (${list.join('; ')}): ` +
      'it could fork the chain, so the node does not start; reinstall the pinned sodium-native',
  );
}
