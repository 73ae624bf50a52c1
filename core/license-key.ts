/**
 * The public half of the Ed25519 key pair that signs MCP Hangar license keys (SPKI, PEM). The
 * product trusts licenses signed by this key only (core/license.ts, docs/licensing.md); the
 * private half is held by the licensor and is never part of the repository or a release.
 */
export const LICENSE_PUBLIC_KEY_PEM = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA04itL4ObslfV3sNWvnwPpC9wII/9AhDd1iCteH8CjTY=
-----END PUBLIC KEY-----
`
