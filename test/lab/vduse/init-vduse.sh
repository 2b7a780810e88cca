#!/bin/sh
# /init of the VDUSE guest (Linux 6.12: virtio-net over VDUSE needs >= 6.10).
# Loads the vDPA/VDUSE modules, reserves hugepages for vswitchd, prints one
# VDUSE-GUEST line with what the host test checks first, then serves the host
# test's commands on ttyS1 (lab_agent) until "exit". /lib/vduse.sh has the
# helpers those commands use.
. /lib/lab.sh

lab_boot
# Fewer stray frames on the switch: no IPv6 autoconfiguration anywhere (new
# namespaces copy "default"), ARP answers only from the owning interface.
echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6
echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6
echo 1 >/proc/sys/net/ipv4/conf/all/arp_ignore
# iproute2 keeps named namespaces in /var/run/netns.
mkdir -p /var /run/vswitch
ln -s /run /var/run
mkdir -p /dev/hugepages
mount -t hugetlbfs none /dev/hugepages
echo "${vs_hugepages:-64}" >/proc/sys/vm/nr_hugepages

ctl=no
[ -c /dev/vduse/control ] && ctl=yes
mgmt=$(vdpa mgmtdev show 2>&1 | tr '\n' ' ')
drivers=$(ls /sys/bus/vdpa/drivers 2>/dev/null | tr '\n' ',')
lab_say "VDUSE-GUEST kernel=$(uname -r) control=$ctl vdpa_drivers=${drivers%,} mgmtdev=[$mgmt]"
lab_say "LAB-READY hugepages=$(cat /proc/sys/vm/nr_hugepages)"
lab_agent /dev/ttyS1
lab_poweroff
