/**
 * The double-sign guard: the only way a validator key signs proposals and votes.
 *
 * Signing two different messages for the same height/round/step is equivocation, which is
 * evidence against the validator. So, like CometBFT's privval, the guard remembers the last
 * (height, round, step) it signed, refuses to go backwards, and stores the new state durably
 * before the signature can leave the process: after a crash it still knows what it signed.
 */
import {
  closeSync,
  constants,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { CareLedgerError } from '../packages/core/errors.ts';
import { equalBytes } from '../packages/crypto/hash.ts';

/** Order matters: within one height and round, proposal < prevote < precommit. */
export const SignStep = { proposal: 1, prevote: 2, precommit: 3 } as const;
export type SignStepValue = (typeof SignStep)[keyof typeof SignStep];

export interface SignState {
  height: bigint;
  round: number;
  step: number;
  signBytes: Uint8Array | null;
  signature: Uint8Array | null;
}

export interface SignStateStore {
  load(): SignState | null;
  /** durable before return */
  save(state: SignState): void;
}

function isStep(step: unknown): step is SignStepValue {
  return step === SignStep.proposal || step === SignStep.prevote || step === SignStep.precommit;
}

function copyState(state: SignState): SignState {
  return {
    height: state.height,
    round: state.round,
    step: state.step,
    signBytes: state.signBytes === null ? null : new Uint8Array(state.signBytes),
    signature: state.signature === null ? null : new Uint8Array(state.signature),
  };
}

const HEIGHT_RE = /^(0|[1-9][0-9]*)$/;
const HEX_RE = /^([0-9a-f]{2})*$/;

function corrupt(path: string, why: string): CareLedgerError {
  return new CareLedgerError(
    'SIGN_STATE_CORRUPT',
    `sign state file ${path} is corrupt (${why}); fix or restore it by hand: resetting it could allow a double sign`,
  );
}

/**
 * Sign state as JSON: height as a decimal string (it is a bigint), bytes as lowercase hex.
 * Anything unexpected is an error, never a reset to empty: an empty state would let the guard
 * sign again at a height it has already signed.
 */
export class FileSignStateStore implements SignStateStore {
  private readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  load(): SignState | null {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw corrupt(this.path, 'not JSON');
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json))
      throw corrupt(this.path, 'not an object');
    const { height, round, step, signBytes, signature } = json as Record<string, unknown>;
    if (typeof height !== 'string' || !HEIGHT_RE.test(height)) throw corrupt(this.path, 'bad height');
    if (typeof round !== 'number' || !Number.isSafeInteger(round) || round < 0)
      throw corrupt(this.path, 'bad round');
    if (!isStep(step)) throw corrupt(this.path, 'bad step');
    const bytes = (value: unknown, name: string): Uint8Array | null => {
      if (value === null) return null;
      if (typeof value !== 'string' || !HEX_RE.test(value)) throw corrupt(this.path, `bad ${name}`);
      return Uint8Array.from(Buffer.from(value, 'hex'));
    };
    const state: SignState = {
      height: BigInt(height),
      round,
      step,
      signBytes: bytes(signBytes, 'signBytes'),
      signature: bytes(signature, 'signature'),
    };
    if ((state.signBytes === null) !== (state.signature === null)) {
      throw corrupt(this.path, 'signBytes and signature must both be set or both be null');
    }
    return state;
  }

  save(state: SignState): void {
    const hex = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString('hex'));
    const text = JSON.stringify({
      height: state.height.toString(),
      round: state.round,
      step: state.step,
      signBytes: hex(state.signBytes),
      signature: hex(state.signature),
    });
    const dir = dirname(this.path);
    mkdirSync(dir, { recursive: true });
    // Temp file + fsync + rename + fsync dir: a crash leaves either the old state or the new one.
    const tmpPath = `${this.path}.tmp`;
    const fd = openSync(tmpPath, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC);
    try {
      const bytes = Buffer.from(text, 'utf8');
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmpPath, this.path);
    const dirFd = openSync(dir, constants.O_RDONLY);
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }
}

/** For the simulator: it keeps this object across simulated crashes, as a disk would keep the file. */
export class MemorySignStateStore implements SignStateStore {
  private state: SignState | null = null;

  load(): SignState | null {
    return this.state === null ? null : copyState(this.state);
  }

  save(state: SignState): void {
    this.state = copyState(state);
  }
}

export class DoubleSignGuard {
  private readonly store: SignStateStore;
  private readonly signFn: (bytes: Uint8Array) => Uint8Array;
  private last: SignState | null;

  constructor(store: SignStateStore, sign: (bytes: Uint8Array) => Uint8Array) {
    this.store = store;
    this.signFn = sign;
    // Load once, up front: a corrupt state must stop the node before it signs anything.
    this.last = store.load();
  }

  /** Signs signBytes for (height, round, step) only if that is not behind the last signed (height, round, step). Same H/R/S with identical signBytes returns the stored signature (idempotent re-sign after a crash, as CometBFT's privval does). Same H/R/S with different bytes, or a lower H/R/S: throws CareLedgerError 'DOUBLE_SIGN_REFUSED'. The new state is saved (durable) BEFORE the signature is returned. */
  sign(height: bigint, round: number, step: number, signBytes: Uint8Array): Uint8Array {
    if (typeof height !== 'bigint' || height < 0n) {
      throw new CareLedgerError('SIGN_REQUEST_INVALID', 'height must be a bigint >= 0');
    }
    if (!Number.isSafeInteger(round) || round < 0) {
      throw new CareLedgerError('SIGN_REQUEST_INVALID', 'round must be a non-negative safe integer');
    }
    if (!isStep(step)) throw new CareLedgerError('SIGN_REQUEST_INVALID', `step ${step} is not a sign step`);
    if (!(signBytes instanceof Uint8Array))
      throw new CareLedgerError('SIGN_REQUEST_INVALID', 'signBytes must be bytes');

    const last = this.last;
    if (last !== null) {
      const order = compareHrs(height, round, step, last);
      const at = `height ${height} round ${round} step ${step}`;
      if (order < 0) {
        throw new CareLedgerError(
          'DOUBLE_SIGN_REFUSED',
          `refusing to sign ${at}: already signed height ${last.height} round ${last.round} step ${last.step}`,
        );
      }
      if (order === 0) {
        if (last.signBytes !== null && last.signature !== null && equalBytes(last.signBytes, signBytes)) {
          return new Uint8Array(last.signature);
        }
        throw new CareLedgerError('DOUBLE_SIGN_REFUSED', `refusing to sign different bytes at ${at}`);
      }
    }

    // Copies throughout (new Uint8Array, not slice: Buffer.slice shares memory), so no caller can
    // change the stored state behind the guard's back.
    const signature = new Uint8Array(this.signFn(signBytes));
    const next: SignState = { height, round, step, signBytes: new Uint8Array(signBytes), signature };
    this.store.save(next);
    this.last = next;
    return new Uint8Array(signature);
  }

  lastSigned(): SignState | null {
    return this.last === null ? null : copyState(this.last);
  }
}

function compareHrs(height: bigint, round: number, step: number, last: SignState): number {
  if (height !== last.height) return height < last.height ? -1 : 1;
  if (round !== last.round) return round < last.round ? -1 : 1;
  if (step !== last.step) return step < last.step ? -1 : 1;
  return 0;
}
