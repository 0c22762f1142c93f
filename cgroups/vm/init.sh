#!/bin/sh
# /init of the cgroup v2 test VM: pure cgroup v2 (cgroup_no_v1=all), PSI on, a virtio disk.
export PATH=/bin
# pivot_root (each run's sandbox) cannot leave the initramfs's rootfs: move to a tmpfs first.
if [ ! -e /.stage2 ]; then
    mkdir -p /newroot
    mount -t tmpfs -o size=900m root /newroot
    for d in bin lib lib64 etc init; do cp -a /$d /newroot/; done
    mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp /newroot/mnt /newroot/run /newroot/opt /newroot/etc /newroot/usr/bin /newroot/var/tmp
    touch /newroot/.stage2
    exec switch_root /newroot /init
fi
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mkdir -p /run && mount -t tmpfs run /run
mount -t cgroup2 none /sys/fs/cgroup
# Loopback up, as on any real host: the network checks reach services on 127.0.0.1; and
# iproute2's netns directory where it looks for it.
ifconfig lo 127.0.0.1 up
ln -sfn /run /var/run
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk quota_tree quota_v2 veth sch_tbf \
         libcrc32c nfnetlink nf_tables nf_defrag_ipv4 nf_defrag_ipv6 nf_conntrack nft_ct; do
    insmod /lib/modules/$m.ko 2>/dev/null
done
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
mount -t ext4 -o prjquota /dev/vda /mnt || echo "BERTH-VM: no disk"
echo "BERTH-VM: kernel $(uname -r); controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"

if [ -n "$BERTH_BENCH" ]; then
    # The launch-latency benchmark on pure cgroup v2: joins go through CLONE_INTO_CGROUP only.
    /bin/berth-bench $BERTH_BENCH && echo "BERTH-VM-BENCH ok"
    umount /mnt
    poweroff -f
fi

# Start as a user would on a host without delegation: in a non-root cgroup beside another
# process. Berth must refuse with its clear error, then run with --cgroup-root.
mkdir /sys/fs/cgroup/test
echo $$ > /sys/fs/cgroup/test/cgroup.procs
sleep 1000 &
sibling=$!
/bin/berth-checks expect-refusal
refusal=$?
# Emulated (TCG, one CPU): 50 launches at once stand for the host's 200.
/bin/berth-checks --cgroup-root /berth-ci --scratch /mnt --concurrency 50 $BERTH_CHECKS
checks=$?
kill $sibling
leftover=$(find /sys/fs/cgroup -mindepth 1 -type d | grep -v '^/sys/fs/cgroup/test$')
[ -n "$leftover" ] && echo "BERTH-VM: leftover cgroups: $leftover" && checks=1
echo "BERTH-VM-RESULT refusal=$refusal checks=$checks"
umount /mnt
poweroff -f
