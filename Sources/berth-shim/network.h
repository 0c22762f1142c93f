// A shaped run's network (network.c): made between the clone and the go, removed at the end.
#ifndef BERTH_SHIM_NETWORK_H
#define BERTH_SHIM_NETWORK_H

#include <stddef.h>
#include <sys/types.h>

/// Makes the veth pair into the run's network namespace (`netns_fd`), its addresses, route
/// and both tbf qdiscs. Returns 0, or -1 with `network_failure()` naming the interface and the
/// operation; nothing of it is left then.
int network_setup(int netns_fd);

/// What network_setup failed at.
const char *network_failure(void);

/// Removes the host end (and with it the pair); nothing when it is gone already.
void network_remove(void);

/// The shaping's counters, one "NAME N" a line: both tbf qdiscs' (`tc_egress_*` on eth0,
/// `tc_ingress_*` on the host end: bytes, packets, drops, overlimits) and the host end's
/// interface counts (`rx_bytes`…: the job's sent bytes are its received ones). `netns_fd` is
/// the run's namespace. Returns 0, or -1 when they cannot be read.
int network_counters(char *out, size_t size, int netns_fd);

#endif
