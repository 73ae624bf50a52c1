// Quick seeded fuzz profile of the TLS ClientHello / SNI sniffer (egress/sniff/tls.ts); real hellos
// are captured from Node's TLS client on 127.0.0.1. `npm run fuzz` runs 1,000,000 inputs.
import { tlsTarget } from './props/tls.js'
import { quickFuzz } from './lib/quick.js'

quickFuzz(tlsTarget)
