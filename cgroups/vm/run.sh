#!/usr/bin/env bash
# Builds the cgroup v2 test VM and runs the isolation checks in it.
#
#   cgroups/vm/run.sh [CHECK…]
#   cgroups/vm/run.sh --bench RUNS     the launch-latency benchmark instead of the checks
#
# Installs what it needs (qemu, busybox, cpio, e2fsprogs, libseccomp-dev, libcap-dev), takes a
# Debian cloud kernel with `apt-get download` + `dpkg -x` (nothing is installed on the host),
# builds a static berth-checks and berth-shim, packs them with busybox into an initramfs, and
# boots it under qemu/TCG with `cgroup_no_v1=all psi=1`. Exits with the checks' status.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out="$here/out"
mkdir -p "$out"
bench=""
if [ "${1:-}" = "--bench" ]; then
    [[ "${2:-}" =~ ^[0-9]+$ ]] || { echo "vm: --bench wants a number of runs" >&2; exit 2; }
    bench=$2
    shift 2
fi

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
[ -f /usr/include/seccomp.h ] || need+=(libseccomp-dev)
[ -f /usr/include/sys/capability.h ] || need+=(libcap-dev)
[ -f /usr/include/libnl3/netlink/route/link/veth.h ] || need+=(libnl-3-dev libnl-route-3-dev)
command -v nft >/dev/null || need+=(nftables)
command -v ip >/dev/null || need+=(iproute2)
if [ ${#need[@]} -gt 0 ]; then
    echo "vm: installing ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# The kernel: Debian's cloud kernel, unpacked beside us.
if ! ls "$out"/kernel/boot/vmlinuz-* >/dev/null 2>&1; then
    pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
    [ -n "$pkg" ] || { apt-get update -qq; pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/{print $2; exit}'); }
    (cd "$out" && rm -f linux-image-*.deb && apt-get download "$pkg" 2>/dev/null && dpkg -x linux-image-*.deb kernel && rm -f linux-image-*.deb)
fi
kernel=$(ls "$out"/kernel/boot/vmlinuz-* | head -n1)
modules=$(ls -d "$out"/kernel/lib/modules/* | head -n1)

# Static binaries: the checks (Swift) and the shim (C).
echo "vm: building static berth-checks, berth-shim and berth-probe"
products="berth-checks berth-shim berth-probe"
[ -n "$bench" ] && products="$products berth-bench"
for product in $products; do
    # A failed build must fail the suite: the VM would otherwise run the binaries of an older build.
    if ! built=$(cd "$repo" && swift build -c release --scratch-path .build-vm -Xswiftc -static-executable --product "$product" 2>&1); then
        echo "$built" | grep -E 'error' | head -20
        echo "vm: building $product failed"
        exit 1
    fi
    echo "$built" | grep -E 'warning:' | grep -v "unhandled; explicitly declare" || true
done
bin=$(cd "$repo" && swift build -c release --scratch-path .build-vm -Xswiftc -static-executable --show-bin-path)

# The initramfs: busybox, the virtio modules, the binaries, /init. Uncompressed: faster under TCG.
root="$out/root"
rm -rf "$root"
mkdir -p "$root"/{bin,proc,sys,dev,tmp,mnt,run,etc,lib/modules}
cp /bin/busybox "$root/bin/"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
# virtio for the disk; quota_tree and quota_v2 for its project quotas (checkpoint limits);
# veth, sch_tbf and nftables (with conntrack) for shaped runs.
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk quota_tree quota_v2 veth sch_tbf \
         libcrc32c nfnetlink nf_tables nf_defrag_ipv4 nf_defrag_ipv6 nf_conntrack nft_ct; do
    f=$(find "$modules" -name "$m.ko*" | head -n1)
    case "$f" in
        "") ;;                                   # built in

        *.xz) xz -dc "$f" > "$root/lib/modules/$m.ko" ;;
        *) cp "$f" "$root/lib/modules/$m.ko" ;;
    esac
done
for product in $products; do strip -o "$root/bin/$product" "$bin/$product"; done
# iproute2's ip (busybox's has no netns), for the network checks' server namespace, and nft,
# for the shaped runs' filter: each with the shared libraries it needs.
mkdir -p "$root/lib/x86_64-linux-gnu" "$root/lib64"
for tool in ip nft; do
    rm -f "$root/bin/$tool"
    cp "$(command -v $tool)" "$root/bin/$tool"
    for lib in $(ldd "$(command -v $tool)" | awk '/=> \//{print $3}'); do cp -L "$lib" "$root/lib/x86_64-linux-gnu/"; done
done
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
# Tests write and read a few host files a real system has.
mkdir -p "$root/etc"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
sed -e "s|\$BERTH_CHECKS|$*|" -e "s|\$BERTH_BENCH|$bench|" "$here/init.sh" > "$root/init"
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet > "$out/initrd.cpio")

# A disk with a filesystem, for the I/O checks.
rm -f "$out/disk.img"
truncate -s 128M "$out/disk.img"
mkfs.ext4 -q -F -O quota,project "$out/disk.img"

echo "vm: booting $(basename "$kernel") under qemu/TCG"
log="$out/console.log"
timeout 900 qemu-system-x86_64 -accel tcg -cpu max -m 1536 -smp 1 -nographic -no-reboot \
    -kernel "$kernel" -initrd "$out/initrd.cpio" \
    -drive file="$out/disk.img",if=virtio,format=raw \
    -append "console=ttyS0 quiet loglevel=3 cgroup_no_v1=all psi=1 panic=-1" </dev/null | tee "$log" | grep -E '^(PASS|FAIL|BERTH-VM|driver:|[0-9]+ passed)' || true
if [ -n "$bench" ]; then
    grep -aE '^(launch latency|  )' "$log" | tr -d '\r'
    grep -aq 'BERTH-VM-BENCH ok' "$log" || { echo "vm: the benchmark did not finish; see $log"; exit 1; }
    exit 0
fi
result=$(grep -a 'BERTH-VM-RESULT' "$log" | tr -d '\r' || true)
[ -n "$result" ] || { echo "vm: no result from the VM; see $log"; exit 1; }
case "$result" in
    *"refusal=0 checks=0"*) echo "vm: all checks passed"; exit 0 ;;
    *) echo "vm: $result"; exit 1 ;;
esac
