// Quick seeded fuzz profile of the DNS wire decoder (egress/dns/wire.ts); `npm run fuzz` runs the
// same properties for 1,000,000 inputs.
import { dnsTarget } from './props/dns.js'
import { quickFuzz } from './lib/quick.js'

quickFuzz(dnsTarget)
