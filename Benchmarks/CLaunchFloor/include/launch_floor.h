// The floor for the launch-latency benchmark: plain C doing the same kernel work as one
// Berth launch, with no supervisor. Create the cgroup directories, write the limits, clone
// into the v2 cgroup (the child joins the v1 ones), exec, wait, rmdir.
#ifndef LAUNCH_FLOOR_H
#define LAUNCH_FLOOR_H

/// Runs `path` once in a fresh limited cgroup. Returns the child's wait status, or -1 with errno.
int berth_floor_run(const char *const *mkdirs, int nmkdirs,
                    const char *const *files, const char *const *values, int nwrites,
                    const char *cgroup_dir, const char *const *joins, int njoins,
                    const char *path);

#endif
