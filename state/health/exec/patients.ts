/**
 * The patient txs: enrolment by a member (with the patient's proof of possession), key rotation,
 * and the delegates who act for a patient.
 */
import { verifySignature } from '../../../packages/crypto/ed25519.ts';
import { equalBytes, toHex } from '../../../packages/crypto/hash.ts';
import { healthError } from '../../../packages/health/errors.ts';
import { patientIdOf } from '../../../packages/health/ids.ts';
import { stateKey } from '../../../packages/health/keys.ts';
import { type Delegate, encodeBinding, MAX_DELEGATES } from '../../../packages/health/model.ts';
import { registerProofBytes, rotateProofBytes } from '../../../packages/health/tx.ts';
import type { TxContext } from '../context.ts';
import type { Tx } from './common.ts';

export async function registerPatient(ctx: TxContext, tx: Tx<'patient.register'>): Promise<string> {
  const member = await ctx.signerMember();
  if (
    !verifySignature(tx.patientKey, registerProofBytes(ctx.meta.chainId, member.id, tx.patientKey), tx.proof)
  )
    throw healthError('PATIENT_PROOF_INVALID', 'the patient did not sign this enrolment with the key');
  const id = patientIdOf(tx.patientKey);
  if ((await ctx.patient(id)) !== null) throw healthError('PATIENT_EXISTS', `patient ${id} is registered`);
  if ((await ctx.get(stateKey.key(tx.patientKey))) !== null)
    throw healthError('HEALTH_KEY_IN_USE', 'the key is already bound to a member or a patient');
  ctx.putPatient({
    id,
    pubKey: tx.patientKey,
    enrolledBy: member.id,
    enrolledAt: ctx.height,
    keyRotations: 0,
    delegates: [],
  });
  ctx.put(stateKey.key(tx.patientKey), encodeBinding({ kind: 'patient', id }));
  ctx.emit('patient.registered', { patient: id, member: member.id });
  return id;
}

export async function rotateKey(ctx: TxContext, tx: Tx<'patient.rotate-key'>): Promise<string> {
  const patient = await ctx.needPatient(tx.patient);
  if (!equalBytes(patient.pubKey, ctx.signer))
    throw healthError('HEALTH_UNAUTHORIZED', 'only the current key rotates a patient key');
  // Old keys stay bound, so a retired key can never be registered again.
  if ((await ctx.get(stateKey.key(tx.newKey))) !== null)
    throw healthError('HEALTH_KEY_IN_USE', 'the new key is already bound to a member or a patient');
  if (!verifySignature(tx.newKey, rotateProofBytes(ctx.meta.chainId, patient.id, tx.newKey), tx.proof))
    throw healthError('PATIENT_PROOF_INVALID', 'the new key did not sign the rotation');
  if (patient.delegates.some((d) => equalBytes(d.pubKey, tx.newKey)))
    throw healthError('DELEGATE_INVALID', "the new key is one of the patient's delegates");
  ctx.putPatient({ ...patient, pubKey: tx.newKey, keyRotations: patient.keyRotations + 1 });
  ctx.put(stateKey.key(tx.newKey), encodeBinding({ kind: 'patient', id: patient.id }));
  ctx.emit('patient.key-rotated', { patient: patient.id });
  return patient.id;
}

export async function setDelegate(ctx: TxContext, tx: Tx<'delegate.set'>): Promise<string> {
  const { patient, delegate: actor } = await ctx.patientActor(tx.patient, null);
  if (actor !== null) throw healthError('HEALTH_UNAUTHORIZED', 'only the patient names delegates');
  const spec = tx.delegate;
  if (equalBytes(spec.pubKey, patient.pubKey))
    throw healthError('DELEGATE_INVALID', 'the patient cannot be its own delegate');
  if (spec.expiresAt !== null && spec.expiresAt <= ctx.time)
    throw healthError('DELEGATE_INVALID', 'the delegation would already have expired');
  const delegate: Delegate = { ...spec, addedAt: ctx.height };
  const index = patient.delegates.findIndex((d) => equalBytes(d.pubKey, spec.pubKey));
  const delegates = [...patient.delegates];
  if (index >= 0) delegates[index] = delegate;
  else if (delegates.length >= MAX_DELEGATES)
    throw healthError('DELEGATE_LIMIT', `a patient has at most ${MAX_DELEGATES} delegates`);
  else delegates.push(delegate);
  ctx.putPatient({ ...patient, delegates });
  ctx.emit('delegate.set', { patient: patient.id, delegate: toHex(spec.pubKey), role: spec.role });
  return patient.id;
}

export async function removeDelegate(ctx: TxContext, tx: Tx<'delegate.remove'>): Promise<string> {
  const patient = await ctx.needPatient(tx.patient);
  // The patient removes a delegate; a delegate may also step down.
  if (!equalBytes(patient.pubKey, ctx.signer) && !equalBytes(tx.delegateKey, ctx.signer))
    throw healthError('HEALTH_UNAUTHORIZED', 'only the patient or the delegate removes a delegation');
  const delegates = patient.delegates.filter((d) => !equalBytes(d.pubKey, tx.delegateKey));
  if (delegates.length === patient.delegates.length)
    throw healthError('DELEGATE_NOT_FOUND', 'the key is not a delegate of the patient');
  ctx.putPatient({ ...patient, delegates });
  ctx.emit('delegate.removed', { patient: patient.id, delegate: toHex(tx.delegateKey) });
  return patient.id;
}
