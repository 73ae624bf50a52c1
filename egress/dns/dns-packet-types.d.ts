/** dns-packet's record-type table (`dns-packet/types.js`, CommonJS), which its own typings do not declare. */
declare module 'dns-packet/types.js' {
  /** The QTYPE number of a mnemonic (`TXT` → 16), 0 when unknown. */
  export function toType(name: string): number
  /** The mnemonic of a QTYPE number (`16` → `TXT`), `UNKNOWN_<n>` when unknown. */
  export function toString(type: number): string
}
