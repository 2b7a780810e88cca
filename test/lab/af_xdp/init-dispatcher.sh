#!/bin/sh
# /init of the guest in which af_xdp_dispatcher_test.sh runs itself when the
# host's kernel refuses libxdp's dispatcher: a stock kernel that loads freplace
# programs. The test's lines go to the console; the last one is
# "DISPATCHER-RC <exit code>".
. /lib/lab.sh

lab_boot
mkdir -p /run/netns /var/run
rc=0
VS_XDP_MNTNS=1 VS_XDP_IN_GUEST=1 VSWITCHD=/usr/bin/vswitchd VSWITCHCTL=/usr/bin/vswitchctl \
	VS_LAB=/vs/lab VS_LAB_DIR=/tmp/lab TMPDIR=/tmp \
	bash /vs/integration/af_xdp_dispatcher_test.sh >/dev/console 2>&1 || rc=$?
lab_say "DISPATCHER-RC $rc"
lab_poweroff
