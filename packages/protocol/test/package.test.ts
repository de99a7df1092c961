import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { describe, it } from 'node:test'
import * as protocol from '../src/index.ts'

const srcDir = new URL('../src/', import.meta.url)

describe('package boundary', () => {
  it('src/ stays browser-safe: no node: imports, no Node globals, only the allowed packages', () => {
    for (const file of readdirSync(srcDir)) {
      const text = readFileSync(new URL(file, srcDir), 'utf8')
      assert.doesNotMatch(text, /from ['"]node:/, `${file} imports a node: module`)
      assert.doesNotMatch(text, /\b(Buffer|process|require)\b[.(]/, `${file} uses a Node global`)
      for (const [, spec] of text.matchAll(/from '([^']+)'/g)) {
        assert.ok(spec.startsWith('./') || spec.startsWith('@ipld/dag-cbor') || spec.startsWith('multiformats'), `${file} imports ${spec}`)
      }
    }
  })

  it('exports the API the runtime and CLI import', () => {
    const names = [
      'MalformedError', 'InvalidSignatureError', 'WrongAudienceError', 'WrongOriginError', 'TokenExpiredError',
      'TokenNotYetValidError', 'EscalationError', 'BrokenChainError', 'RevokedError', 'UnauthorizedRevocationError',
      'MissingAbilityError', 'ManifestSchemaError', 'StaleManifestError', 'isError',
      'encode', 'decode', 'cidOf', 'cidString', 'toBase64url', 'fromBase64url',
      'Identity', 'Keyring', 'verifySignature', 'publicKeyFromDid', 'epochAt', 'IDENTITY_ROTATION_MS',
      'issue', 'delegate', 'encodeCapability', 'decodeCapability', 'verifyCapability', 'resourceCovers', 'abilityCovers',
      'revoke', 'verifyRevocation', 'verifyRevocationSignature', 'encodeRevocation', 'decodeRevocation', 'RevocationSet',
      'grantLease', 'verifyLease', 'describeLease',
      'validateManifest', 'defaultManifest', 'signManifest', 'verifyManifest', 'signedManifestToJSON',
      'signedManifestFromJSON', 'encodeSignedManifest', 'decodeSignedManifest'
    ]
    for (const name of names) assert.ok(name in protocol, `missing export ${name}`)
  })

  it('errors are matched by name and carry their details', () => {
    for (const name of protocol.PROTOCOL_ERROR_NAMES) {
      const Ctor = (protocol as unknown as Record<string, new () => Error>)[name]
      const e = new Ctor()
      assert.equal(e.name, name)
      assert.equal((Ctor as unknown as { name: string }).name, name)
      assert.ok(e.message.length > 20, `${name} has a default message`)
      assert.ok(protocol.isError(e, name))
      assert.ok(!protocol.isError(e, 'SomethingElse'))
    }
    assert.equal(new protocol.MalformedError('m', { field: 'cav.cpuShare' }).field, 'cav.cpuShare')
    assert.equal(new protocol.ManifestSchemaError('m', { field: 'qos.cpuShare' }).field, 'qos.cpuShare')
    assert.equal(new protocol.RevokedError('m', { tokenId: 'bafy' }).tokenId, 'bafy')
    const cause = new Error('inner')
    assert.equal(new protocol.InvalidSignatureError('m', { cause }).cause, cause)
    assert.ok(!protocol.isError(null, 'MalformedError'))
    assert.ok(!protocol.isError('MalformedError', 'MalformedError'))
  })
})
