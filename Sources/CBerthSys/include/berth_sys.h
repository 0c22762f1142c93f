// CBerthSys: the few Linux syscalls that glibc 2.36 does not wrap and Swift cannot reach
// directly. Every function is prefixed `berth_`, returns -1 and sets errno on failure, and
// is async-signal-safe (the shim's child calls them between clone and exec).
#ifndef BERTH_SYS_H
#define BERTH_SYS_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/epoll.h>

/// clone3(2) with CLONE_INTO_CGROUP | CLONE_PIDFD and no new stack (fork semantics).
/// `cgroup_fd` is an open directory of the target cgroup v2; the pidfd is stored in `*pidfd`.
/// `extra_flags` carries namespace flags (CLONE_NEWPID, …). Returns 0 in the child.
pid_t berth_clone3_into_cgroup(int cgroup_fd, int *pidfd, uint64_t extra_flags);

/// pidfd_open(2).
int berth_pidfd_open(pid_t pid);

/// pidfd_send_signal(2): signal a process by pidfd, immune to pid reuse.
int berth_pidfd_send_signal(int pidfd, int sig);

/// close_range(2) with CLOSE_RANGE_CLOEXEC from `first` up: fds stay usable until exec.
int berth_close_range_cloexec(unsigned int first);

/// A fresh network namespace with `lo` up, made on the calling thread, which then returns to
/// the namespace `home_fd` names (its own, opened beforehand). Returns an O_CLOEXEC fd of the
/// new namespace, or -1 with errno set; -2 when the thread could not return home (it is then
/// left in the new namespace and must make no more).
int berth_netns_create(int home_fd);

/// memfd_create(2) with MFD_CLOEXEC.
int berth_memfd_create(const char *name);

/// openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS: `path` must
/// stay under `dirfd` and contain no symlink at all. Kernels before 5.6 answer ENOSYS.
int berth_openat2_beneath(int dirfd, const char *path, int flags, unsigned int mode);

/// renameat2(2) with RENAME_NOREPLACE: fails with EEXIST instead of replacing.
int berth_rename_noreplace(int olddirfd, const char *oldpath, int newdirfd, const char *newpath);

/// statfs(2)'s f_type for `path` (the filesystem magic), or -1 with errno.
long long berth_statfs_magic(const char *path);

/// major(3) and minor(3), which are macros Swift cannot see.
unsigned int berth_dev_major(unsigned long long dev);
unsigned int berth_dev_minor(unsigned long long dev);

/// Device allow-list for cgroup v2 (device_filter.c). The kernel's device controller on
/// cgroup2 is a BPF_PROG_TYPE_CGROUP_DEVICE program; these rules are compiled into one.
/// Access bits, as the kernel defines them (BPF_DEVCG_ACC_*).
#define BERTH_DEV_MKNOD 1
#define BERTH_DEV_READ  2
#define BERTH_DEV_WRITE 4
#define BERTH_DEV_RWM   7 /* MKNOD | READ | WRITE, as a literal so Swift imports it */

/// One allow rule: `type` is 'c' (char), 'b' (block) or 'a' (both); `major`/`minor` are the
/// device numbers, -1 meaning any; `access` is a mask of BERTH_DEV_*: a request is allowed when
/// every bit it asks for is in the mask. Rules only allow: whatever no rule matches is denied.
struct berth_device_rule {
    char type;
    int32_t major;
    int32_t minor;
    uint32_t access;
};

/// The default list (runc's defaults minus what Berth does not need): c 1:3 null, 1:5 zero,
/// 1:7 full, 1:8 random, 1:9 urandom, 5:0 tty, 5:2 ptmx, 136:* pts, all rwm. Static storage;
/// the count goes to `*count`.
const struct berth_device_rule *berth_device_rules_default(int *count);

/// Compiles `rules` (at most 256; 0 denies every device) into a cgroup device program, loads
/// it and attaches it to the cgroup v2 directory `cgroup_dirfd` with BPF_F_ALLOW_MULTI. The
/// program fd is closed before returning: the attachment holds its own reference and lasts as
/// long as the cgroup. Needs CAP_SYS_ADMIN (or CAP_BPF + CAP_NET_ADMIN). Errors: EINVAL (bad
/// rule), E2BIG (too many rules), EBADF (not a cgroup2 directory), EPERM, and whatever the
/// verifier answers (the log is then in berth_device_filter_log()).
int berth_device_filter_attach(int cgroup_dirfd, const struct berth_device_rule *rules, int count);

/// How many device programs are attached to the cgroup v2 directory itself (BPF_PROG_QUERY),
/// or -1 with errno.
int berth_device_filter_count(int cgroup_dirfd);

/// The verifier's log from the last failed load (a static buffer, not thread-safe), or "".
const char *berth_device_filter_log(void);

#endif
