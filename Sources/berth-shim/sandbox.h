// The run's sandbox, applied by the shim's cloned child and the job's process.
// Everything here runs between clone and exec: raw syscalls, no allocation.
#ifndef BERTH_SANDBOX_H
#define BERTH_SANDBOX_H

#include <stdint.h>
#include <sys/types.h>
#include <linux/filter.h>

struct sandbox {
    int enabled;                 // namespaces, the private mount tree and the run's init
    const char *newroot;         // an empty directory made by the parent: the new root's mount point
    int own_network;             // a network namespace of its own, loopback only (network none)
    int netns_fd;                // a ready one to join (from the launcher's pool); -1: clone a new one
    const char **tmpfs; int ntmpfs;                 // private, writable (/tmp, /var/tmp, /dev/shm)
    long long tmpfs_size;        // size= of each private tmpfs, in bytes; 0: the kernel's default
    const char **masks; int nmasks;                 // hidden behind an empty read-only tmpfs; resolved
                                                    // by the parent, so a mask that fails fails the run
    const char **bind_src;                          // writable binds (the job's checkpoint subtree)
    const char **bind_dst; int nbinds;
    const char *hostname;
    long long uid, gid;          // -1: unchanged
    unsigned long nofile;        // RLIMIT_NOFILE for the job; 0: unchanged
    uint64_t ambient;            // capabilities the operator granted, kept as ambient (bit per cap)
    struct sock_fprog filter;    // the seccomp program compiled by the daemon; len 0: none
};

extern struct sandbox sb;

/// The mount operation sandbox_enter was doing, for the error report.
extern const char *sandbox_operation;

/// Parent side: reads a cached seccomp program from `path` into `sb.filter`, checking its
/// header first: magic, format, an instruction count the kernel accepts (1 to 4096) that
/// matches the file's size, and the SHA-256 recorded when it was compiled. Returns 0, or -1
/// with `*why` set: a filter that cannot be loaded as it is fails the launch.
int sandbox_load_filter(const char *path, const char **why);

/// The clone flags for the run's namespaces (PID, mount, UTS, IPC, and network unless the run
/// keeps the host's); 0 when disabled.
uint64_t sandbox_clone_flags(void);

/// In the cloned child, PID 1 of the run: loopback up in its own network namespace, a cgroup
/// namespace rooted at the run's cgroup, the
/// private mount tree (host read-only, private /tmp, masks, binds, /proc, /sys/fs/cgroup),
/// pivot_root into it, and the hostname. Returns 0, or -1 with errno set.
int sandbox_enter(void);

/// mkdir -p: makes `path` and each missing parent with `mode` (umask applied); an existing
/// one is fine. Returns 0, or -1 with errno set. No allocation: usable between fork and exec.
int sandbox_mkdirs(const char *path, mode_t mode);

/// In the job's process: steps 4 and 5 of DESIGN.md. Sets `*step` to the failing step.
int sandbox_drop_privileges(int *step);

/// In the job's process, last before exec: no_new_privs, then the seccomp filter.
int sandbox_lock(void);

/// PID 1, once the job is forked: keeps only CAP_KILL (to forward signals to the tenant's
/// job), becomes non-dumpable, sets no_new_privs and loads its own small filter (signals,
/// wait, write, exit). Returns 0, or -1 with errno set.
int sandbox_init_lock(void);

/// PID 1's loop: forwards signals to the job, reaps every orphan, and when the job ends
/// writes its wait status to `status_fd` (unless -1) and exits. Never returns.
void sandbox_init(pid_t job, int status_fd) __attribute__((noreturn));

#endif
