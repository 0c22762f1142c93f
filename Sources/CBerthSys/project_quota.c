#define _GNU_SOURCE
#include "berth_quota.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/quota.h>

#ifndef SYS_quotactl_fd
#define SYS_quotactl_fd 443
#endif

static long quotactl_fd(int fd, unsigned int cmd, uint32_t id, void *addr) {
    return syscall(SYS_quotactl_fd, fd, QCMD(cmd, PRJQUOTA), id, addr);
}

int berth_project_quota_enabled(int fd) {
    uint32_t format = 0;
    if (quotactl_fd(fd, Q_GETFMT, 0, &format) == 0) return 1;
    // ESRCH: quotas are off; ENOSYS/EOPNOTSUPP/ENOTTY: no support in the kernel or filesystem.
    if (errno == ESRCH || errno == ENOSYS || errno == EOPNOTSUPP || errno == ENOTTY || errno == EINVAL) return 0;
    return -1;
}

long long berth_project_id(int fd) {
    struct fsxattr fsx;
    if (ioctl(fd, FS_IOC_FSGETXATTR, &fsx) != 0) return -1;
    return fsx.fsx_projid;
}

int berth_project_quota_set(int dirfd, uint32_t project, uint64_t bytes) {
    struct fsxattr fsx;
    if (ioctl(dirfd, FS_IOC_FSGETXATTR, &fsx) != 0) return -1;
    if (fsx.fsx_projid != project || !(fsx.fsx_xflags & FS_XFLAG_PROJINHERIT)) {
        fsx.fsx_projid = project;
        fsx.fsx_xflags |= FS_XFLAG_PROJINHERIT;
        if (ioctl(dirfd, FS_IOC_FSSETXATTR, &fsx) != 0) return -1;
    }
    return berth_project_quota_limit(dirfd, project, bytes);
}

int berth_project_quota_limit(int fd, uint32_t project, uint64_t bytes) {
    struct if_dqblk q;
    memset(&q, 0, sizeof(q));
    q.dqb_bhardlimit = q.dqb_bsoftlimit = (bytes + 1023) / 1024;   // in QUOTABLOCK_SIZE (1 KiB) units
    q.dqb_valid = QIF_BLIMITS;
    return quotactl_fd(fd, Q_SETQUOTA, project, &q) == 0 ? 0 : -1;
}

int berth_project_quota_get(int fd, uint32_t project, uint64_t *used, uint64_t *limit) {
    struct if_dqblk q;
    memset(&q, 0, sizeof(q));
    if (quotactl_fd(fd, Q_GETQUOTA, project, &q) != 0) return -1;
    *used = q.dqb_curspace;
    *limit = q.dqb_bhardlimit * 1024;
    return 0;
}
