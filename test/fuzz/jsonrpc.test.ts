// Quick seeded fuzz profile of the JSON-RPC / batch parser (proxy/http/jsonrpc.ts). `npm run fuzz`
// runs 1,000,000 inputs.
import { jsonrpcTarget } from './props/jsonrpc.js'
import { quickFuzz } from './lib/quick.js'

quickFuzz(jsonrpcTarget)
