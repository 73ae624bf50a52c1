/**
 * V8 flags the sidecar runs with (the `mcp-hangar` shebang, and every launcher: benchmarks, `up`,
 * and the sidecar image's entrypoint, images/Dockerfile.sidecar). `--single-threaded`: no V8 platform worker threads (GC and
 * compilation on the main thread; each worker's stack and malloc arena cost idle memory, ~3 MB).
 * A smaller young generation (`--max-semi-space-size=1`) saves ~3 MB more at idle but costs ~25 %
 * of the CONNECT setup rate (more scavenges per connection), so it is not used.
 * Measured in docs/benchmarks/egress.md.
 */
export const SIDECAR_NODE_FLAGS: readonly string[] = ['--single-threaded']
