/**
 * The version of this MCP Hangar build: package.json `version` (a test keeps them equal). Every
 * place that reports a version uses it: the CLI's `--version`, image tags, the aggregator's and
 * the sidecar's `serverInfo`/`clientInfo`, heartbeats, trace resources.
 */
export const HANGAR_VERSION = '0.1.0'
