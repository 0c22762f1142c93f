// The contract between the launcher (Swift) and berth-shim (C), defined once for both sides:
// the configuration document the shim reads, and the names its status file uses for a run's
// state, how it ended, and the setup step that failed.
#ifndef BERTH_SHIM_CONTRACT_H
#define BERTH_SHIM_CONTRACT_H

// ---- the configuration document ----
//
// The launcher writes it to a memfd and hands it to the shim as fd BERTH_SHIM_CONFIG_FD.
// It is a sequence of records `KEY=VALUE`, each ended by a NUL byte (no value can hold a NUL:
// every one becomes a C string), at most BERTH_SHIM_CONFIG_MAX bytes in all. The first record is
// `berth-shim-config=VERSION`. The shim refuses, naming the record, any other version, an
// unknown key, a key given twice that is not a list, a number that is not all decimal digits
// in its range, and a document without the keys it needs. Keys (version 1):
//
//   status, cgroup, ids (TENANT/JOB/RUN)            required, once
//   exec (the path to exec), arg (repeated: argv[0] first)   required
//   join, stat (NAME=FILE), rmdir                   lists
//   oom-control, cwd, mkcwd (1), timeout-ms, grace-ms, stuck-ms, stdio (relay|inherit),
//   log-dir, log-base, log-max-bytes, log-keep, fork (1)
//   network (none|host)                             a sandboxed run's network; default none
//   netns (4)                                       with network none or shaped: fd BERTH_SHIM_NETNS_FD is a
//                                                   fresh network namespace, lo up, that the run
//                                                   joins instead of making its own
//   sandbox keys: uid, gid, nofile, seccomp, cap (repeated), newroot, tmpfs (repeated),
//   tmpfs-size, mask (repeated), bind (SRC=DST, repeated), hostname
#define BERTH_SHIM_CONFIG_VERSION 1
#define BERTH_SHIM_CONFIG_FD 3
#define BERTH_SHIM_CONFIG_MAX (4 << 20)
#define BERTH_SHIM_NETNS_FD 4

// ---- the status file ----

/// A run's state in its status file.
enum berth_run_state { BERTH_STATE_RUNNING, BERTH_STATE_ENDED, BERTH_STATE_COUNT };

/// How an ended run ended.
enum berth_how {
    BERTH_HOW_EXITED, BERTH_HOW_SIGNALED, BERTH_HOW_TIMEOUT, BERTH_HOW_STOPPED,
    BERTH_HOW_EXEC_FAILED, BERTH_HOW_LAUNCH_FAILED, BERTH_HOW_COUNT
};

/// The setup step of the job's process that failed (DESIGN.md's order); NONE when none did.
enum berth_step {
    BERTH_STEP_NONE, BERTH_STEP_SIGNALS, BERTH_STEP_SESSION, BERTH_STEP_NAMESPACES, BERTH_STEP_GROUPS,
    BERTH_STEP_IDENTITY, BERTH_STEP_WORKDIR, BERTH_STEP_SECCOMP, BERTH_STEP_EXEC, BERTH_STEP_COUNT
};

static inline const char *berth_run_state_name(int state) {
    static const char *const names[] = {"running", "ended"};
    return state >= 0 && state < BERTH_STATE_COUNT ? names[state] : "";
}

static inline const char *berth_how_name(int how) {
    static const char *const names[] = {"exited", "signaled", "timeout", "stopped", "exec_failed", "launch_failed"};
    return how >= 0 && how < BERTH_HOW_COUNT ? names[how] : "";
}

static inline const char *berth_step_name(int step) {
    static const char *const names[] = {
        "", "signals and v1 cgroups", "session and rlimits", "namespaces, network and mounts",
        "groups", "capabilities and uid", "working directory and fds", "no_new_privs and seccomp", "exec",
    };
    return step >= 0 && step < BERTH_STEP_COUNT ? names[step] : "";
}

#endif
