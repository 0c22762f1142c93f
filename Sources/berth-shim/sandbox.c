#define _GNU_SOURCE
#include "sandbox.h"

#include <errno.h>
#include <stddef.h>
#include <linux/audit.h>
#include <sys/sysmacros.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#define BERTH_MOUNT_ATTR_RDONLY 0x1
#define BERTH_MOUNT_ATTR_NOSUID 0x2
#define BERTH_MOUNT_ATTR_NODEV 0x4
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#include "berth_digest.h"
#include "berth_shim_contract.h"

struct sandbox sb = { .uid = -1, .gid = -1, .netns_fd = -1 };
const char *sandbox_operation = "";

struct berth_mount_attr { uint64_t attr_set, attr_clr, propagation, userns_fd; };

// The cached program's header, written by the Swift side (SeccompCache.encode).
struct filter_header { char magic[8]; uint32_t version, count; uint8_t sha256[32]; };
#define FILTER_MAX_INSNS 4096   // the kernel's BPF_MAXINSNS

int sandbox_load_filter(const char *path, const char **why) {
    *why = "cannot open it";
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -1;
    struct stat st;
    struct filter_header h;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || read(fd, &h, sizeof(h)) != (ssize_t)sizeof(h)
        || memcmp(h.magic, "BERTHBPF", 8) != 0 || h.version != 1) {
        close(fd);
        *why = "not a Berth seccomp program (bad header)";
        errno = EINVAL;
        return -1;
    }
    if (h.count == 0 || h.count > FILTER_MAX_INSNS
        || st.st_size != (off_t)(sizeof(h) + (size_t)h.count * sizeof(struct sock_filter))) {
        close(fd);
        *why = "its instruction count is out of range or does not match its size";
        errno = EINVAL;
        return -1;
    }
    size_t size = (size_t)h.count * sizeof(struct sock_filter);
    struct sock_filter *prog = malloc(size);
    if (!prog || read(fd, prog, size) != (ssize_t)size) { close(fd); *why = "short read"; errno = EIO; return -1; }
    close(fd);
    uint8_t digest[32];
    berth_sha256(prog, size, digest);
    if (memcmp(digest, h.sha256, sizeof(digest)) != 0) {
        free(prog);
        *why = "its SHA-256 does not match the one recorded when it was compiled";
        errno = EINVAL;
        return -1;
    }
    sb.filter.len = (unsigned short)h.count;
    sb.filter.filter = prog;
    return 0;
}

uint64_t sandbox_clone_flags(void) {
    if (!sb.enabled) return 0;
    return (uint64_t)(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC) | (sb.own_network && sb.netns_fd < 0 ? CLONE_NEWNET : 0);
}

static char pathbuf[4096];

// `p` inside the new root, before pivot_root.
static const char *in_root(const char *p) {
    snprintf(pathbuf, sizeof(pathbuf), "%s%s", sb.newroot, p);
    return pathbuf;
}

int sandbox_mkdirs(const char *path, mode_t mode) {
    char buf[4096];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) { errno = ENAMETOOLONG; return -1; }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, mode) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, mode) != 0 && errno != EEXIST ? -1 : 0;
}

// The OCI runtime's defaults (runc's maskedPaths and readonlyPaths): kernel views a job does
// not need. Missing ones (other kernels, other hardware) are skipped, as runc does. Files are
// hidden behind /dev/null, directories behind an empty read-only tmpfs.
static const struct { const char *path; int directory; } kernel_masks[] = {
    {"/proc/acpi", 1}, {"/proc/asound", 1}, {"/proc/interrupts", 0}, {"/proc/kcore", 0}, {"/proc/keys", 0},
    {"/proc/latency_stats", 0}, {"/proc/timer_list", 0}, {"/proc/timer_stats", 0}, {"/proc/sched_debug", 0},
    {"/proc/scsi", 1}, {"/sys/firmware", 1}, {"/sys/devices/virtual/powercap", 1},
};
static const char *const kernel_read_only[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};

static int mask_kernel_path(const char *path, int directory) {
    const char *target = in_root(path);
    int rc;
    if (directory) {
        rc = mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=0");
    } else {
        char null[4096];
        snprintf(null, sizeof(null), "%s/dev/null", sb.newroot);
        rc = mount(null, in_root(path), NULL, MS_BIND, NULL);
    }
    return rc != 0 && errno != ENOENT ? -1 : 0;
}

static int read_only_kernel_path(const char *path) {
    const char *target = in_root(path);
    if (mount(target, target, NULL, MS_BIND | MS_REC, NULL) != 0) return errno == ENOENT ? 0 : -1;
    return mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

// A private /dev: a small tmpfs with the usual nodes, the run's own devpts instance, the
// standard symlinks and a mount point for /dev/shm. The host's /dev is never visible; the
// run's device allow-list (v1 devices, or BPF on v2) is what lets these nodes be made and used.
static int make_dev(void) {
    char dev[4096], path[4200];
    snprintf(dev, sizeof(dev), "%s/dev", sb.newroot);
    if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=65536,nr_inodes=64") != 0) return -1;
    static const struct { const char *name; unsigned major, minor; } nodes[] = {
        {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
    };
    mode_t umask_before = umask(0);
    for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dev, nodes[i].name);
        if (mknod(path, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) != 0) { umask(umask_before); return -1; }
    }
    umask(umask_before);
    static const char *const links[][2] = {
        {"ptmx", "pts/ptmx"}, {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
        {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
    };
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dev, links[i][0]);
        if (symlink(links[i][1], path) != 0) return -1;
    }
    snprintf(path, sizeof(path), "%s/pts", dev);
    if (mkdir(path, 0755) != 0) return -1;
    // Every devpts instance draws on the host's one pty budget (kernel.pty.max, 4096 by
    // default): a run gets at most 64 of them.
    if (mount("devpts", path, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,max=64") != 0) return -1;
    snprintf(path, sizeof(path), "%s/shm", dev);
    if (mkdir(path, 01777) != 0) return -1;
    snprintf(path, sizeof(path), "%s/mqueue", dev);
    if (mkdir(path, 0755) != 0) return -1;
    // The run's own IPC namespace's message queues.
    if (mount("mqueue", path, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) return -1;
    return 0;
}

// A new network namespace has only `lo`, and down: up, it gives the run 127.0.0.1 and ::1 of
// its own. (Abstract unix sockets belong to the network namespace too: the host's and other
// runs' are out of reach.)
static int loopback_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, "lo", 3);
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(s);
    errno = saved;
    return rc;
}

int sandbox_enter(void) {
    if (sb.netns_fd >= 0) {
        // Made ready by the launcher's pool, loopback up: joining takes no lock the kernel's
        // network setup holds (rtnl), which namespaces being made or torn down meanwhile do.
        sandbox_operation = "join the run's network namespace";
        if (setns(sb.netns_fd, CLONE_NEWNET) != 0) return -1;
        close(sb.netns_fd);
        sb.netns_fd = -1;
    } else if (sb.own_network) {
        sandbox_operation = "bring up loopback";
        if (loopback_up() != 0) return -1;
    }
    // The cgroup namespace is unshared here, after the child sits in the run's cgroup (and
    // has joined the v1 ones), so its root is the run's own cgroup in every hierarchy.
    sandbox_operation = "cgroup namespace";
    if (unshare(CLONE_NEWCGROUP) != 0) return -1;
    // Nothing we mount may propagate back to the host.
    sandbox_operation = "make / private";
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return -1;
    // The host's files, read-only, without setuid and without device nodes, as the new root.
    sandbox_operation = "bind / as the new root";
    if (mount("/", sb.newroot, NULL, MS_BIND | MS_REC, NULL) != 0) return -1;
    struct berth_mount_attr ro = { BERTH_MOUNT_ATTR_RDONLY | BERTH_MOUNT_ATTR_NOSUID | BERTH_MOUNT_ATTR_NODEV, 0, 0, 0 };
    sandbox_operation = "make the new root read-only, nosuid, nodev";
    if (syscall(SYS_mount_setattr, AT_FDCWD, sb.newroot, AT_RECURSIVE, &ro, sizeof(ro)) != 0) return -1;
    sandbox_operation = "private /dev";
    if (make_dev() != 0) return -1;
    // Private tmpfs first (/tmp, /var/tmp, /dev/shm), then masks (Berth's state, runtime files,
    // the checkpoint root, home directories), then the job's own checkpoint subtree bound back
    // inside them, and only then the masks made read-only: later mounts would hide earlier ones.
    sandbox_operation = "private tmpfs";
    char options[64];
    if (sb.tmpfs_size > 0) snprintf(options, sizeof(options), "mode=1777,size=%lld", sb.tmpfs_size);
    else snprintf(options, sizeof(options), "mode=1777");
    for (int i = 0; i < sb.ntmpfs; i++) {
        if (mount("tmpfs", in_root(sb.tmpfs[i]), "tmpfs", MS_NOSUID | MS_NODEV, options) != 0) return -1;
    }
    // Each mask was resolved by the parent and exists: one that cannot be placed fails the run.
    // A mask is read-only from the start, unless a bind goes inside it (the checkpoint root:
    // the bind's mount point is made in it), which is remounted read-only after the binds.
    sandbox_operation = "masks";
    int holds_bind[sb.nmasks > 0 ? sb.nmasks : 1];
    memset(holds_bind, 0, sizeof(holds_bind));
    for (int i = 0; i < sb.nmasks; i++) {
        size_t n = strlen(sb.masks[i]);
        for (int j = 0; j < sb.nbinds; j++)
            if (strncmp(sb.bind_dst[j], sb.masks[i], n) == 0 && sb.bind_dst[j][n] == '/') holds_bind[i] = 1;
        unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | (holds_bind[i] ? 0 : MS_RDONLY);
        if (mount("tmpfs", in_root(sb.masks[i]), "tmpfs", flags, "mode=0755,size=1m") != 0) return -1;
    }
    sandbox_operation = "checkpoint bind";
    for (int i = 0; i < sb.nbinds; i++) {
        const char *dst = in_root(sb.bind_dst[i]);
        if (sandbox_mkdirs(dst, 0755) != 0) return -1;
        if (mount(sb.bind_src[i], dst, NULL, MS_BIND, NULL) != 0) return -1;
        if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, NULL) != 0) return -1;
    }
    sandbox_operation = "read-only masks";
    for (int i = 0; i < sb.nmasks; i++) {
        if (holds_bind[i] && mount(NULL, in_root(sb.masks[i]), NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m") != 0)
            return -1;
    }
    // /proc of the run's PID namespace: only its own processes, and of those only the ones of
    // the job's own uid (hidepid=invisible, 5.8+; hidepid=2 before).
    sandbox_operation = "/proc";
    if (mount("proc", in_root("/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible") != 0
        && (errno != EINVAL || mount("proc", in_root("/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2") != 0))
        return -1;
    sandbox_operation = "kernel masks";
    for (size_t i = 0; i < sizeof(kernel_masks) / sizeof(kernel_masks[0]); i++)
        if (mask_kernel_path(kernel_masks[i].path, kernel_masks[i].directory) != 0) return -1;
    sandbox_operation = "read-only kernel paths";
    for (size_t i = 0; i < sizeof(kernel_read_only) / sizeof(kernel_read_only[0]); i++)
        if (read_only_kernel_path(kernel_read_only[i]) != 0) return -1;
    // /sys/fs/cgroup: the host's cgroup mounts are detached (a cgroup2 cannot be mounted over
    // a bind of itself: EBUSY), then cgroup2 seen through the run's cgroup namespace, read-only.
    sandbox_operation = "/sys/fs/cgroup";
    if (umount2(in_root("/sys/fs/cgroup"), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) return -1;
    if (mount("cgroup2", in_root("/sys/fs/cgroup"), "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL) != 0
        && errno != ENOENT)
        return -1;
    // pivot_root(".", "."), then detach the old root stacked under it: no put_old directory
    // is needed in a read-only tree.
    sandbox_operation = "pivot_root";
    if (chdir(sb.newroot) != 0) return -1;
    if (syscall(SYS_pivot_root, ".", ".") != 0) return -1;
    if (umount2(".", MNT_DETACH) != 0) return -1;
    if (chdir("/") != 0) return -1;
    sandbox_operation = "hostname";
    if (sb.hostname && sethostname(sb.hostname, strlen(sb.hostname)) != 0) return -1;
    return 0;
}

// Sets the effective and permitted sets to `caps`, and the inheritable set too when `inherit`.
static int capset_to(uint64_t caps, int inherit) {
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    for (int i = 0; i < 2; i++) {
        uint32_t word = (uint32_t)(caps >> (32 * i));
        data[i].effective = data[i].permitted = word;
        data[i].inheritable = inherit ? word : 0;
    }
    return (int)syscall(SYS_capset, &header, data);
}

int sandbox_drop_privileges(int *step) {
    // 4. setgroups, then setresgid
    *step = BERTH_STEP_GROUPS;
    if (sb.gid >= 0) {
        if (setgroups(0, NULL) != 0) return -1;
        if (setresgid((gid_t)sb.gid, (gid_t)sb.gid, (gid_t)sb.gid) != 0) return -1;
    }
    // 5. drop the bounding set (needs CAP_SETPCAP, so before the uid changes), then setresuid,
    //    then capset to what the operator granted (nothing, by default) and make that ambient.
    *step = BERTH_STEP_IDENTITY;
    for (int cap = 0; cap < 64; cap++) {
        if (sb.ambient & (1ULL << cap)) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            if (errno == EINVAL) break;          // past the kernel's last capability
            return -1;
        }
    }
    // Per-uid counters are shared by all of a tenant's runs (one uid per tenant): the run's
    // cgroup bounds it instead (pids.max for processes; memory.max for the kernel memory of
    // queued signals and message queues), so one run cannot starve the tenant's others.
    // Without CAP_SYS_RESOURCE (some hosts withhold it even from root) the hard limit is as
    // high as they go.
    static const int per_uid[] = {RLIMIT_NPROC, RLIMIT_SIGPENDING, RLIMIT_MSGQUEUE};
    for (size_t i = 0; i < sizeof(per_uid) / sizeof(per_uid[0]); i++) {
        struct rlimit limit = { RLIM_INFINITY, RLIM_INFINITY };
        if (setrlimit(per_uid[i], &limit) == 0) continue;
        if (errno != EPERM || getrlimit(per_uid[i], &limit) != 0) return -1;
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(per_uid[i], &limit) != 0) return -1;
    }
    if (sb.ambient && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return -1;
    if (sb.uid >= 0 && setresuid((uid_t)sb.uid, (uid_t)sb.uid, (uid_t)sb.uid) != 0) return -1;
    if (capset_to(sb.ambient, 1) != 0) return -1;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) return -1;
    for (int cap = 0; cap < 64; cap++)
        if ((sb.ambient & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) return -1;
    if (sb.ambient && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return -1;
    if (sb.nofile) {
        struct rlimit nofile = { sb.nofile, sb.nofile };
        if (setrlimit(RLIMIT_NOFILE, &nofile) != 0) return -1;
    }
    return 0;
}

int sandbox_lock(void) {
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    if (sb.filter.len && syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &sb.filter) != 0) return -1;
    return 0;
}

#if defined(__x86_64__)
#define INIT_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define INIT_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif

int sandbox_init_lock(void) {
    // Signals are forwarded to a job of another uid: CAP_KILL, and nothing else. Non-dumpable,
    // so a job of the same uid could not reach its memory through /proc either.
    for (int cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            if (errno == EINVAL) break;
            return -1;
        }
    }
    if (capset_to(1ULL << CAP_KILL, 0) != 0) return -1;
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
#ifdef INIT_AUDIT_ARCH
    // Its own filter: what the loop below calls, and nothing more; anything else kills it
    // (and so the run, which is then reported).
#define ALLOW(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, INIT_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        ALLOW(SYS_rt_sigtimedwait), ALLOW(SYS_kill), ALLOW(SYS_wait4), ALLOW(SYS_write),
        ALLOW(SYS_exit_group), ALLOW(SYS_exit), ALLOW(SYS_restart_syscall), ALLOW(SYS_rt_sigreturn), ALLOW(SYS_close),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
    };
#undef ALLOW
    struct sock_fprog prog = { (unsigned short)(sizeof(insns) / sizeof(insns[0])), insns };
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return -1;
#endif
    return 0;
}

void sandbox_init(pid_t job, int status_fd) {
    sigset_t all;
    sigfillset(&all);
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&all, &si);
        if (sig < 0) continue;
        if (sig != SIGCHLD) {
            // Blocked signals reach a namespace's init from its parent; pass them on.
            kill(job, sig);
            continue;
        }
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            if (pid != job) continue;            // an orphan: reaped, nothing more
            if (status_fd >= 0) (void)!write(status_fd, &status, sizeof(status));
            // Leaving kills every other process of the namespace.
            _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        }
    }
}
