// Project quotas (ext4 with the project feature and prjquota, XFS with pquota) for the
// size of a job's checkpoint subtree: the directory gets a project id its new files and
// directories inherit, and the project a block limit the filesystem enforces (EDQUOT).
#ifndef BERTH_QUOTA_H
#define BERTH_QUOTA_H

#include <stdint.h>

/// 1 when project quotas are on for the filesystem holding `fd`, 0 when they are not (or
/// the kernel has no quotactl_fd, before 5.14), -1 with errno on any other failure.
int berth_project_quota_enabled(int fd);

/// The project id of the directory or file `fd` (FS_IOC_FSGETXATTR), 0 for none, or -1.
long long berth_project_id(int fd);

/// Puts the directory `dirfd` in `project`, inherited by everything created below it
/// (FS_XFLAG_PROJINHERIT), and limits the project to `bytes` (rounded up to 1 KiB blocks;
/// 0 removes the limit). Returns 0, or -1 with errno.
int berth_project_quota_set(int dirfd, uint32_t project, uint64_t bytes);

/// Sets only the limit of `project` (0: none), through `fd` on its filesystem.
int berth_project_quota_limit(int fd, uint32_t project, uint64_t bytes);

/// Bytes `project` uses and its block limit in bytes, through `fd` on its filesystem.
int berth_project_quota_get(int fd, uint32_t project, uint64_t *used, uint64_t *limit);

#endif
