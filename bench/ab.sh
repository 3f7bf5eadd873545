#!/usr/bin/env bash
# ab.sh BASE NEW [samples] [bench regexp]: an A/B run of package call's
# benchmarks. It builds a test binary from each commit (in throwaway
# worktrees), then runs them alternately, one process per sample, so that
# whatever else the machine does falls on both alike. The output files,
# ab-BASE.txt and ab-NEW.txt in the current directory, are for benchstat:
#
#	go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da ab-BASE.txt ab-NEW.txt
set -euo pipefail
base=$(git rev-parse --short "$1")
new=$(git rev-parse --short "$2")
samples=${3:-5}
bench=${4:-'Lifecycle$|Answer|GroupCall|Timeout9|LifecycleAtLive|LifecycleParallel$'}
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/base" 2>/dev/null; git worktree remove --force "$tmp/new" 2>/dev/null; rm -rf "$tmp"' EXIT
for side in base new; do
	rev=$base; [ "$side" = new ] && rev=$new
	git worktree add -q --detach "$tmp/$side" "$rev"
	(cd "$tmp/$side" && go test -c -o "$tmp/$side.test" ./call)
done
: >"ab-$base.txt"
: >"ab-$new.txt"
for i in $(seq "$samples"); do
	for side in base new; do
		rev=$base; [ "$side" = new ] && rev=$new
		"$tmp/$side.test" -test.run '^$' -test.benchmem -test.bench "$bench" >>"ab-$rev.txt"
	done
done
echo "ab-$base.txt ab-$new.txt"
