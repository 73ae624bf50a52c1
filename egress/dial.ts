/**
 * Dials the addresses that were checked, in order, and nothing else (DESIGN.md §4 step 4: no
 * second resolution between check and connect). `net.connect` with an IP literal never calls a
 * resolver.
 */
import { connect, type Socket } from 'node:net'
import { ERROR_CODES, HangarError } from '../core/errors.js'
import type { IpAddress } from './types.js'

/** A connected upstream socket and the address it reached. */
export interface Dialled {
  socket: Socket
  address: IpAddress
}

function dialOne(a: IpAddress, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: a.ip, port, family: a.family, noDelay: true })
    const timer = setTimeout(() => {
      s.destroy()
      reject(new HangarError(ERROR_CODES.DIAL_TIMEOUT, `connect to ${a.ip}:${port} timed out after ${timeoutMs} ms`))
    }, timeoutMs)
    s.once('connect', () => {
      clearTimeout(timer)
      s.removeAllListeners('error')
      resolve(s)
    })
    s.once('error', (err) => {
      clearTimeout(timer)
      reject(new HangarError(ERROR_CODES.DIAL_FAILED, `connect to ${a.ip}:${port} failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err }))
    })
  })
}

/**
 * Connects to the first reachable address.
 * @param timeoutMs per address
 * @throws HangarError `HANGAR_DIAL_TIMEOUT` when the last attempt timed out, else `HANGAR_DIAL_FAILED`
 */
export async function dial(addresses: readonly IpAddress[], port: number, timeoutMs: number): Promise<Dialled> {
  let last: unknown
  for (const a of addresses) {
    try {
      return { socket: await dialOne(a, port, timeoutMs), address: a }
    } catch (err) {
      last = err
    }
  }
  throw last ?? new HangarError(ERROR_CODES.DIAL_FAILED, 'no address to dial')
}
