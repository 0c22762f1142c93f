// CBerthSys: the few Linux syscalls that glibc 2.36 does not wrap and Swift cannot reach
// directly. Every function is prefixed `berth_`, returns -1 and sets errno on failure, and
// is async-signal-safe (the shim's child calls them between clone and exec).
#ifndef BERTH_SYS_H
#define BERTH_SYS_H

#include <stdint.h>
#include <sys/types.h>

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

#endif
