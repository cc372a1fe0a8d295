#!/bin/sh
# The guest's /init: Linux's own ixgbevf drives two VFs of the firmware
# (eth0, eth1); every check prints "@@CHECK <name> ok|FAIL <detail>", and
# "@@HOST <action>" asks the host side to do what a PF administrator does.
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null

say() { echo "@@$*"; }
check() {
    name=$1
    shift
    if "$@" >/tmp/out 2>&1; then say "CHECK $name ok"; else say "CHECK $name FAIL $(tail -n 2 /tmp/out | tr '\n' ' ')"; fi
}
# Up to $2 tries, a tenth of a second apart, for the command $1 to hold
# (evaluated here, so it may use the functions below).
wait_for() {
    i=0
    while [ $i -lt "$2" ]; do
        eval "$1" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
carrier() { [ "$(cat /sys/class/net/$1/carrier 2>/dev/null)" = "$2" ]; }
stat() { cat /sys/class/net/$1/statistics/$2; }

say "BOOTED $(uname -r)"
insmod /ixgbevf.ko
wait_for "[ -e /sys/class/net/eth1 ]" 100
dmesg | grep -i ixgbevf | sed 's/^/@@DMESG /'
check probe-eth0 [ -e /sys/class/net/eth0 ]
check probe-eth1 [ -e /sys/class/net/eth1 ]
say "MAC eth0 $(cat /sys/class/net/eth0/address)"
say "MAC eth1 $(cat /sys/class/net/eth1/address)"

ip link set lo up
ip link set eth0 up
ip link set eth1 up
check link-up-eth0 wait_for "carrier eth0 1" 200
check link-up-eth1 wait_for "carrier eth1 1" 200
say "SPEED eth0 $(cat /sys/class/net/eth0/speed 2>/dev/null)"
dmesg | grep -i "link is up" | sed 's/^/@@DMESG /'
ip addr add 10.215.0.2/24 dev eth0
ip addr add 10.216.0.3/24 dev eth1

check ping-host ping -c 3 -W 5 10.215.0.1
check arp-host grep -q "10.215.0.1 " /proc/net/arp
say "HOST check-arp"
# VF to VF inside the NIC (VEB): eth1 (another VF) answers eth0's duplicate
# address probe for eth1's address, its reply switched back inside
# (an answer is a "duplicate").
arping -D -c 2 -w 5 -I eth0 10.216.0.3 >/tmp/arping 2>&1
check vf-to-vf grep -q "Received [1-9]" /tmp/arping

# The guest's counters against the PF's view of the VF (ip -s link).
say "HOST stats $(stat eth0 rx_packets) $(stat eth0 tx_packets)"

# Figures: round trip to the far end, and a fast ping's rate and loss.
ping -c 20 -i 0.2 -q 10.215.0.1 >/tmp/rtt 2>&1
say "PERF rtt $(grep round-trip /tmp/rtt)"
ping -c 1000 -i 0.01 -w 10 -q 10.215.0.1 >/tmp/fast 2>&1
say "PERF fast-ping $(grep 'packets transmitted' /tmp/fast)"
say "PERF $(vmtool flood 10.215.0.1 10 2>&1)"

# Multicast: a joined group is received, an unjoined one is not (the far
# end sends three frames to each).
vmtool join eth0 01:00:5e:01:02:03 10 &
sleep 3
m0=$(stat eth0 multicast)
say "HOST multicast"
sleep 3
m1=$(stat eth0 multicast)
say "MULTICAST $((m1 - m0))"
check multicast-joined-only [ $((m1 - m0)) -ge 3 -a $((m1 - m0)) -lt 6 ]

# A VLAN sub-interface (SET_VLAN): tagged frames leave through the VF's
# VLAN filter (the far end has no 802.1Q to answer them).
for m in llc stp garp mrp 8021q; do insmod /lib/vlan/$m.ko; done
check vlan-add vconfig add eth0 100
ip link set eth0.100 up
ip addr add 10.217.0.2/24 dev eth0.100
sleep 1
say "HOST vlan-start"
ping -c 3 -W 1 10.217.0.1 >/dev/null 2>&1
say "HOST vlan-check"
# And in: the far end sends three ARP requests tagged 100 for eth0.100.
v0=$(stat eth0.100 rx_packets)
say "HOST vlan-in"
sleep 2
check vlan-in [ $(($(stat eth0.100 rx_packets) - v0)) -ge 3 ]
vconfig rem eth0.100

# Spoof check: five frames from a source that is not the VF's are dropped
# and counted by the PF, not sent.
say "HOST spoof-start"
check spoof-send vmtool send eth0 02:00:00:00:0b:ee 02:ee:00:00:00:09 5
sleep 1
say "HOST spoof-check"

# max_tx_rate: with 1 Mb/s set, a burst of 300 frames of 1000 bytes (2.4
# Mb; the ring and the qdisc hold it) leaves no faster than the rate: when
# the burst is queued, most of it is still waiting (the host measures).
say "HOST rate-start"
check rate-burst vmtool send eth0 $(cat /sys/class/net/eth0/address) 02:ee:00:00:00:09 300 1000
say "HOST rate-check"
sleep 1

# Promiscuous mode, as far as the PF's trust allows.
ip link set eth0 promisc on
sleep 1
say "HOST check-promisc-untrusted"
say "HOST trust"
ip link set eth0 promisc off
ip link set eth0 promisc on
sleep 1
say "HOST check-promisc-trusted"
ip link set eth0 promisc off

# The ring set up again, as on every down/up and MTU change.
ip link set eth0 down
ip link set eth0 up
wait_for "carrier eth0 1" 200
check ping-after-down-up ping -c 2 -W 5 10.215.0.1
ip link set eth0 mtu 9000
wait_for "carrier eth0 1" 200
check ping-after-mtu-change ping -c 2 -W 5 10.215.0.1
check jumbo-ping ping -c 2 -W 5 -s 8000 10.215.0.1
ip link set eth0 mtu 1500
wait_for "carrier eth0 1" 200

say "STATS eth0 rx_packets $(stat eth0 rx_packets) tx_packets $(stat eth0 tx_packets) rx_bytes $(stat eth0 rx_bytes) tx_bytes $(stat eth0 tx_bytes)"

# What the PF does, as the VM sees it.
say "HOST set-mac"
check new-mac wait_for "grep -q 02:00:00:00:0a:99 /sys/class/net/eth0/address" 400
wait_for "carrier eth0 1" 200
ip addr add 10.215.0.2/24 dev eth0 2>/dev/null
check ping-with-new-mac ping -c 2 -W 5 10.215.0.1
say "HOST link-disable"
check no-carrier wait_for "carrier eth0 0" 400
check nothing-in-or-out sh -c "! ping -c 2 -W 2 10.215.0.1"
say "HOST link-auto"
check carrier-back wait_for "carrier eth0 1" 400
check ping-after-link-auto ping -c 2 -W 5 10.215.0.1

# An FLR from the host while the guest sends: ixgbevf recovers.
ping -i 0.2 -c 100 -W 1 10.215.0.1 >/tmp/flood 2>&1 &
sleep 1
say "HOST flr"
sleep 3
check ping-after-flr wait_for "ping -c 1 -W 2 10.215.0.1 >/dev/null" 20
kill %1 2>/dev/null
dmesg | tail -n 6 | sed 's/^/@@DMESG /'

say "STATS eth0 rx_packets $(stat eth0 rx_packets) tx_packets $(stat eth0 tx_packets)"
say "DONE"
poweroff -f
