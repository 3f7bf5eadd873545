#!/bin/sh
# cluster.sh runs three callsigd nodes on this machine, in dev mode, as
# one cluster (see "Cluster" in doc.go):
#
#	callsigd/cluster.sh [DIR]
#
# Node nK serves http://127.0.0.1:808K (its raft port is 700K) and keeps
# its state in DIR/nK (default: a new temporary directory). Open any of
# the three in a browser; stop one with kill, start it again with the
# command this script prints, and it rejoins. Ctrl-C stops all three.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$(mktemp -d "${TMPDIR:-/tmp}/callsigd-cluster.XXXXXX")}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
peers=n1=127.0.0.1:7001=127.0.0.1:8081,n2=127.0.0.1:7002=127.0.0.1:8082,n3=127.0.0.1:7003=127.0.0.1:8083
(cd "$root" && go build -o "$dir/callsigd" ./callsigd)
pids=
for k in 1 2 3; do
	echo "$dir/callsigd -node n$k -peers $peers -data $dir/n$k"
	"$dir/callsigd" -node "n$k" -peers "$peers" -data "$dir/n$k" &
	pids="$pids $!"
done
trap 'kill $pids 2>/dev/null; wait' INT TERM
wait
