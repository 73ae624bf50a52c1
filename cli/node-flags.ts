/**
 * V8 flags the sidecar runs with (the `mcp-hangar` shebang, and every launcher: benchmarks, and
 * later `up`, Compose and Kubernetes). They keep the idle RSS under the 60 MB budget: a 1 MiB
 * young generation (semi-space) instead of 16 MiB, and one V8 platform worker thread instead of
 * one per core (each worker's malloc arena holds memory). Measured in docs/benchmarks/egress.md.
 */
export const SIDECAR_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--single-threaded']
