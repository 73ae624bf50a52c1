/** The version of this MCP Hangar build (package.json `version`; image tags, heartbeats, clientInfo). */
export const HANGAR_VERSION = '0.1.0'
