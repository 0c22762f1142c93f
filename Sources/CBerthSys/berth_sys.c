#define _GNU_SOURCE
#include "berth_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <signal.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/sched.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

pid_t berth_clone3_into_cgroup(int cgroup_fd, int *pidfd, uint64_t extra_flags) {
    struct clone_args args;
    memset(&args, 0, sizeof(args));
    args.flags = CLONE_INTO_CGROUP | CLONE_PIDFD | extra_flags;
    args.pidfd = (uint64_t)(uintptr_t)pidfd;
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)cgroup_fd;
    return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

int berth_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int berth_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int berth_close_range_cloexec(unsigned int first) {
    return (int)syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC);
}

long long berth_statfs_magic(const char *path) {
    struct statfs buf;
    if (statfs(path, &buf) != 0) return -1;
    return (long long)buf.f_type;
}

unsigned int berth_dev_major(unsigned long long dev) { return major(dev); }
unsigned int berth_dev_minor(unsigned long long dev) { return minor(dev); }

int berth_netns_create(int home_fd) {
    if (unshare(CLONE_NEWNET) != 0) return -1;
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int saved = fd < 0 ? errno : 0;
    if (fd >= 0) {
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq ifr;
        memset(&ifr, 0, sizeof(ifr));
        memcpy(ifr.ifr_name, "lo", 3);
        if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0) saved = errno;
        else {
            ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
            if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) saved = errno;
        }
        if (s >= 0) close(s);
    }
    if (setns(home_fd, CLONE_NEWNET) != 0) {
        if (fd >= 0) close(fd);
        return -2;
    }
    if (saved != 0) {
        if (fd >= 0) close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int berth_memfd_create(const char *name) { return (int)syscall(SYS_memfd_create, name, 1U /* MFD_CLOEXEC */); }

struct berth_open_how { uint64_t flags, mode, resolve; };

int berth_openat2_beneath(int dirfd, const char *path, int flags, unsigned int mode) {
    struct berth_open_how how = { (uint64_t)flags, mode, 0x08 | 0x04 | 0x02 };  // BENEATH | NO_SYMLINKS | NO_MAGICLINKS
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

int berth_rename_noreplace(int olddirfd, const char *oldpath, int newdirfd, const char *newpath) {
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, 1U /* RENAME_NOREPLACE */);
}
