/**
 * Verified caller identity: the enterprise implementation of `IdentityPort` (core/ports.ts). Its
 * verifiers check bearer JWTs against the configured OIDC issuers (enterprise/identity/verifier.ts);
 * the MCP ingress and the aggregator each build their own.
 */
import type { IdentityPort, TokenVerifier, VerifierContext } from '../../core/ports.js'
import { OidcVerifier } from './verifier.js'

export { OidcVerifier } from './verifier.js'

/** The identity port: `createVerifier` builds an {@link OidcVerifier} (throws naming the config path). */
export function createIdentity(): IdentityPort {
  return Object.freeze({ createVerifier: (ctx: VerifierContext): TokenVerifier => new OidcVerifier(ctx) })
}
