// A shaped run's network, made by the shim between the clone and the go (rtnetlink through
// libnl): a veth pair whose host end (`veth`) holds the gateway address and whose other end
// is `eth0` in the run's network namespace, with the run's address and a default route via
// the gateway; a tbf qdisc on each end's egress: the host end's limits what reaches the job
// (`ingress-bps`), eth0's what the job sends (`egress-bps`). A job has no capability to
// change its own qdisc. The pair goes away with the run's namespace.
#define _GNU_SOURCE
#include "network.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/tbf.h>
#include <netlink/route/route.h>

#include "config.h"

static char failure[256];

static int fail(const char *operation, const char *interface, int nlerr) {
    snprintf(failure, sizeof(failure), "network: %s on %s: %s", operation, interface, nl_geterror(nlerr));
    return -1;
}

const char *network_failure(void) { return failure; }

// Sets `address` (CIDR) on the interface `index`.
static int add_address(struct nl_sock *sock, int index, const char *cidr, const char *name) {
    struct nl_addr *local = NULL;
    int err = nl_addr_parse(cidr, AF_INET, &local);
    if (err < 0) return fail("parse the address", name, err);
    struct rtnl_addr *addr = rtnl_addr_alloc();
    rtnl_addr_set_ifindex(addr, index);
    rtnl_addr_set_local(addr, local);
    err = rtnl_addr_add(sock, addr, 0);
    rtnl_addr_put(addr);
    nl_addr_put(local);
    return err < 0 ? fail("add its address", name, err) : 0;
}

static int set_up(struct nl_sock *sock, const char *name) {
    struct rtnl_link *link = NULL, *change = rtnl_link_alloc();
    int err = rtnl_link_get_kernel(sock, 0, name, &link);
    if (err < 0) { rtnl_link_put(change); return fail("find it", name, err); }
    rtnl_link_set_flags(change, IFF_UP);
    err = rtnl_link_change(sock, link, change, 0);
    rtnl_link_put(change);
    rtnl_link_put(link);
    return err < 0 ? fail("bring it up", name, err) : 0;
}

static int index_of(struct nl_sock *sock, const char *name) {
    struct rtnl_link *link = NULL;
    if (rtnl_link_get_kernel(sock, 0, name, &link) < 0) return 0;
    int index = rtnl_link_get_ifindex(link);
    rtnl_link_put(link);
    return index;
}

// A token bucket at `bits_per_second` on the interface's egress: a burst of 10 ms of traffic
// (at least 16 KiB, so one full-size GSO segment passes), a queue of 50 ms beyond it.
static int shape(struct nl_sock *sock, int index, long long bits_per_second, const char *name) {
    long long bytes = bits_per_second / 8;
    if (bytes > 0xffffffffLL) bytes = 0xffffffffLL;
    int bucket = (int)(bytes / 100 > 16384 ? (bytes / 100 > (1 << 30) ? (1 << 30) : bytes / 100) : 16384);
    struct rtnl_qdisc *q = rtnl_qdisc_alloc();
    rtnl_tc_set_ifindex(TC_CAST(q), index);
    rtnl_tc_set_parent(TC_CAST(q), TC_H_ROOT);
    rtnl_tc_set_handle(TC_CAST(q), TC_HANDLE(1, 0));
    int err = rtnl_tc_set_kind(TC_CAST(q), "tbf");
    if (err >= 0) {
        rtnl_qdisc_tbf_set_rate(q, (int)bytes, bucket, 0);
        err = rtnl_qdisc_tbf_set_limit_by_latency(q, 50000);
    }
    if (err >= 0) err = rtnl_qdisc_add(sock, q, NLM_F_CREATE | NLM_F_REPLACE);
    rtnl_qdisc_put(q);
    return err < 0 ? fail("shape it (tbf)", name, err) : 0;
}

// The inside: eth0's address, up, the default route via the gateway, its egress shaped.
static int configure_inside(void) {
    struct nl_sock *sock = nl_socket_alloc();
    if (!sock) return fail("allocate a netlink socket", "eth0", -NLE_NOMEM);
    int err = nl_connect(sock, NETLINK_ROUTE);
    if (err < 0) { nl_socket_free(sock); return fail("connect to rtnetlink in the run", "eth0", err); }
    int rc = -1, index = index_of(sock, "eth0");
    if (!index) { fail("find it in the run", "eth0", -NLE_OBJ_NOTFOUND); goto out; }
    if (add_address(sock, index, cfg.net_address, "eth0") != 0 || set_up(sock, "eth0") != 0) goto out;
    struct nl_addr *gw = NULL;
    char gateway[64];
    snprintf(gateway, sizeof(gateway), "%s", cfg.net_gateway);
    char *slash = strchr(gateway, '/');
    if (slash) *slash = 0;
    if ((err = nl_addr_parse(gateway, AF_INET, &gw)) < 0) { fail("parse the gateway", "eth0", err); goto out; }
    struct nl_addr *any = NULL;
    nl_addr_parse("0.0.0.0/0", AF_INET, &any);
    struct rtnl_route *route = rtnl_route_alloc();
    struct rtnl_nexthop *hop = rtnl_route_nh_alloc();
    rtnl_route_nh_set_ifindex(hop, index);
    rtnl_route_nh_set_gateway(hop, gw);
    rtnl_route_add_nexthop(route, hop);
    rtnl_route_set_dst(route, any);
    rtnl_route_set_family(route, AF_INET);
    err = rtnl_route_add(sock, route, NLM_F_CREATE);
    rtnl_route_put(route);
    nl_addr_put(gw);
    nl_addr_put(any);
    if (err < 0) { fail("add the default route", "eth0", err); goto out; }
    if (shape(sock, index, cfg.egress_bps, "eth0") != 0) goto out;
    rc = 0;
out:
    nl_socket_free(sock);
    return rc;
}

int network_setup(int netns_fd) {
    struct nl_sock *sock = nl_socket_alloc();
    if (!sock) return fail("allocate a netlink socket", cfg.veth, -NLE_NOMEM);
    int err = nl_connect(sock, NETLINK_ROUTE);
    if (err < 0) { nl_socket_free(sock); return fail("connect to rtnetlink", cfg.veth, err); }
    int rc = -1;
    // The pair: the host end here, its peer made straight inside the run's namespace.
    struct rtnl_link *link = rtnl_link_veth_alloc();
    struct rtnl_link *peer = rtnl_link_veth_get_peer(link);
    rtnl_link_set_name(link, cfg.veth);
    rtnl_link_set_name(peer, "eth0");
    rtnl_link_set_ns_fd(peer, netns_fd);
    rtnl_link_set_flags(link, IFF_UP);   // the host end made up: no change request afterwards
    err = rtnl_link_add(sock, link, NLM_F_CREATE | NLM_F_EXCL);
    rtnl_link_put(peer);
    rtnl_link_veth_release(link);
    if (err < 0) { fail("make the veth pair", cfg.veth, err); goto out; }
    int index = index_of(sock, cfg.veth);
    if (!index) { fail("find it", cfg.veth, -NLE_OBJ_NOTFOUND); goto out; }
    if (add_address(sock, index, cfg.net_gateway, cfg.veth) != 0 || shape(sock, index, cfg.ingress_bps, cfg.veth) != 0)
        goto out;
    // The inside, from inside: the shim is single-threaded, so it steps into the run's
    // namespace and back.
    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0 || setns(netns_fd, CLONE_NEWNET) != 0) {
        snprintf(failure, sizeof(failure), "network: enter the run's namespace for eth0: %s", strerror(errno));
    } else {
        int inside = configure_inside();
        if (setns(home, CLONE_NEWNET) != 0) {
            // Nothing more can be done from the wrong namespace: the run is failed.
            snprintf(failure, sizeof(failure), "network: return to the host's namespace: %s", strerror(errno));
            inside = -1;
        }
        if (inside == 0) rc = 0;
    }
    if (home >= 0) close(home);
out:
    if (rc != 0) network_remove();
    nl_socket_free(sock);
    return rc;
}

void network_remove(void) {
    struct nl_sock *sock = nl_socket_alloc();
    if (!sock) return;
    if (nl_connect(sock, NETLINK_ROUTE) == 0) {
        struct rtnl_link *link = rtnl_link_alloc();
        rtnl_link_set_name(link, cfg.veth);
        (void)rtnl_link_delete(sock, link);   // gone already (with the run's namespace) is fine
        rtnl_link_put(link);
    }
    nl_socket_free(sock);
}

// Appends "PREFIX_bytes N\nPREFIX_packets N\nPREFIX_drops N\nPREFIX_overlimits N\n" of the
// tbf on `name` in the current namespace. Returns the bytes written, or -1.
static int qdisc_counters(const char *name, const char *prefix, char *out, size_t size) {
    struct nl_sock *sock = nl_socket_alloc();
    if (!sock) return -1;
    int written = -1;
    struct nl_cache *cache = NULL;
    if (nl_connect(sock, NETLINK_ROUTE) == 0 && rtnl_qdisc_alloc_cache(sock, &cache) == 0) {
        int index = index_of(sock, name);
        struct rtnl_qdisc *q = index ? rtnl_qdisc_get(cache, index, TC_HANDLE(1, 0)) : NULL;
        if (q) {
            written = snprintf(out, size, "%s_bytes %llu\n%s_packets %llu\n%s_drops %llu\n%s_overlimits %llu\n",
                               prefix, (unsigned long long)rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_BYTES),
                               prefix, (unsigned long long)rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_PACKETS),
                               prefix, (unsigned long long)rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_DROPS),
                               prefix, (unsigned long long)rtnl_tc_get_stat(TC_CAST(q), RTNL_TC_OVERLIMITS));
            if (written < 0 || (size_t)written >= size) written = -1;
            rtnl_qdisc_put(q);
        }
        nl_cache_free(cache);
    }
    nl_socket_free(sock);
    return written;
}

int network_counters(char *out, size_t size, int netns_fd) {
    // The shaping's own counts: the host end's tbf (what reached the job) and eth0's, read
    // from inside the run's namespace (what the job sent); then the host end's interface
    // counts, which they are reconciled with (what it received is what the job sent).
    size_t used = 0;
    int n = qdisc_counters(cfg.veth, "tc_ingress", out, size);
    if (n < 0) return -1;
    used += (size_t)n;
    int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0 || setns(netns_fd, CLONE_NEWNET) != 0) { if (home >= 0) close(home); return -1; }
    n = qdisc_counters("eth0", "tc_egress", out + used, size - used);
    int back = setns(home, CLONE_NEWNET);
    close(home);
    if (n < 0 || back != 0) return -1;
    used += (size_t)n;
    static const char *const names[] = {"rx_bytes", "rx_packets", "tx_bytes", "tx_packets", "rx_dropped", "tx_dropped"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[128], value[32] = "";
        snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", cfg.veth, names[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return -1;
        ssize_t n = read(fd, value, sizeof(value) - 1);
        close(fd);
        if (n <= 0) return -1;
        value[n] = 0;
        int w = snprintf(out + used, size - used, "%s %s", names[i], value);
        if (w < 0 || (size_t)w >= size - used) return -1;
        used += (size_t)w;
    }
    return 0;
}
