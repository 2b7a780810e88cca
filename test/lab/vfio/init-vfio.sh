#!/bin/sh
# /init of the VFIO guest (Linux 6.12, q35 + emulated Intel IOMMU): reserves
# hugepages, hands every supported NIC (8086:10c9 igb, 1af4:1041 modern
# virtio-net) to vfio-pci, prints one VFIO-NIC line per NIC, then serves the
# host test's commands on ttyS1 (lab_agent) until "exit".
. /lib/lab.sh

lab_boot
# Fewer stray frames on the switch: no IPv6 autoconfiguration on the TAPs, and
# ARP answers only on the interface that owns the address.
echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6
echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6
echo 1 >/proc/sys/net/ipv4/conf/all/arp_ignore
mkdir -p /dev/hugepages
mount -t hugetlbfs none /dev/hugepages
echo "${vs_hugepages:-128}" >/proc/sys/vm/nr_hugepages

# vfio_bind BDF: driver_override, unbind from the current driver, reprobe.
vfio_bind() {
	d=/sys/bus/pci/devices/$1
	echo vfio-pci >"$d/driver_override"
	[ -e "$d/driver" ] && echo "$1" >"$d/driver/unbind"
	echo "$1" >/sys/bus/pci/drivers_probe
}

for d in /sys/bus/pci/devices/*; do
	id="$(cat "$d/vendor"):$(cat "$d/device")"
	case $id in
	0x8086:0x10c9 | 0x1af4:0x1041) ;;
	*) continue ;;
	esac
	bdf=${d##*/}
	vfio_bind "$bdf"
	drv=$(basename "$(readlink "$d/driver" 2>/dev/null)" 2>/dev/null)
	grp=$(basename "$(readlink "$d/iommu_group" 2>/dev/null)" 2>/dev/null)
	lab_say "VFIO-NIC $bdf id=$id driver=${drv:-none} group=${grp:-none} dev=$(ls /dev/vfio 2>/dev/null | tr '\n' ' ')"
done
lab_say "LAB-READY hugepages=$(cat /proc/sys/vm/nr_hugepages)"
lab_agent /dev/ttyS1
lab_poweroff
