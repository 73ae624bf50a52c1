/** The sniffers' shared "call again with more bytes" answer (egress/sniff/need-more.ts). */
import t from 'tap'
import { needMore } from '../../../egress/sniff/need-more.js'
import { parseClientHello } from '../../../egress/sniff/tls.js'
import { parseHttpHead } from '../../../egress/sniff/http.js'

t.test('needMore carries the total byte count to wait for', async (t) => {
  t.same(needMore(5), { kind: 'need-more', need: 5 })
})

t.test('the sniffers answer need-more for a valid prefix, with a need above what they hold', async (t) => {
  const tls = parseClientHello(Buffer.from([0x16, 0x03]))
  t.equal(tls.kind, 'need-more')
  t.ok(tls.kind === 'need-more' && (tls as { need: number }).need > 2, `ClientHello prefix: ${JSON.stringify(tls)}`)
  const http = parseHttpHead(Buffer.from('GET / HTTP/1.1\r\nHost: a'))
  t.equal(http.kind, 'need-more', 'an HTTP head without its CRLFCRLF')
  t.not(parseClientHello(Buffer.from('SSH-2.0-OpenSSH_9.6\r\n')).kind, 'need-more', 'control: bytes that are no TLS prefix get a verdict at once')
})
