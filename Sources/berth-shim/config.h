// The shim's configuration: read once, before anything else, from the document on fd
// BERTH_SHIM_CONFIG_FD (berth_shim_contract.h describes its records), and checked strictly.
#ifndef BERTH_SHIM_CONFIG_H
#define BERTH_SHIM_CONFIG_H

#include "berth_shim_contract.h"

/// A list of values given by a repeated key. Grown as the document is read: no fixed slots.
struct list { const char **items; int count; };

struct config {
    const char *status, *cgroup, *oom_control, *cwd, *log_dir, *log_base;
    char tenant[18], job[18], run[18];   // ids, checked: `t`, `j`, `r` and 16 hex digits
    long long log_max;   // log-max-bytes: a log file is rotated before it would pass this
    int log_keep;        // log-keep: files kept per stream, the live one included
    int mkcwd;           // the job makes its working directory
    struct list joins;   // v1 cgroup.procs files the child enters before exec (hybrid hosts)
    struct list stat_names, stat_paths;
    struct list rmdirs;
    long long timeout_ms, grace_ms;
    long long stuck_ms;  // how long after cgroup.kill a run may take to empty before it is reported stuck
    int relay;           // the job's stdio are pipes the shim relays (default), not the shim's own fds
    int fork_only;       // take the path for kernels without clone3 (tests prove it this way)
    int host_network;    // a sandboxed run keeps the host's network (operator only); else its own
    int shaped;          // network shaped: a veth pair to the host, tbf both ways (network.c)
    const char *veth, *net_address, *net_gateway;   // the host end's name; eth0's and the host end's CIDRs
    const char *lease;                               // the address lease file, removed with the network
    long long egress_bps, ingress_bps;               // what the job may send, and receive
    const char *exec;    // the path to exec
    struct list argv;    // the job's argv, NULL-terminated once read
};

extern struct config cfg;

/// Reads and checks the document on `fd`, filling `cfg` and the sandbox's `sb`. Exits with
/// 125 and a message naming the record at fault when the document is not acceptable.
void config_read(int fd);

#endif
