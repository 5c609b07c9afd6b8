/**
 * What a CLI command is: its summary, its help, what it needs before it runs (nothing, a chain to
 * read, or a chain and a signing key), its own options and its action. The options every chain
 * command shares (--genesis, --node, --key, --json) are added here from `needs`, so a command
 * declares only its own, and `--help` is generated from what the command actually parses.
 *
 * A command group is a table of commands (`Group`), one file per group under commands/; the
 * groups are registered in groups.ts. Adding a command is a `Command` value (in its group's file,
 * or a file of its own) and one line in its group's table.
 */
import type { HealthClient, Proven, QueryOptions } from '../client/health.ts';
import { CareLedgerError } from '../core/errors.ts';
import type { KeyPair } from '../crypto/ed25519.ts';
import { ID_KINDS, type IdKind } from '../health/ids.ts';
import { idArg, type OptionSpecs, type Values } from './args.ts';
import { type CliEnv, CONFIG_ENV } from './config.ts';
import { type CliIo, DEFAULT_NODE } from './io.ts';
import { found, listed, type Output, shown } from './output.ts';

/** What a command needs before it runs: nothing, a chain to read, or a chain and a signing key. */
export type Needs = 'none' | 'chain' | 'signer';

export interface Context {
  readonly io: CliIo;
  /** The environment, working directory and home folder (the client config lives there). */
  readonly env: CliEnv;
  readonly v: Values;
  /** The positional arguments, one per name in `Command.positionals`. */
  readonly args: readonly string[];
  /** Set when the command needs a chain (signing with --key when it needs a signer). */
  readonly client: HealthClient;
  /** The key of --key, for a command that needs a signer (it also signs requests to the node's local API). */
  readonly key: KeyPair | null;
}

export interface Command {
  /** One line, for the group's help. */
  readonly summary: string;
  /** The paragraph of the command's own help. */
  readonly description: string;
  readonly needs: Needs;
  /** The command's own options; the shared ones follow from `needs`. */
  readonly options: OptionSpecs;
  /**
   * The flag that fixes a refusal, by error code (`DELEGATE_CONSENT_TOO_LONG`: `--end`): the error
   * line then says which flag to change, since the chain's message cannot know the CLI's flags.
   */
  readonly fixes?: Readonly<Record<string, string>>;
  /** Names of the positional arguments it takes before its flags (`config set KEY VALUE`); none if absent. */
  readonly positionals?: readonly string[];
  /**
   * --genesis may be left out: the genesis.json beside the --key file is used (a node's home keeps
   * both in config/), so `record put|fetch --key HOME/config/member_key.json` needs no more.
   */
  readonly genesisBesideKey?: boolean;
  run(ctx: Context): Promise<Output>;
}

/** A command group: `careledger <group> <name>`, in the order its help lists them. */
export type Group = Readonly<Record<string, Command>>;

// --genesis and --key are needed, but may come from the environment or the client config
// (config.ts), so they are checked after those are applied (run.ts), not marked required here.
const CHAIN_OPTIONS: OptionSpecs = {
  node: {
    arg: 'URL',
    help: `the node's RPC address (default: ${CONFIG_ENV.node}, config, else ${DEFAULT_NODE})`,
  },
  genesis: {
    arg: 'FILE',
    help: `the chain's genesis.json, which the light client trusts (default: ${CONFIG_ENV.genesis}, config)`,
  },
};
const GENESIS_BESIDE_KEY: OptionSpecs = {
  genesis: {
    arg: 'FILE',
    help: `the chain's genesis.json, which the light client trusts (default: ${CONFIG_ENV.genesis}, config, else genesis.json beside --key)`,
  },
};
const KEY_OPTION: OptionSpecs = {
  key: { arg: 'FILE', help: `the signer key file (default: ${CONFIG_ENV.key}, config)` },
};
const JSON_OPTION: OptionSpecs = {
  json: { help: 'print JSON for machines' },
};

/** Every option a command parses: its own, then the chain's, the signer's and --json. */
export function allOptions(c: Command): OptionSpecs {
  return {
    ...c.options,
    ...(c.needs === 'none' ? {} : CHAIN_OPTIONS),
    ...(c.needs === 'signer' && c.genesisBesideKey === true ? GENESIS_BESIDE_KEY : {}),
    ...(c.needs === 'signer' ? KEY_OPTION : {}),
    ...JSON_OPTION,
  };
}

/** The required option --<kind> ID. */
export function idOption(kind: IdKind): OptionSpecs {
  return { [kind]: { arg: 'ID', help: `the ${kind} id (${ID_KINDS[kind]}…)`, required: true } };
}

export const patientOption = idOption('patient');

/** `show`: the object with the id in --<kind>, proven present (proven absent: CLI_NOT_FOUND). */
export function showCommand<T extends object>(
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

/**
 * One of a patient's lists, read at the height where the patient is proven to exist: an unknown
 * id is PATIENT_NOT_FOUND, not an empty list (which would read as "no consents", "no
 * disclosures" for a mistyped id).
 */
export async function patientList<T>(
  client: HealthClient,
  patient: string,
  read: (client: HealthClient, patient: string, opts: QueryOptions) => Promise<Proven<T>>,
): Promise<Proven<T>> {
  const p = await client.patient(patient);
  if (p.value === null)
    throw new CareLedgerError(
      'PATIENT_NOT_FOUND',
      `no patient ${patient} on chain (proven absent at height ${p.height})`,
    );
  return read(client, patient, { height: p.height });
}

/** `list`: the ids of the patient's objects of one kind (`what`), oldest first, proven. */
export function listCommand(
  what: string,
  summary: string,
  description: string,
  read: (client: HealthClient, patient: string, opts: QueryOptions) => Promise<Proven<string[]>>,
): Command {
  return {
    summary,
    description,
    needs: 'chain',
    options: patientOption,
    async run({ v, client }) {
      const r = await patientList(client, idArg(v, 'patient', 'patient'), read);
      return listed(r.height, what, r.value, (id) => id);
    },
  };
}
