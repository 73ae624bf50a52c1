/**
 * readEnv and providerEnv (core/env.ts) over injected environments: every variable's parsing
 * (empty means unset, ports range-checked, the booleans' accepted spellings, OTel values trimmed
 * and OTEL_SDK_DISABLED true only for "true"), and the provider's inherited allowlist (never a
 * token, never an exported shell function).
 */
import t from 'tap'
import { PROVIDER_INHERITED_ENV, providerEnv, rawEnv, readEnv } from '../../core/env.js'

t.test('an empty environment: defaults only', async (t) => {
  t.same(readEnv({}), {
    configPath: undefined, httpHost: undefined, httpPort: undefined, logLevel: 'info', jsonLogs: false, licenseKey: undefined, ci: false, hostAccess: undefined,
    otel: { endpoint: undefined, tracesEndpoint: undefined, headers: undefined, tracesHeaders: undefined, serviceName: undefined, sampler: undefined, samplerArg: undefined, sdkDisabled: false },
  })
})

t.test('each variable lands in its field; empty strings count as unset', async (t) => {
  const e = readEnv({
    MCP_CONFIG: '/etc/hangar.yaml', MCP_HTTP_HOST: '0.0.0.0', MCP_HTTP_PORT: '8080', MCP_LOG_LEVEL: 'debug', MCP_JSON_LOGS: 'true', MCP_LICENSE_KEY: 'lic', CI: '1', HANGAR_HOST_ACCESS: '{"pid":true}', MCP_HANGAR_ADMIN_KEY: ' hk_k \n',
  })
  t.match(e, { configPath: '/etc/hangar.yaml', httpHost: '0.0.0.0', httpPort: 8080, logLevel: 'debug', jsonLogs: true, licenseKey: 'lic', ci: true, hostAccess: '{"pid":true}', adminKey: 'hk_k' })
  const empty = readEnv({ MCP_CONFIG: '', MCP_HTTP_HOST: '', MCP_LOG_LEVEL: '', MCP_LICENSE_KEY: '', HANGAR_HOST_ACCESS: '', MCP_HANGAR_ADMIN_KEY: ' ' })
  t.match(empty, { configPath: undefined, httpHost: undefined, logLevel: 'info', licenseKey: undefined, hostAccess: undefined, adminKey: undefined })
})

t.test('MCP_HTTP_PORT: only an integer 1–65535 is taken', async (t) => {
  for (const [v, want] of [['1', 1], ['65535', 65535], ['0', undefined], ['65536', undefined], ['-1', undefined], ['80.5', undefined], ['http', undefined], ['', undefined]] as const) {
    t.equal(readEnv({ MCP_HTTP_PORT: v }).httpPort, want, `${JSON.stringify(v)} → ${want}`)
  }
})

t.test('booleans: 1, true, yes, on in any case (spaces trimmed); anything else is false', async (t) => {
  for (const v of ['1', 'true', 'TRUE', 'Yes', 'on', ' true ']) {
    t.equal(readEnv({ MCP_JSON_LOGS: v }).jsonLogs, true, `MCP_JSON_LOGS=${JSON.stringify(v)}`)
    t.equal(readEnv({ CI: v }).ci, true, `CI=${JSON.stringify(v)}`)
  }
  for (const v of ['0', 'false', 'no', 'off', '', 'truthy', '2']) t.equal(readEnv({ MCP_JSON_LOGS: v }).jsonLogs, false, `MCP_JSON_LOGS=${JSON.stringify(v)}`)
})

t.test('OpenTelemetry variables are trimmed; blank is unset; OTEL_SDK_DISABLED is true only for "true" (any case)', async (t) => {
  const o = readEnv({
    OTEL_EXPORTER_OTLP_ENDPOINT: ' http://127.0.0.1:4317 ', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://c:4317', OTEL_EXPORTER_OTLP_HEADERS: 'a=b', OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'c=d',
    OTEL_SERVICE_NAME: 'svc', OTEL_TRACES_SAMPLER: 'always_on', OTEL_TRACES_SAMPLER_ARG: '0.5', OTEL_SDK_DISABLED: 'TRUE',
  }).otel
  t.same(o, { endpoint: 'http://127.0.0.1:4317', tracesEndpoint: 'https://c:4317', headers: 'a=b', tracesHeaders: 'c=d', serviceName: 'svc', sampler: 'always_on', samplerArg: '0.5', sdkDisabled: true })
  t.equal(readEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: '   ' }).otel.endpoint, undefined)
  for (const v of ['1', 'yes', 'on', 'false', '']) t.equal(readEnv({ OTEL_SDK_DISABLED: v }).otel.sdkDisabled, false, `OTEL_SDK_DISABLED=${JSON.stringify(v)} is not true (the specification's boolean)`)
  t.equal(readEnv({ OTEL_SDK_DISABLED: ' true ' }).otel.sdkDisabled, true)
})

t.test('readEnv() without an argument reads process.env; rawEnv() is process.env', async (t) => {
  const before = process.env.MCP_LOG_LEVEL
  process.env.MCP_LOG_LEVEL = 'warn'
  t.teardown(() => {
    if (before === undefined) delete process.env.MCP_LOG_LEVEL
    else process.env.MCP_LOG_LEVEL = before
  })
  t.equal(readEnv().logLevel, 'warn')
  t.equal(rawEnv().MCP_LOG_LEVEL, 'warn')
  t.equal(rawEnv(), process.env)
})

t.test('providerEnv: only the allowlisted variables that are set; tokens and proxy settings never; shell functions skipped', async (t) => {
  const env = {
    PATH: '/usr/bin', HOME: '/home/u', LANG: 'C.UTF-8', TZ: 'UTC', NODE_EXTRA_CA_CERTS: '/ca.pem',
    MCP_LICENSE_KEY: 'secret', AWS_SECRET_ACCESS_KEY: 'aws', GITHUB_TOKEN: 'ghp', HTTP_PROXY: 'http://x', NODE_OPTIONS: '--require /evil.js',
    SHELL: '() { :; }; echo pwned',
  }
  t.same(providerEnv(env), { PATH: '/usr/bin', HOME: '/home/u', LANG: 'C.UTF-8', TZ: 'UTC', NODE_EXTRA_CA_CERTS: '/ca.pem' })
  t.same(providerEnv({ SHELL: '/bin/sh' }), { SHELL: '/bin/sh' }, 'control: an ordinary SHELL passes')
  t.same(providerEnv({}), {})
  t.ok(PROVIDER_INHERITED_ENV.every((k) => !/TOKEN|KEY|SECRET|PROXY|NODE_OPTIONS/.test(k)), 'the allowlist names no credential or proxy variable')
})
