/**
 * The health commands of `careledger`, for a person at a terminal: keys, patients (and their key
 * rotation and delegates), records, consents, access requests, disclosures, break-glass, claims
 * and the consortium's governance (proposals and votes), each over HealthClient (so every
 * answer shown is proven against a light-client-verified app hash). node/cli.ts dispatches the
 * command groups in HEALTH_COMMAND_GROUPS to `runHealthCommand`.
 *
 * Each command is one entry of a table: its options, its help and its action, so `--help` is
 * generated from what the command actually parses. Output is human-readable, or JSON with
 * `--json` (bigints as decimal strings, bytes as hex). A failure is one line,
 * `careledger: CODE: sentence`, and exit status 2, as in node/cli.ts. Private keys and record
 * plaintext are never printed: files are read only to hash them.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CareLedgerError } from '../core/errors.ts';
import { PUBLIC_KEY_BYTES } from '../crypto/ed25519.ts';
import { fromHex, toHex } from '../crypto/hash.ts';
import {
  ACTIONS,
  BREAK_GLASS_REASONS,
  CATEGORIES,
  CLAIM_OUTCOMES,
  DAY_MS,
  DELEGATE_POWERS,
  DELEGATE_ROLES,
  ERASURE_REASONS,
  oneOf,
  PURPOSES,
  REQUEST_REASONS,
  ROLES,
} from '../health/codes.ts';
import { ID_KINDS, type IdKind, isIdOf, isMemberId } from '../health/ids.ts';
import {
  type ClaimLine,
  type GovAction,
  PARAM_BOUNDS,
  PARAM_NAMES,
  type ParamName,
  type Proposal,
} from '../health/model.ts';
import { provision } from '../health/provision.ts';
import { type Genesis, parseGenesisJson } from '../types/genesis.ts';
import {
  HealthClient,
  type HealthTransport,
  type Proven,
  rpcTransport,
  sealRecord,
  type TxReceipt,
} from './health.ts';
import { generateKey, loadKeyFile, patientIdOfKey, saveKeyFile } from './keys.ts';

export const DEFAULT_NODE = 'http://127.0.0.1:26657';

/** Where a command writes, and how it reaches a chain: injectable, so tests run commands in-process. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** The transport to a chain: by default JSON-RPC to `node`, verified by a light client from `genesis`. */
  readonly connect: (node: string, genesis: Genesis) => Promise<HealthTransport>;
  /** Reads the genesis file (default: from disk). */
  readonly readGenesis: (path: string) => Genesis;
  readonly clockMicros: () => bigint;
  readonly random: (bytes: number) => Uint8Array;
}

async function connectRpc(node: string, genesis: Genesis): Promise<HealthTransport> {
  // Loaded on use: `keys` commands work without the network modules.
  const [{ RpcClient }, { LightClient }] = await Promise.all([
    import('./rpc.ts'),
    import('./light-client.ts'),
  ]);
  const rpc = new RpcClient(node);
  return rpcTransport(rpc, new LightClient(genesis, rpc));
}

function readGenesisFile(path: string): Genesis {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new CareLedgerError('CLI_FILE_NOT_FOUND', `cannot read the genesis file ${path}`);
  }
  return parseGenesisJson(text);
}

export const defaultCliIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  connect: connectRpc,
  readGenesis: readGenesisFile,
  clockMicros: () => BigInt(Date.now()) * 1000n,
  random: (n) => new Uint8Array(randomBytes(n)),
};

// --- the command table ---

interface OptionSpec {
  /** The value's placeholder in help; absent for a boolean flag. */
  readonly arg?: string;
  readonly help: string;
  readonly required?: boolean;
  /** Required unless this boolean flag is given (e.g. a permit's purposes, waived by --deny). */
  readonly requiredUnless?: string;
  readonly multiple?: boolean;
}

type Values = Readonly<Record<string, string | boolean | string[] | undefined>>;

/** What a command needs before it runs: nothing, a chain to read, or a chain and a signing key. */
type Needs = 'none' | 'chain' | 'signer';

interface Context {
  readonly io: CliIo;
  readonly v: Values;
  /** Set when the command needs a chain. */
  readonly client: HealthClient;
}

/** A command's result: JSON for --json, and the lines a person reads. */
interface Output {
  readonly json: unknown;
  readonly text: string;
}

interface Command {
  readonly summary: string;
  readonly description: string;
  readonly needs: Needs;
  readonly options: Readonly<Record<string, OptionSpec>>;
  run(ctx: Context): Promise<Output>;
}

const CHAIN_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  node: { arg: 'URL', help: `the node's RPC address (default ${DEFAULT_NODE})` },
  genesis: { arg: 'FILE', help: "the chain's genesis.json, which the light client trusts", required: true },
};
const KEY_OPTION: Readonly<Record<string, OptionSpec>> = {
  key: { arg: 'FILE', help: 'the signer key file', required: true },
};
const JSON_OPTION: Readonly<Record<string, OptionSpec>> = {
  json: { help: 'print JSON for machines' },
};

function allOptions(c: Command): Record<string, OptionSpec> {
  return {
    ...c.options,
    ...(c.needs === 'none' ? {} : CHAIN_OPTIONS),
    ...(c.needs === 'signer' ? KEY_OPTION : {}),
    ...JSON_OPTION,
  };
}

function usageOf(group: string, name: string, c: Command): string {
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
  return `Usage: careledger ${group} ${name} ${[...required, '[options]'].join(' ')}

${c.description}

Options:
${lines.join('\n')}
`;
}

function groupUsage(group: string): string {
  const commands = GROUPS[group]!;
  const width = Math.max(...Object.keys(commands).map((n) => n.length)) + 2;
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`);
  return `Usage: careledger ${group} <command> [options]

Commands:
${lines.join('\n')}

Run \`careledger ${group} <command> --help\` for a command's options.
`;
}

// --- argument readers: each failure is CLI_ARGS_INVALID naming the flag ---

function argsError(message: string): CareLedgerError {
  return new CareLedgerError('CLI_ARGS_INVALID', message);
}

function str(v: Values, flag: string): string {
  const value = v[flag];
  if (typeof value !== 'string' || value.length === 0) throw argsError(`--${flag} is required`);
  return value;
}

/** A user's value, shortened and quoted, for an error line. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

function optStr(v: Values, flag: string): string | undefined {
  return v[flag] === undefined ? undefined : str(v, flag);
}

function idArg(v: Values, flag: string, kind: IdKind): string {
  const value: string = str(v, flag);
  if (!isIdOf(kind, value)) throw argsError(`--${flag}: ${quoted(value)} is not a ${kind} id`);
  return value;
}

function memberArg(v: Values, flag: string): string {
  const value: string = str(v, flag);
  if (!isMemberId(value)) throw argsError(`--${flag}: ${quoted(value)} is not a member id`);
  return value;
}

/** A comma-separated list; empty if the flag is absent and not required. */
function listArg(v: Values, flag: string, required = false): string[] {
  const value = v[flag];
  if (value === undefined && !required) return [];
  return str(v, flag)
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

function codesArg<T extends string>(v: Values, flag: string, codes: readonly T[], required = false): T[] {
  return listArg(v, flag, required).map((x) => oneOf(codes, x, `--${flag}`));
}

function codeArg<T extends string>(v: Values, flag: string, codes: readonly T[]): T {
  return oneOf(codes, str(v, flag), `--${flag}`);
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?Z$/;

/** A time in UTC: `2026-06-30` (midnight) or `2026-06-30T12:00:00Z`, as unix ms. */
function parseTime(value: string, flag: string): bigint {
  const ms = DATE.test(value) || DATE_TIME.test(value) ? Date.parse(value) : Number.NaN;
  // Date.parse rolls an impossible day over (2026-02-31 is 3 March): the time must read back as given.
  const exact = Number.isFinite(ms) && new Date(ms).toISOString().startsWith(value.replace(/Z$/, ''));
  if (!exact || ms < 0)
    throw argsError(`--${flag}: ${quoted(value)} is not a UTC date (2026-06-30 or 2026-06-30T12:00:00Z)`);
  return BigInt(ms);
}

/** A chain time (unix ms) as ISO 8601, or as ms where a date cannot hold it (a u64 can be past year 275760). */
export function isoTime(ms: bigint): string {
  return ms <= 8_640_000_000_000_000n ? new Date(Number(ms)).toISOString() : `${ms} ms`;
}

function timeArg(v: Values, flag: string): bigint | null {
  const value = optStr(v, flag);
  return value === undefined ? null : parseTime(value, flag);
}

function amountArg(value: string, what: string): bigint {
  if (!/^(0|[1-9]\d{0,15})$/.test(value)) throw argsError(`${what}: an amount is whole cents, like 12050`);
  return BigInt(value);
}

/** A whole number (a height, a power, a parameter value). */
function uintArg(v: Values, flag: string): bigint {
  const value = str(v, flag);
  if (!/^(0|[1-9]\d{0,18})$/.test(value))
    throw argsError(`--${flag}: ${quoted(value)} is not a whole number`);
  return BigInt(value);
}

const DURATION_UNITS: Readonly<Record<string, bigint>> = { s: 1000n, m: 60_000n, h: 3_600_000n, d: DAY_MS };

/** A duration such as `90d`, `12h`, `30m` or `45s`, as ms; null if the flag is absent. */
function durationArg(v: Values, flag: string): bigint | null {
  const value = optStr(v, flag);
  if (value === undefined) return null;
  const m = /^([1-9]\d{0,9})([smhd])$/.exec(value);
  if (m === null) throw argsError(`--${flag}: ${quoted(value)} is not a duration like 90d, 12h or 30m`);
  return BigInt(m[1]!) * DURATION_UNITS[m[2]!]!;
}

/** An ed25519 public key: base64 (as genesis.json and `careledger show-validator` write it) or hex. */
function parsePubKey(value: string, flag: string): Uint8Array {
  if (/^[0-9a-fA-F]{64}$/.test(value)) return fromHex(value);
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length === PUBLIC_KEY_BYTES && bytes.toString('base64') === value) return new Uint8Array(bytes);
  throw argsError(`--${flag}: ${quoted(value)} is not a 32-byte public key in base64 or hex`);
}

/**
 * The public key of `--NAME-key FILE` (a key file: only its public key is used) or
 * `--NAME-pubkey KEY`: exactly one of the two.
 */
function pubKeyArg(v: Values, name: string): Uint8Array {
  const file = optStr(v, `${name}-key`);
  const text = optStr(v, `${name}-pubkey`);
  if ((file === undefined) === (text === undefined))
    throw argsError(`give one of --${name}-key FILE and --${name}-pubkey KEY`);
  return file === undefined ? parsePubKey(text!, `${name}-pubkey`) : loadKeyFile(file).publicKey;
}

function readInput(path: string, flag: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch {
    throw new CareLedgerError('CLI_FILE_NOT_FOUND', `--${flag}: cannot read ${path}`);
  }
}

// --- output ---

/** A value with bigints as decimal strings and bytes as hex: what --json prints and text shows. */
function plain(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return toHex(value);
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, plain(x)]));
  return value;
}

/** `name  value` lines; nested values on one line as JSON. */
function fieldLines(fields: Record<string, unknown>): string {
  const entries = Object.entries(plain(fields) as Record<string, unknown>);
  const width = Math.max(...entries.map(([k]) => k.length)) + 2;
  return entries
    .map(([k, x]) => `${k.padEnd(width)}${typeof x === 'string' ? x : JSON.stringify(x)}`)
    .join('\n')
    .concat('\n');
}

function shown(json: Record<string, unknown>): Output {
  return { json: plain(json), text: fieldLines(json) };
}

function receipt(r: TxReceipt, extra: Record<string, unknown> = {}): Output {
  const json = { type: r.type, id: r.id, height: r.height, tx: r.hash, ...extra };
  return { json: plain(json), text: `${r.type} committed at height ${r.height}\n${fieldLines(json)}` };
}

function found<T>(value: T | null, what: string, id: string): T {
  if (value === null) throw new CareLedgerError('CLI_NOT_FOUND', `no ${what} ${id} on chain (proven absent)`);
  return value;
}

function idList(ids: readonly string[], height: bigint, what: string): Output {
  return {
    json: { height: height.toString(), [what]: ids },
    text: ids.length === 0 ? `no ${what} (at height ${height})\n` : `${ids.join('\n')}\n`,
  };
}

/** The required option --<kind> ID. */
function idOption(kind: IdKind): Record<string, OptionSpec> {
  return { [kind]: { arg: 'ID', help: `the ${kind} id (${ID_KINDS[kind]}…)`, required: true } };
}

/** `show`: the object with the id in --<kind>, proven present (proven absent: CLI_NOT_FOUND). */
function showCommand<T extends object>(
  kind: IdKind,
  summary: string,
  description: string,
  read: (client: HealthClient, id: string) => Promise<Proven<T | null>>,
): Command {
  return {
    summary,
    description,
    needs: 'chain',
    options: idOption(kind),
    async run({ v, client }) {
      const id = idArg(v, kind, kind);
      const r = await read(client, id);
      return shown({ ...found(r.value, kind, id), height: r.height });
    },
  };
}

/** `list`: the ids of the patient's objects of one kind (`what`), oldest first, proven. */
function listCommand(
  what: string,
  summary: string,
  description: string,
  read: (client: HealthClient, patient: string) => Promise<Proven<string[]>>,
): Command {
  return {
    summary,
    description,
    needs: 'chain',
    options: patientOption,
    async run({ v, client }) {
      const r = await read(client, idArg(v, 'patient', 'patient'));
      return idList(r.value, r.height, what);
    },
  };
}

// --- the commands ---

const patientOption = idOption('patient');

const keys: Record<string, Command> = {
  generate: {
    summary: 'create a new key file (a patient or member key)',
    description:
      'Creates an ed25519 key pair and writes it to FILE with mode 0600. Prints the public key and the\npatient id the key would have; never the private key.',
    needs: 'none',
    options: {
      out: { arg: 'FILE', help: 'where to write the key', required: true },
      force: { help: 'replace an existing file' },
    },
    async run({ v }) {
      const key = generateKey();
      saveKeyFile(str(v, 'out'), key, { overwrite: v.force === true });
      return shown({ file: str(v, 'out'), publicKey: key.publicKey, patientId: patientIdOfKey(key) });
    },
  },
  show: {
    summary: "print a key file's public key and patient id",
    description: "Prints a key file's public key and the patient id it gives; never the private key.",
    needs: 'none',
    options: KEY_OPTION,
    async run({ v }) {
      const key = loadKeyFile(str(v, 'key'));
      return shown({ publicKey: key.publicKey, patientId: patientIdOfKey(key) });
    },
  },
};

const patient: Record<string, Command> = {
  register: {
    summary: 'enrol a patient (signed by the enrolling member)',
    description:
      "Registers the patient holding --patient-key: the patient's key signs the proof of possession,\nthe member's --key signs the tx. Prints the patient id.",
    needs: 'signer',
    options: { 'patient-key': { arg: 'FILE', help: "the patient's key file", required: true } },
    async run({ v, client }) {
      return receipt(await client.registerPatient(loadKeyFile(str(v, 'patient-key'))));
    },
  },
  show: showCommand(
    'patient',
    "show a patient's on-chain identity",
    'Shows the patient: key, enrolling member, delegates (proven).',
    (client, id) => client.patient(id),
  ),
  'rotate-key': {
    summary: "move a patient to a new key (signed by the patient's current key)",
    description:
      "Moves the patient to the key in --new-key (which signs a proof that it is held); --key is the\npatient's current key and signs the tx. The patient id, records, consents and delegates stay.\nFrom then on the old key signs nothing for the patient, and it can never be bound again. Prints\nthe new public key.",
    needs: 'signer',
    options: {
      ...patientOption,
      'new-key': { arg: 'FILE', help: 'the new key file (make one with keys generate)', required: true },
    },
    async run({ v, client }) {
      const patientId = idArg(v, 'patient', 'patient');
      const next = loadKeyFile(str(v, 'new-key'));
      return receipt(await client.rotatePatientKey(patientId, next), { publicKey: next.publicKey });
    },
  },
};

const delegateKeyOptions: Readonly<Record<string, OptionSpec>> = {
  'delegate-key': {
    arg: 'FILE',
    help: "the delegate's key file, if this machine holds it (only its public key is read; else --delegate-pubkey)",
  },
  'delegate-pubkey': { arg: 'KEY', help: "or the delegate's public key, in base64 or hex" },
};

const delegate: Record<string, Command> = {
  set: {
    summary: 'name (or replace) a delegate who acts for a patient (signed by the patient)',
    description:
      "Lets the holder of --delegate-key (or --delegate-pubkey) act for the patient: a guardian or a\nproxy with the --powers listed (approve, deny: access requests; grant, revoke: consents). A\ndelegate's grants and approvals are limited to --purposes (default: any) and, with --max-consent,\nmust end within that long of when they are made. It can do nothing after --expires. Setting the\nsame key again replaces its powers. A patient has at most 8 delegates.",
    needs: 'signer',
    options: {
      ...patientOption,
      ...delegateKeyOptions,
      role: { arg: 'CODE', help: DELEGATE_ROLES.join(', '), required: true },
      powers: { arg: 'LIST', help: DELEGATE_POWERS.join(', '), required: true },
      purposes: { arg: 'LIST', help: 'purposes it may grant or approve for (default: any)' },
      expires: { arg: 'TIME', help: 'it can do nothing from this UTC time (default: until removed)' },
      'max-consent': {
        arg: 'DURATION',
        help: 'its consents end within this long, e.g. 90d, 12h (default: no limit)',
      },
    },
    async run({ v, client }) {
      const patientId = idArg(v, 'patient', 'patient');
      const pubKey = pubKeyArg(v, 'delegate');
      const r = await client.setDelegate(patientId, {
        pubKey,
        role: codeArg(v, 'role', DELEGATE_ROLES),
        powers: codesArg(v, 'powers', DELEGATE_POWERS, true),
        purposes: codesArg(v, 'purposes', PURPOSES),
        expiresAt: timeArg(v, 'expires'),
        maxConsentMs: durationArg(v, 'max-consent'),
      });
      return receipt(r, { delegate: pubKey });
    },
  },
  remove: {
    summary: 'remove a delegate (signed by the patient, or by the delegate stepping down)',
    description:
      'Removes the delegate with --delegate-pubkey (or the key in --delegate-key) from the patient. The\npatient signs, or the delegate itself with its own --key.',
    needs: 'signer',
    options: { ...patientOption, ...delegateKeyOptions },
    async run({ v, client }) {
      const patientId = idArg(v, 'patient', 'patient');
      const pubKey = pubKeyArg(v, 'delegate');
      return receipt(await client.removeDelegate(patientId, pubKey), { delegate: pubKey });
    },
  },
  list: {
    summary: "list a patient's delegates",
    description: "Lists the patient's delegates: key, role, powers and limits (proven).",
    needs: 'chain',
    options: patientOption,
    async run({ v, client }) {
      const id = idArg(v, 'patient', 'patient');
      const p = await client.patient(id);
      const delegates = found(p.value, 'patient', id).delegates;
      const time = (t: bigint | null): string => (t === null ? '' : isoTime(t));
      return {
        json: plain({ height: p.height, delegates }),
        text:
          delegates.length === 0
            ? `no delegates (at height ${p.height})\n`
            : delegates
                .map(
                  (d) =>
                    `${toHex(d.pubKey)}  ${d.role}  ${d.powers.join(',')} for ${d.purposes.join(',') || '*'}${d.maxConsentMs === null ? '' : `  consents within ${d.maxConsentMs} ms`}${d.expiresAt === null ? '' : `  until ${time(d.expiresAt)}`}`,
                )
                .join('\n')
                .concat('\n'),
      };
    },
  },
};

const record: Record<string, Command> = {
  anchor: {
    summary: "anchor a record's hash (signed by the custodian)",
    description:
      'Anchors a record held off chain by this member: the sha256 of the encrypted file (--file), its\nsize, and a salted commitment to the plaintext (--plaintext), which is read to hash it and never\nshown. Keep the salt with the record, off chain. Prints the record id.',
    needs: 'signer',
    options: {
      ...patientOption,
      category: { arg: 'CODE', help: 'the record category (e.g. Observation.laboratory)', required: true },
      file: { arg: 'FILE', help: 'the encrypted record', required: true },
      plaintext: { arg: 'FILE', help: 'the record before encryption (for the commitment)', required: true },
      salt: { arg: 'HEX', help: 'the commitment salt, 16 to 64 bytes (default: 32 random bytes, printed)' },
      supersedes: { arg: 'ID', help: 'the record this one amends' },
    },
    async run({ v, client, io }) {
      const patientId = idArg(v, 'patient', 'patient');
      const category = codeArg(v, 'category', CATEGORIES);
      const saltHex = optStr(v, 'salt');
      if (saltHex !== undefined && !/^(?:[0-9a-fA-F]{2}){16,64}$/.test(saltHex))
        throw argsError('--salt: 16 to 64 bytes in hex');
      const salt = saltHex === undefined ? io.random(32) : fromHex(saltHex);
      const supersedes = v.supersedes === undefined ? null : idArg(v, 'supersedes', 'record');
      const seal = sealRecord(
        readInput(str(v, 'file'), 'file'),
        readInput(str(v, 'plaintext'), 'plaintext'),
        salt,
      );
      const r = await client.anchorRecord({ patient: patientId, category, supersedes, ...seal });
      // A generated salt is printed (it must be kept with the record); one given is not echoed.
      const shownSalt = saltHex === undefined ? { salt } : {};
      return receipt(r, { ciphertextHash: seal.ciphertextHash, size: seal.size, ...shownSalt });
    },
  },
  show: showCommand(
    'record',
    'show a record anchor',
    'Shows a record anchor: custodian, category, hashes, amendment and erasure (proven).',
    (client, id) => client.record(id),
  ),
  list: listCommand(
    'records',
    "list a patient's record ids",
    'Lists the ids of every record anchored for the patient, oldest first (proven).',
    (client, patient) => client.records(patient),
  ),
  erase: {
    summary: 'mark a record erased (signed by the custodian)',
    description: 'Marks a record erased after its key was destroyed off chain; the anchor stays as evidence.',
    needs: 'signer',
    options: {
      record: { arg: 'ID', help: 'the record id', required: true },
      reason: { arg: 'CODE', help: ERASURE_REASONS.join(', '), required: true },
    },
    async run({ v, client }) {
      return receipt(
        await client.eraseRecord(idArg(v, 'record', 'record'), codeArg(v, 'reason', ERASURE_REASONS)),
      );
    },
  },
};

const consent: Record<string, Command> = {
  grant: {
    summary: 'grant (or deny) a member access (signed by the patient)',
    description:
      'Grants --grantee the --actions on the records in scope (--categories and/or --records) for the\n--purposes, from --start to --end. With --deny it is a deny rule instead (--grantee may be * for\nevery member). Prints the consent id.',
    needs: 'signer',
    options: {
      ...patientOption,
      grantee: { arg: 'MEMBER', help: 'the member id, or * with --deny', required: true },
      purposes: { arg: 'LIST', help: 'purposes of use, e.g. TREAT,HPAYMT', requiredUnless: 'deny' },
      actions: { arg: 'LIST', help: `actions: ${ACTIONS.join(', ')}`, requiredUnless: 'deny' },
      categories: { arg: 'LIST', help: 'record categories in scope, e.g. Observation' },
      records: { arg: 'LIST', help: 'record ids in scope' },
      start: { arg: 'TIME', help: 'from this UTC time (default: no start: from any time)' },
      end: { arg: 'TIME', help: 'until this UTC time (default: no end)' },
      deny: { help: 'a deny rule instead of a permit' },
    },
    async run({ v, client }) {
      const deny = v.deny === true;
      const grantee = deny && v.grantee === '*' ? '*' : memberArg(v, 'grantee');
      const rule = provision({
        type: deny ? 'deny' : 'permit',
        start: timeArg(v, 'start'),
        end: timeArg(v, 'end'),
        // A permit's purposes and actions are required: checked with the other flags (requiredUnless).
        purposes: codesArg(v, 'purposes', PURPOSES),
        actions: codesArg(v, 'actions', ACTIONS),
        categories: codesArg(v, 'categories', CATEGORIES),
        records: listArg(v, 'records').map((id) => idArgValue(id, 'records', 'record')),
      });
      return receipt(await client.grantConsent(idArg(v, 'patient', 'patient'), grantee, rule));
    },
  },
  revoke: {
    summary: 'revoke a consent (signed by the patient)',
    description: 'Revokes a consent; it stops permitting from the next block.',
    needs: 'signer',
    options: idOption('consent'),
    async run({ v, client }) {
      return receipt(await client.revokeConsent(idArg(v, 'consent', 'consent')));
    },
  },
  list: {
    summary: "list a patient's consents",
    description: 'Lists every consent the patient has given, with its grantee and state (proven).',
    needs: 'chain',
    options: patientOption,
    async run({ v, client }) {
      const ids = await client.consents(idArg(v, 'patient', 'patient'));
      const opts = { height: ids.height };
      const consents = await Promise.all(
        ids.value.map(async (id) => (await client.consent(id, opts)).value!),
      );
      const rows = consents.map((c) => ({
        id: c.id,
        grantee: c.grantee,
        type: c.provision.type,
        purposes: c.provision.purposes,
        actions: c.provision.actions,
        scope: [...c.provision.categories, ...c.provision.records],
        end: c.provision.end,
        revokedAt: c.revokedAt,
      }));
      return {
        json: plain({ height: ids.height, consents: rows }),
        text:
          rows.length === 0
            ? `no consents (at height ${ids.height})\n`
            : rows
                .map(
                  (r) =>
                    `${r.id}  ${r.type} ${r.grantee}  ${r.actions.join(',') || '*'} for ${r.purposes.join(',') || '*'} on ${r.scope.join(',') || '*'}${r.end === null ? '' : ` until ${isoTime(r.end)}`}${r.revokedAt === null ? '' : `  revoked at ${r.revokedAt}`}`,
                )
                .join('\n')
                .concat('\n'),
      };
    },
  },
};

function idArgValue(value: string, flag: string, kind: IdKind): string {
  return idArg({ [flag]: value }, flag, kind);
}

const request: Record<string, Command> = {
  create: {
    summary: 'ask a patient for access (signed by the member)',
    description:
      'Asks the patient for --actions on the records in scope for the --purposes. The request closes\nunanswered at --expires (default in 7 days). Prints the request id.',
    needs: 'signer',
    options: {
      ...patientOption,
      purposes: { arg: 'LIST', help: 'purposes of use, e.g. TREAT', required: true },
      actions: { arg: 'LIST', help: `actions: ${ACTIONS.join(', ')}`, required: true },
      categories: { arg: 'LIST', help: 'record categories asked for' },
      records: { arg: 'LIST', help: 'record ids asked for' },
      reason: { arg: 'CODE', help: REQUEST_REASONS.join(', '), required: true },
      'period-end': { arg: 'TIME', help: 'access until this UTC time (default: open-ended)' },
      expires: { arg: 'TIME', help: 'the request closes at this UTC time (default: in 7 days)' },
    },
    async run({ v, client, io }) {
      const nowMs = io.clockMicros() / 1000n;
      const r = await client.createRequest(idArg(v, 'patient', 'patient'), {
        purposes: codesArg(v, 'purposes', PURPOSES, true),
        actions: codesArg(v, 'actions', ACTIONS, true),
        categories: codesArg(v, 'categories', CATEGORIES),
        records: listArg(v, 'records').map((id) => idArgValue(id, 'records', 'record')),
        reason: codeArg(v, 'reason', REQUEST_REASONS),
        periodEnd: timeArg(v, 'period-end'),
        expiresAt: timeArg(v, 'expires') ?? nowMs + 7n * DAY_MS,
      });
      return receipt(r);
    },
  },
  approve: {
    summary: 'approve a request: a consent for the requester (signed by the patient)',
    description:
      'Approves a pending request, creating a consent with the requested scope. Prints the consent id.',
    needs: 'signer',
    options: {
      ...idOption('request'),
      'period-end': { arg: 'TIME', help: 'end the access at this UTC time instead of the requested one' },
    },
    async run({ v, client }) {
      return receipt(
        await client.approveRequest(idArg(v, 'request', 'request'), { periodEnd: timeArg(v, 'period-end') }),
      );
    },
  },
  deny: {
    summary: 'deny a request (signed by the patient)',
    description: 'Denies a pending request.',
    needs: 'signer',
    options: idOption('request'),
    async run({ v, client }) {
      return receipt(await client.denyRequest(idArg(v, 'request', 'request')));
    },
  },
  list: {
    summary: "list a patient's pending requests",
    description:
      "Lists the patient's pending requests with who asks and for what; --all lists every request (proven).",
    needs: 'chain',
    options: { ...patientOption, all: { help: 'every request, not only the pending ones' } },
    async run({ v, client }) {
      const id = idArg(v, 'patient', 'patient');
      const ids = v.all === true ? await client.requests(id) : await client.pendingRequests(id);
      const opts = { height: ids.height };
      const rows = await Promise.all(ids.value.map(async (q) => (await client.request(q, opts)).value!));
      return {
        json: plain({ height: ids.height, requests: rows }),
        text:
          rows.length === 0
            ? `no ${v.all === true ? '' : 'pending '}requests (at height ${ids.height})\n`
            : rows
                .map(
                  (r) =>
                    `${r.id}  ${r.status}  ${r.requester} asks ${r.actions.join(',')} for ${r.purposes.join(',')} on ${[...r.categories, ...r.records].join(',') || '*'} (${r.reason})`,
                )
                .join('\n')
                .concat('\n'),
      };
    },
  },
};

const accessOptions = {
  ...patientOption,
  purpose: { arg: 'CODE', help: 'the purpose of use, e.g. TREAT', required: true },
  action: { arg: 'CODE', help: `the action: ${ACTIONS.join(', ')}`, required: true },
} as const;

const access: Record<string, Command> = {
  record: {
    summary: 'record a disclosure to a member (signed by the custodian)',
    description:
      "Records that this custodian discloses --records to --recipient. The chain accepts it only if the\npatient's consents permit it now (or under an active break-glass declaration with --break-glass).",
    needs: 'signer',
    options: {
      ...accessOptions,
      recipient: { arg: 'MEMBER', help: 'the member receiving the records', required: true },
      records: { arg: 'LIST', help: 'record ids (1 to 32)', required: true },
      'break-glass': { help: 'under an emergency break-glass declaration (purpose ETREAT)' },
    },
    async run({ v, client }) {
      return receipt(
        await client.recordAccess({
          patient: idArg(v, 'patient', 'patient'),
          recipient: memberArg(v, 'recipient'),
          purpose: codeArg(v, 'purpose', PURPOSES),
          action: codeArg(v, 'action', ACTIONS),
          records: listArg(v, 'records', true).map((id) => idArgValue(id, 'records', 'record')),
          breakGlass: v['break-glass'] === true,
        }),
      );
    },
  },
  check: {
    summary: 'would the consents permit an access? (proven decision)',
    description:
      'Asks the policy engine whether --grantee may do --action on --record for --purpose, as the next\nblock would decide; the decision is re-derived here from its proven inputs.',
    needs: 'chain',
    options: {
      ...accessOptions,
      grantee: { arg: 'MEMBER', help: 'the member asking', required: true },
      record: { arg: 'ID', help: 'the record id', required: true },
      at: { arg: 'TIME', help: "decide at this UTC time (default: the latest block's)" },
    },
    async run({ v, client }) {
      const d = await client.decision({
        patient: idArg(v, 'patient', 'patient'),
        grantee: memberArg(v, 'grantee'),
        record: idArg(v, 'record', 'record'),
        purpose: codeArg(v, 'purpose', PURPOSES),
        action: codeArg(v, 'action', ACTIONS),
        time: timeArg(v, 'at'),
      });
      return shown({ ...d.value });
    },
  },
};

const disclosures: Record<string, Command> = {
  list: {
    summary: "list a patient's disclosures (the audit trail)",
    description:
      'Lists every access event of the patient: who disclosed which records to whom, why, under which consent (proven).',
    needs: 'chain',
    options: patientOption,
    async run({ v, client }) {
      const r = await client.disclosures(idArg(v, 'patient', 'patient'));
      return {
        json: plain({ height: r.height, disclosures: r.value }),
        text:
          r.value.length === 0
            ? `no disclosures (at height ${r.height})\n`
            : r.value
                .map(
                  (e) =>
                    `${e.id}  ${isoTime(e.time)}  ${e.custodian} -> ${e.recipient}  ${e.action} for ${e.purpose}${e.breakGlass === null ? '' : ' BREAK-GLASS'}\n${e.items.map((i) => `    ${i.record}  consent ${i.consent ?? '-'}`).join('\n')}`,
                )
                .join('\n')
                .concat('\n'),
      };
    },
  },
};

const breakglass: Record<string, Command> = {
  declare: {
    summary: 'declare emergency access to a patient (signed by a provider)',
    description:
      "Declares break-glass access to the patient for the chain's window (default 4 hours); flagged for review.",
    needs: 'signer',
    options: {
      ...patientOption,
      reason: { arg: 'CODE', help: BREAK_GLASS_REASONS.join(', '), required: true },
    },
    async run({ v, client }) {
      return receipt(
        await client.declareBreakGlass(
          idArg(v, 'patient', 'patient'),
          codeArg(v, 'reason', BREAK_GLASS_REASONS),
        ),
      );
    },
  },
};

/** `CODE:DATE:CENTS:RECORD[+RECORD…]`, e.g. `80053:2026-01-15:12050:r…`. */
function claimLine(value: string, i: number): ClaimLine {
  const what = `--line #${i + 1}`;
  const parts = value.split(':');
  if (parts.length !== 4) throw argsError(`${what}: expected CODE:DATE:CENTS:RECORD[+RECORD]`);
  const [code, date, cents, records] = parts as [string, string, string, string];
  if (!DATE.test(date)) throw argsError(`${what}: the date of service is a day, like 2026-01-15`);
  return {
    code,
    date: parseTime(date, 'line'),
    amount: amountArg(cents, what),
    records: records.split('+').map((id) => idArgValue(id, 'line', 'record')),
  };
}

const claim: Record<string, Command> = {
  submit: {
    summary: 'submit a claim to a payer (signed by the provider)',
    description:
      "Submits a claim: one --line per service, CODE:DATE:CENTS:RECORD[+RECORD] (CPT/HCPCS code, day of\nservice, billed amount in cents, the anchored records that back it). The payer must have the\npatient's consent to read those records for HPAYMT. Prints the claim id.",
    needs: 'signer',
    options: {
      ...patientOption,
      payer: { arg: 'MEMBER', help: 'the payer member id', required: true },
      line: {
        arg: 'LINE',
        help: 'a service line, CODE:DATE:CENTS:RECORD[+RECORD]',
        required: true,
        multiple: true,
      },
    },
    async run({ v, client }) {
      const lines = v.line;
      if (!Array.isArray(lines) || lines.length === 0) throw argsError('--line is required');
      return receipt(
        await client.submitClaim(idArg(v, 'patient', 'patient'), memberArg(v, 'payer'), lines.map(claimLine)),
      );
    },
  },
  adjudicate: {
    summary: 'approve, partially approve or deny a claim (signed by the payer)',
    description:
      'Adjudicates a submitted claim as its payer. partial needs --amounts (allowed cents per line);\npartial and denied need an X12 adjustment --reason such as CO-45.',
    needs: 'signer',
    options: {
      ...idOption('claim'),
      outcome: { arg: 'CODE', help: CLAIM_OUTCOMES.join(', '), required: true },
      amounts: { arg: 'LIST', help: 'allowed cents per line, for partial' },
      reason: { arg: 'CODE', help: 'X12 adjustment reason, for partial and denied' },
    },
    async run({ v, client }) {
      return receipt(
        await client.adjudicateClaim(idArg(v, 'claim', 'claim'), codeArg(v, 'outcome', CLAIM_OUTCOMES), {
          amounts: listArg(v, 'amounts').map((a) => amountArg(a, '--amounts')),
          reason: optStr(v, 'reason') ?? null,
        }),
      );
    },
  },
  show: showCommand(
    'claim',
    'show a claim and its history',
    'Shows a claim: lines, status and every adjudication step (proven).',
    (client, id) => client.claim(id),
  ),
  list: listCommand(
    'claims',
    "list a patient's claim ids",
    "Lists the ids of the patient's claims, oldest first (proven).",
    (client, patient) => client.claims(patient),
  ),
};

// --- governance ---

const GOV_ACTIONS = [
  'member.add',
  'member.remove',
  'member.roles',
  'member.rekey',
  'member.nodes',
  'validator.set',
  'params.set',
] as const satisfies readonly GovAction['kind'][];

/** The action flags each kind takes; an action flag another kind takes is refused, not ignored. */
const ACTION_FLAGS: Readonly<Record<GovAction['kind'], readonly string[]>> = {
  'member.add': ['member', 'member-key', 'member-pubkey', 'roles'],
  'member.remove': ['member'],
  'member.roles': ['member', 'roles'],
  'member.rekey': ['member', 'member-key', 'member-pubkey'],
  'member.nodes': ['member', 'node-ids'],
  // Not proposable from the CLI yet (no --record-key flag); listed so proposals show.
  'member.record-key': ['member'],
  'validator.set': ['validator-pubkey', 'power'],
  'params.set': ['param', 'value'],
};

const PARAMS = Object.keys(PARAM_NAMES) as ParamName[];

function govAction(v: Values): GovAction {
  const kind = codeArg(v, 'action', GOV_ACTIONS);
  for (const flags of Object.values(ACTION_FLAGS))
    for (const flag of flags)
      if (v[flag] !== undefined && !ACTION_FLAGS[kind].includes(flag))
        throw argsError(`--${flag} does not apply to --action ${kind}`);
  switch (kind) {
    case 'member.add':
      return {
        kind,
        member: memberArg(v, 'member'),
        pubKey: pubKeyArg(v, 'member'),
        roles: codesArg(v, 'roles', ROLES, true),
      };
    case 'member.remove':
      return { kind, member: memberArg(v, 'member') };
    case 'member.roles':
      return { kind, member: memberArg(v, 'member'), roles: codesArg(v, 'roles', ROLES, true) };
    case 'member.rekey':
      return { kind, member: memberArg(v, 'member'), pubKey: pubKeyArg(v, 'member') };
    case 'member.nodes': {
      // Required: the action replaces the list, so a forgotten flag must not remove every node;
      // `--node-ids ''` says "no nodes" on purpose.
      if (v['node-ids'] === undefined) throw argsError("--node-ids is required (--node-ids '' for none)");
      const nodes = v['node-ids'] === '' ? [] : listArg(v, 'node-ids');
      // Sorted and unique, as the chain requires; the chain checks each is a peer id.
      return { kind, member: memberArg(v, 'member'), nodes: [...new Set(nodes)].sort() };
    }
    case 'validator.set':
      return {
        kind,
        pubKey: parsePubKey(str(v, 'validator-pubkey'), 'validator-pubkey'),
        power: uintArg(v, 'power'),
      };
    case 'params.set':
      return { kind, name: codeArg(v, 'param', PARAMS), value: uintArg(v, 'value') };
    default:
      return kind satisfies never;
  }
}

/** `HEIGHT`, or `+BLOCKS` after the latest block. */
async function deadlineArg(v: Values, client: HealthClient): Promise<bigint> {
  const value = str(v, 'deadline');
  const m = /^(\+?)([1-9]\d{0,15})$/.exec(value);
  if (m === null)
    throw argsError(`--deadline: ${quoted(value)} is not a block height, or +BLOCKS after the latest block`);
  const n = BigInt(m[2]!);
  // Any proven answer carries the latest height; the open proposals are a small one.
  return m[1] === '+' ? (await client.openProposals()).height + n : n;
}

/** One line for an action, e.g. `member.add st-mary (provider) key 3b6a…`. */
function actionText(a: GovAction): string {
  switch (a.kind) {
    case 'member.add':
      return `${a.kind} ${a.member} (${a.roles.join(',')}) key ${toHex(a.pubKey)}`;
    case 'member.remove':
      return `${a.kind} ${a.member}`;
    case 'member.roles':
      return `${a.kind} ${a.member} (${a.roles.join(',')})`;
    case 'member.rekey':
      return `${a.kind} ${a.member} key ${toHex(a.pubKey)}`;
    case 'member.nodes':
      return `${a.kind} ${a.member} nodes ${a.nodes.length === 0 ? '(none)' : a.nodes.join(',')}`;
    case 'member.record-key':
      return `${a.kind} ${a.member} record key ${a.recordKey === null ? '(none)' : toHex(a.recordKey)}`;
    case 'validator.set':
      return `${a.kind} ${Buffer.from(a.pubKey).toString('base64')} power ${a.power}`;
    case 'params.set':
      return `${a.kind} ${a.name} = ${a.value}`;
    default:
      return a satisfies never;
  }
}

/** The count of an open proposal: votes of active members only, and the yes votes it needs (> 2/3). */
function tallyOf(p: Proposal, members: readonly string[]) {
  const active = new Set(members);
  const counted = p.votes.filter((x) => active.has(x.member));
  const yes = counted.filter((x) => x.approve).length;
  return {
    activeMembers: active.size,
    yes,
    no: counted.length - yes,
    needed: Math.floor((2 * active.size) / 3) + 1,
  };
}

/** A proposal's status after a propose or vote tx, from the tx's events (open unless it closed). */
function statusAfter(r: TxReceipt): Record<string, unknown> {
  for (const e of r.events) {
    const m = /^health\.gov\.(passed|rejected|failed)$/.exec(e.type);
    if (m === null) continue;
    const failure = e.attributes.find((a) => a.key === 'failure')?.value;
    return { status: m[1], ...(failure === undefined ? {} : { failure }) };
  }
  return { status: 'open' };
}

const PASS_RULE =
  "A proposal passes when more than 2/3 of the active members have voted yes (4 of 5, 5 of 6, 7 of 10)\nat or before its deadline height; its action is then carried out in that block. The proposer's\nvote is a yes. It is rejected as soon as that can no longer happen, and expires after the deadline.";

const gov: Record<string, Command> = {
  propose: {
    summary: 'propose a consortium change: members, validators, parameters (signed by a member)',
    description: `Proposes a governance action, signed by an active member. The action is checked now and refused
if it could not be carried out. Prints the proposal id: send it to the other members for gov vote.
${PASS_RULE}

Actions and their flags:
  member.add     --member ID, --member-key FILE or --member-pubkey KEY, --roles LIST
                 admit an institution; its key then signs as that member
  member.remove  --member ID
  member.roles   --member ID --roles LIST        replace the member's roles
  member.rekey   --member ID, --member-key FILE or --member-pubkey KEY
  member.nodes   --member ID --node-ids LIST     the peer ids of the member's nodes (from
                 careledger show-node-id; --node-ids '' for none); the nodes admit exactly the
                 active members' nodes, so this is how a new institution's node joins the network
  validator.set  --validator-pubkey KEY --power N   add a validator or set its power; 0 removes it
  params.set     --param NAME --value N
Roles: ${ROLES.join(', ')}.
A key is base64 (as genesis.json and careledger show-validator print it) or hex (as careledger keys
show prints it). Parameters, and their bounds:
${PARAMS.map((n) => `  ${n.padEnd(23)}${PARAM_BOUNDS[PARAM_NAMES[n]].join(' to ')}`).join('\n')}`,
    needs: 'signer',
    options: {
      action: { arg: 'KIND', help: GOV_ACTIONS.join(', '), required: true },
      deadline: {
        arg: 'HEIGHT|+BLOCKS',
        help: 'the last height votes count at, or blocks after the latest',
        required: true,
      },
      member: { arg: 'ID', help: 'the member id (member.*)' },
      'member-key': {
        arg: 'FILE',
        help: "the member's key file, if this machine holds it (only its public key is read; else --member-pubkey)",
      },
      'member-pubkey': { arg: 'KEY', help: "or the member's public key, in base64 or hex" },
      roles: { arg: 'LIST', help: `the member's roles: ${ROLES.join(', ')}` },
      'node-ids': {
        arg: 'LIST',
        help: "the peer ids of the member's nodes, '' for none (required for member.nodes)",
      },
      'validator-pubkey': { arg: 'KEY', help: "the validator's public key, in base64 or hex" },
      power: { arg: 'N', help: 'the voting power (0 removes the validator)' },
      param: { arg: 'NAME', help: PARAMS.join(', ') },
      value: { arg: 'N', help: "the parameter's new value" },
    },
    async run({ v, client }) {
      const action = govAction(v);
      const r = await client.propose(action, await deadlineArg(v, client));
      return receipt(r, { action: actionText(action), ...statusAfter(r) });
    },
  },
  vote: {
    summary: 'vote yes or no on an open proposal (signed by a member)',
    description: `Votes --yes or --no on an open proposal, as an active member; each member votes once.
${PASS_RULE}
Prints the proposal's status after this vote.`,
    needs: 'signer',
    options: {
      ...idOption('proposal'),
      yes: { help: 'vote for the proposal' },
      no: { help: 'vote against it' },
    },
    async run({ v, client }) {
      const id = idArg(v, 'proposal', 'proposal');
      if ((v.yes === true) === (v.no === true)) throw argsError('give one of --yes and --no');
      const r = await client.vote(id, v.yes === true);
      return receipt(r, statusAfter(r));
    },
  },
  show: {
    summary: 'show a proposal, its votes and its status',
    description: `Shows a proposal: its action, deadline, votes and status; while open, the yes votes of active
members it has and needs (proven).
${PASS_RULE}`,
    needs: 'chain',
    options: idOption('proposal'),
    async run({ v, client }) {
      const id = idArg(v, 'proposal', 'proposal');
      const p = await client.proposal(id);
      const proposal = found(p.value, 'proposal', id);
      const tally =
        proposal.status === 'open'
          ? { tally: tallyOf(proposal, (await client.activeMembers({ height: p.height })).value) }
          : {};
      return shown({ ...proposal, summary: actionText(proposal.action), ...tally, height: p.height });
    },
  },
  list: {
    summary: 'list the open proposals',
    description: 'Lists the open proposals with their action, votes and deadline (proven).',
    needs: 'chain',
    options: {},
    async run({ client }) {
      const ids = await client.openProposals();
      const opts = { height: ids.height };
      const [members, proposals] = await Promise.all([
        client.activeMembers(opts),
        Promise.all(ids.value.map(async (id) => (await client.proposal(id, opts)).value!)),
      ]);
      const rows = proposals.map((p) => ({ ...p, tally: tallyOf(p, members.value) }));
      return {
        json: plain({ height: ids.height, proposals: rows }),
        text:
          rows.length === 0
            ? `no open proposals (at height ${ids.height})\n`
            : rows
                .map(
                  (p) =>
                    `${p.id}  ${actionText(p.action)}  yes ${p.tally.yes}/${p.tally.needed} of ${p.tally.activeMembers}, no ${p.tally.no}  deadline ${p.deadline}  by ${p.proposer}`,
                )
                .join('\n')
                .concat('\n'),
      };
    },
  },
};

const GROUPS: Readonly<Record<string, Readonly<Record<string, Command>>>> = {
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
};

/** The `careledger` command groups this module handles; node/cli.ts dispatches each to runHealthCommand. */
export const HEALTH_COMMAND_GROUPS: readonly string[] = Object.keys(GROUPS);

/** One line per group, for the top-level `careledger --help`. */
export const HEALTH_COMMANDS_HELP = HEALTH_COMMAND_GROUPS.map(
  (g) => `  ${g.padEnd(18)}${Object.keys(GROUPS[g]!).join(', ')}`,
).join('\n');

// --- running ---

function parse(c: Command, args: string[]): Values {
  const options = Object.fromEntries(
    Object.entries(allOptions(c)).map(([flag, o]) => [
      flag,
      {
        type: o.arg === undefined ? ('boolean' as const) : ('string' as const),
        multiple: o.multiple === true,
      },
    ]),
  );
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }).values as Values;
  } catch (err) {
    // parseArgs' messages name the flag; keep the first sentence only (one line).
    throw argsError((err as Error).message.split('\n')[0]!.replace(/\. To specify.*$/, ''));
  }
}

async function clientFor(c: Command, v: Values, io: CliIo): Promise<HealthClient> {
  // Check the arguments a person can get wrong before any file or network is touched.
  for (const [flag, o] of Object.entries(allOptions(c))) {
    const required = o.required === true || (o.requiredUnless !== undefined && v[o.requiredUnless] !== true);
    if (required && o.multiple !== true) str(v, flag);
  }
  if (c.needs === 'none') return new HealthClient({ chainId: 'none', transport: unreachableTransport });
  const genesis = io.readGenesis(str(v, 'genesis'));
  const key = c.needs === 'signer' ? loadKeyFile(str(v, 'key')) : undefined;
  const transport = await io.connect(optStr(v, 'node') ?? DEFAULT_NODE, genesis);
  return new HealthClient({
    chainId: genesis.chainId,
    transport,
    clockMicros: io.clockMicros,
    ...(key === undefined ? {} : { key }),
  });
}

const unreachableTransport: HealthTransport = {
  broadcast: () => Promise.reject(new CareLedgerError('CLI_NO_CHAIN', 'this command does not use a chain')),
  query: () => Promise.reject(new CareLedgerError('CLI_NO_CHAIN', 'this command does not use a chain')),
};

/**
 * What a failed command prints after `careledger: ` (the node's commands too): the error's code,
 * CLI_UNEXPECTED for anything that is not a CareLedgerError, and the first line of its message.
 */
export function errorLine(err: unknown): string {
  const line =
    err instanceof CareLedgerError
      ? `${err.code}: ${err.message}`
      : `CLI_UNEXPECTED: ${err instanceof Error ? err.message : String(err)}`;
  return line.split('\n')[0]!;
}

/**
 * Text for a terminal: control characters other than newline and tab (escape sequences, carriage
 * returns) shown as \u{…}, since much of what is printed comes from a node, which could otherwise
 * overwrite the line or restyle the terminal. JSON output escapes them already.
 */
export function printable(text: string): string {
  let out = '';
  for (const c of text) {
    const code = c.charCodeAt(0);
    const control = (code < 0x20 && c !== '\n' && c !== '\t') || (code >= 0x7f && code <= 0x9f);
    out += control ? `\\u{${code.toString(16)}}` : c;
  }
  return out;
}

/**
 * Runs `careledger <group> <command> [options]` (args start at the group) and returns the exit
 * status: 0, or 2 after printing one line `careledger: CODE: message` to stderr.
 */
export async function runHealthCommand(args: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const env: CliIo = { ...defaultCliIo, ...io };
  const [group = '', name, ...rest] = args;
  const commands = GROUPS[group];
  const fail = (err: unknown): number => {
    env.stderr(`careledger: ${printable(errorLine(err))}\n`);
    return 2;
  };
  if (commands === undefined) return fail(argsError(`unknown command group "${group}"`));
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    if (name === undefined) {
      env.stderr(groupUsage(group));
      return 2;
    }
    env.stdout(groupUsage(group));
    return 0;
  }
  const command = commands[name];
  if (command === undefined)
    return fail(argsError(`unknown command "${group} ${name}" (see careledger ${group} --help)`));
  try {
    const v = parse(command, rest);
    if (v.help === true) {
      env.stdout(usageOf(group, name, command));
      return 0;
    }
    const client = await clientFor(command, v, env);
    const out = await command.run({ io: env, v, client });
    env.stdout(v.json === true ? `${JSON.stringify(out.json, null, 2)}\n` : printable(out.text));
    return 0;
  } catch (err) {
    return fail(err);
  }
}

/** The help text of one command (for docs and tests). */
export function healthCommandUsage(group: string, name: string): string {
  const command = GROUPS[group]?.[name];
  if (command === undefined) throw argsError(`unknown command "${group} ${name}"`);
  return usageOf(group, name, command);
}
