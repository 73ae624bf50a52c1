#!/usr/bin/env bash
# Host-level egress rule for one MCP provider's Docker bridge (docs/compose.md §Security files), for hosts that want the
# kernel to hold the line even if the bridge were misconfigured (not internal, or with a host
# address). Docker's own `internal: true` already refuses to forward; this adds, in a table of its
# own (`inet hangar_bridge_<bridge>`, priority before Docker's rules):
#   - input:   nothing from the bridge reaches the host itself (no host service, no published port);
#   - forward: nothing enters or leaves the bridge (traffic between its own ports stays allowed:
#              provider <-> sidecar);
# with counters, and a rate-limited log line per drop ("hangar-bridge <bridge> ...").
#
#   security/nftables/hangar-bridge.sh add BRIDGE     # e.g. br-3f2a..., or hgc<key> under `mcp-hangar up`
#   security/nftables/hangar-bridge.sh remove BRIDGE
#   security/nftables/hangar-bridge.sh print BRIDGE   # the ruleset only (nft -c -f - checks it)
#
# Find a Compose network's bridge: docker network inspect -f '{{.Id}}' <project>_hangar_<svc>_internal
# gives the id; the bridge is br-<first 12 characters>.
#
# Traffic between the bridge's own ports is accepted here, but nftables runs every base chain of a
# hook: on a host where br_netfilter passes bridged frames to iptables (bridge-nf-call-iptables=1,
# set once dockerd has started) and the FORWARD policy is DROP (Docker's), that traffic also needs
# an iptables FORWARD accept for the bridge. Docker adds one for each bridge it manages
# (`-i br-… -o br-… -j ACCEPT`); on a bridge of your own, add it yourself.
set -euo pipefail

usage() { echo "usage: $0 add|remove|print BRIDGE" >&2; exit 2; }
[[ $# -eq 2 ]] || usage
action=$1 bridge=$2
[[ $bridge =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || { echo "$0: \"$bridge\" is not an interface name" >&2; exit 2; }
table="hangar_bridge_${bridge//[.-]/_}"

ruleset() {
  cat <<NFT
table inet $table {
  chain input {
    type filter hook input priority filter - 10; policy accept;
    iifname "$bridge" limit rate 10/minute log prefix "hangar-bridge $bridge input " level warn
    iifname "$bridge" counter drop
  }
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    iifname "$bridge" oifname "$bridge" accept
    iifname "$bridge" limit rate 10/minute log prefix "hangar-bridge $bridge out " level warn
    iifname "$bridge" counter drop
    oifname "$bridge" counter drop
  }
}
NFT
}

case $action in
  print) ruleset ;;
  add)
    nft list table inet "$table" >/dev/null 2>&1 && nft delete table inet "$table"
    ruleset | nft -f -
    echo "added table inet $table for $bridge"
    ;;
  remove)
    if nft list table inet "$table" >/dev/null 2>&1; then nft delete table inet "$table"; echo "removed table inet $table"; else echo "no table inet $table"; fi
    ;;
  *) usage ;;
esac
