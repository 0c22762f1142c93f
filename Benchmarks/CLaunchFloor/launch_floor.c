#define _GNU_SOURCE
#include "launch_floor.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "berth_sys.h"

static int write_str(const char *path, const char *s) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, s, strlen(s));
    close(fd);
    return n < 0 ? -1 : 0;
}

int berth_floor_run(const char *const *mkdirs, int nmkdirs,
                    const char *const *files, const char *const *values, int nwrites,
                    const char *cgroup_dir, const char *const *joins, int njoins,
                    const char *path) {
    for (int i = 0; i < nmkdirs; i++)
        if (mkdir(mkdirs[i], 0755) != 0) return -1;
    for (int i = 0; i < nwrites; i++)
        if (write_str(files[i], values[i]) != 0) return -1;
    int cgfd = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgfd < 0) return -1;
    int pidfd = -1;
    pid_t pid = berth_clone3_into_cgroup(cgfd, &pidfd, 0);
    if (pid == 0) {
        for (int i = 0; i < njoins; i++)
            if (write_str(joins[i], "0") != 0) _exit(126);
        char *argv[] = {(char *)path, NULL};
        char *envp[] = {NULL};
        execve(path, argv, envp);
        _exit(127);
    }
    close(cgfd);
    if (pid < 0) return -1;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    close(pidfd);
    for (int i = nmkdirs - 1; i >= 0; i--)
        while (rmdir(mkdirs[i]) != 0 && errno == EBUSY) {}
    return status;
}
