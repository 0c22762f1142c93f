#define _GNU_SOURCE
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
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
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

struct sandbox sb = { .uid = -1, .gid = -1 };
const char *sandbox_operation = "";

struct berth_mount_attr { uint64_t attr_set, attr_clr, propagation, userns_fd; };

int sandbox_load_filter(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) != 0
        || st.st_size > 65536 * (off_t)sizeof(struct sock_filter)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    struct sock_filter *prog = malloc((size_t)st.st_size);
    if (!prog || read(fd, prog, (size_t)st.st_size) != st.st_size) { close(fd); errno = EIO; return -1; }
    close(fd);
    sb.filter.len = (unsigned short)(st.st_size / (off_t)sizeof(struct sock_filter));
    sb.filter.filter = prog;
    return 0;
}

uint64_t sandbox_clone_flags(void) {
    return sb.enabled ? (uint64_t)(CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC) : 0;
}

static char pathbuf[4096];

// `p` inside the new root, before pivot_root.
static const char *in_root(const char *p) {
    snprintf(pathbuf, sizeof(pathbuf), "%s%s", sb.newroot, p);
    return pathbuf;
}

static int mkdirs(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

int sandbox_enter(void) {
    // The cgroup namespace is unshared here, after the child sits in the run's cgroup (and
    // has joined the v1 ones), so its root is the run's own cgroup in every hierarchy.
    sandbox_operation = "cgroup namespace";
    if (unshare(CLONE_NEWCGROUP) != 0) return -1;
    // Nothing we mount may propagate back to the host.
    sandbox_operation = "make / private";
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return -1;
    // The host's files, read-only and without setuid, as the new root.
    sandbox_operation = "bind / as the new root";
    if (mount("/", sb.newroot, NULL, MS_BIND | MS_REC, NULL) != 0) return -1;
    struct berth_mount_attr ro = { BERTH_MOUNT_ATTR_RDONLY | BERTH_MOUNT_ATTR_NOSUID, 0, 0, 0 };
    sandbox_operation = "make the new root read-only";
    if (syscall(SYS_mount_setattr, AT_FDCWD, sb.newroot, AT_RECURSIVE, &ro, sizeof(ro)) != 0) return -1;
    // Private tmpfs first (/tmp, /var/tmp, /dev/shm), then masks (Berth's state, runtime files,
    // the checkpoint root, home directories), then the job's own checkpoint subtree bound back
    // inside them, and only then the masks made read-only: later mounts would hide earlier ones.
    sandbox_operation = "private tmpfs";
    for (int i = 0; i < sb.ntmpfs; i++) {
        if (mount("tmpfs", in_root(sb.tmpfs[i]), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") != 0 && errno != ENOENT) return -1;
    }
    sandbox_operation = "masks";
    int masked[SANDBOX_MAX] = {0};
    for (int i = 0; i < sb.nmasks; i++) {
        if (mount("tmpfs", in_root(sb.masks[i]), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m") == 0) masked[i] = 1;
        else if (errno != ENOENT) return -1;   // ENOENT: nothing there to hide
    }
    sandbox_operation = "checkpoint bind";
    for (int i = 0; i < sb.nbinds; i++) {
        const char *dst = in_root(sb.bind_dst[i]);
        if (mkdirs(dst) != 0) return -1;
        if (mount(sb.bind_src[i], dst, NULL, MS_BIND, NULL) != 0) return -1;
        if (mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV, NULL) != 0) return -1;
    }
    sandbox_operation = "read-only masks";
    for (int i = 0; i < sb.nmasks; i++) {
        if (masked[i] && mount(NULL, in_root(sb.masks[i]), NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m") != 0)
            return -1;
    }
    // /proc of the run's PID namespace: only its own processes.
    sandbox_operation = "/proc";
    if (mount("proc", in_root("/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) return -1;
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

int sandbox_drop_privileges(int *step) {
    // 4. setgroups, then setresgid
    *step = 4;
    if (sb.gid >= 0) {
        if (setgroups(0, NULL) != 0) return -1;
        if (setresgid((gid_t)sb.gid, (gid_t)sb.gid, (gid_t)sb.gid) != 0) return -1;
    }
    // 5. drop the bounding set (needs CAP_SETPCAP, so before the uid changes), then setresuid,
    //    then capset to zero, and clear the ambient set.
    *step = 5;
    for (int cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            if (errno == EINVAL) break;          // past the kernel's last capability
            return -1;
        }
    }
    if (sb.uid >= 0 && setresuid((uid_t)sb.uid, (uid_t)sb.uid, (uid_t)sb.uid) != 0) return -1;
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capset, &header, data) != 0) return -1;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) return -1;
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
