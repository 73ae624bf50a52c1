// Quick seeded fuzz profile of the HTTP request-head parser and the CONNECT target path
// (egress/sniff/http.ts, policy/host.ts, policy/ip.ts). `npm run fuzz` runs 1,000,000 inputs.
import { httpTarget } from './props/http.js'
import { quickFuzz } from './lib/quick.js'

quickFuzz(httpTarget)
