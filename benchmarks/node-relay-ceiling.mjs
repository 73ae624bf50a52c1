// The ceiling of any pure-Node CONNECT proxy on this machine: accept, read one head, connect to a
// fixed upstream, answer 200, pipe. No policy, no DNS, no signals. Compare its conn/s with the
// sidecar's and Squid's in docs/benchmarks/egress.md (same C load generator, same pinning):
//   cc -O2 -o /tmp/lg benchmarks/lib/native/loadgen.c && cc -O2 -o /tmp/up benchmarks/lib/native/upstream.c
//   taskset -c 0 /tmp/up 39002 1000 & taskset -c 1 node benchmarks/node-relay-ceiling.mjs 39002 39001 &
//   taskset -c 0 /tmp/lg rate 39001 127.0.0.1:39002 32 1 5
// Loopback only.
import net from 'node:net'
import process from 'node:process'

const upstreamPort = Number(process.argv[2])
const listenPort = Number(process.argv[3] ?? 39001)
net
  .createServer({ noDelay: true }, (client) => {
    client.once('data', () => {
      const up = net.connect({ host: '127.0.0.1', port: upstreamPort, noDelay: true }, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
        client.pipe(up)
        up.pipe(client)
      })
      up.on('error', () => client.destroy())
      client.on('error', () => up.destroy())
    })
  })
  .listen(listenPort, '127.0.0.1')
