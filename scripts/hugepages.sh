#!/usr/bin/env bash
# Reserves N 2 MiB hugepages (default 1024) and mounts hugetlbfs at
# /dev/hugepages when nothing is mounted there. Never shrinks an existing
# reservation: other programs may be using it. Exits 1 when the kernel could
# not find N pages (fragmented memory), after reserving what it could.
set -euo pipefail

want=${1:-1024}
sysfs=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages

if [ ! -w "$sysfs" ]; then
	echo "hugepages: cannot write $sysfs (need root, and 2 MiB hugepage support)" >&2
	exit 1
fi
have=$(cat "$sysfs")
if [ "$have" -lt "$want" ]; then
	echo "$want" >"$sysfs" || true
	have=$(cat "$sysfs")
fi

if ! grep -qs ' /dev/hugepages hugetlbfs ' /proc/mounts; then
	mkdir -p /dev/hugepages
	mount -t hugetlbfs -o pagesize=2M nodev /dev/hugepages
fi

echo "hugepages: $have x 2 MiB reserved, hugetlbfs on /dev/hugepages" >&2
if [ "$have" -lt "$want" ]; then
	echo "hugepages: wanted $want, the kernel found only $have" >&2
	exit 1
fi
