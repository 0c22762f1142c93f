#define _GNU_SOURCE
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox.h"

struct config cfg = { .timeout_ms = -1, .grace_ms = 10000, .stuck_ms = 5000, .relay = 1,
                      .log_max = -1, .log_keep = -1 };

#define STRING_OF(x) #x
#define STRING(x) STRING_OF(x)

// The record being read, for messages.
static const char *current_key = "";

static void refuse(const char *what, const char *value) __attribute__((noreturn));
static void refuse(const char *what, const char *value) {
    if (value) fprintf(stderr, "berth-shim: config %s: %s, got '%.200s'\n", current_key, what, value);
    else fprintf(stderr, "berth-shim: config: %s\n", what);
    exit(125);
}

// A decimal number in [min, max], all of `v` and nothing else.
static long long number(const char *v, long long min, long long max) {
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno != 0 || end == v || *end != 0 || v[0] < '0' || v[0] > '9' || n < min || n > max) {
        char rule[96];
        snprintf(rule, sizeof(rule), "want a decimal number from %lld to %lld", min, max);
        refuse(rule, v);
    }
    return n;
}

static void append(struct list *l, const char *v) {
    const char **grown = realloc(l->items, sizeof(*grown) * (size_t)(l->count + 2));
    if (!grown) refuse("out of memory", NULL);
    l->items = grown;
    l->items[l->count++] = v;
    l->items[l->count] = NULL;
}

// `prefix` then 16 hex digits (lowercase only for a tenant id, as the Swift side makes them).
static int is_id(const char *s, size_t n, char prefix, int lowercase_only) {
    if (n != 17 || s[0] != prefix) return 0;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        int ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (!lowercase_only && c >= 'A' && c <= 'F');
        if (!ok) return 0;
    }
    return 1;
}

// TENANT/JOB/RUN: exactly three ids, each of its own shape.
static void parse_ids(const char *v) {
    const char *a = strchr(v, '/'), *b = a ? strchr(a + 1, '/') : NULL;
    if (!a || !b || strchr(b + 1, '/')
        || !is_id(v, (size_t)(a - v), 't', 1) || !is_id(a + 1, (size_t)(b - a - 1), 'j', 0) || !is_id(b + 1, strlen(b + 1), 'r', 0))
        refuse("want TENANT/JOB/RUN, each t, j or r and 16 hex digits", v);
    memcpy(cfg.tenant, v, 17);
    memcpy(cfg.job, a + 1, 17);
    memcpy(cfg.run, b + 1, 17);
}

// A path without "." or ".." components: the shim makes it (mkcwd) as the tenant.
static int plain_path(const char *p) {
    if (p[0] != '/') return 0;
    for (const char *c = p; *c; c++) {
        if (c[0] != '/') continue;
        if (c[1] == '.' && (c[2] == '/' || c[2] == 0)) return 0;
        if (c[1] == '.' && c[2] == '.' && (c[3] == '/' || c[3] == 0)) return 0;
    }
    return 1;
}

// The keys that may be given once, each with the record's value once seen.
static const char *const single_keys[] = {
    "status", "cgroup", "ids", "exec", "oom-control", "cwd", "mkcwd", "timeout-ms", "grace-ms", "stuck-ms",
    "stdio", "log-dir", "log-base", "log-max-bytes", "log-keep", "fork", "network", "netns",
    "veth", "address", "gateway", "egress-bps", "ingress-bps", "lease",
    "uid", "gid", "nofile", "seccomp", "newroot", "tmpfs-size", "hostname",
};
#define NSINGLE (sizeof(single_keys) / sizeof(single_keys[0]))
static int seen[NSINGLE];
static int network_given;

static void once(const char *key) {
    for (size_t i = 0; i < NSINGLE; i++) {
        if (strcmp(key, single_keys[i]) != 0) continue;
        if (seen[i]++) refuse("given twice", key);
        return;
    }
}

static void flag(int *into, const char *v) {
    if (strcmp(v, "1") != 0) refuse("want 1", v);
    *into = 1;
}

static void record(const char *key, const char *v) {
    current_key = key;
    once(key);
    if (strcmp(key, "status") == 0) cfg.status = v;
    else if (strcmp(key, "cgroup") == 0) cfg.cgroup = v;
    else if (strcmp(key, "ids") == 0) parse_ids(v);
    else if (strcmp(key, "exec") == 0) cfg.exec = v;
    else if (strcmp(key, "arg") == 0) append(&cfg.argv, v);
    else if (strcmp(key, "oom-control") == 0) cfg.oom_control = v;
    else if (strcmp(key, "cwd") == 0) cfg.cwd = v;
    else if (strcmp(key, "mkcwd") == 0) flag(&cfg.mkcwd, v);
    else if (strcmp(key, "timeout-ms") == 0) cfg.timeout_ms = number(v, 0, 1000LL * 1000 * 1000 * 1000);
    else if (strcmp(key, "grace-ms") == 0) cfg.grace_ms = number(v, 0, 1000LL * 1000 * 1000 * 1000);
    else if (strcmp(key, "stuck-ms") == 0) cfg.stuck_ms = number(v, 0, 1000LL * 1000 * 1000);
    else if (strcmp(key, "fork") == 0) flag(&cfg.fork_only, v);
    else if (strcmp(key, "log-dir") == 0) cfg.log_dir = v;
    else if (strcmp(key, "log-base") == 0) cfg.log_base = v;
    else if (strcmp(key, "log-max-bytes") == 0) cfg.log_max = number(v, 4096, 1LL << 50);
    else if (strcmp(key, "log-keep") == 0) cfg.log_keep = (int)number(v, 1, 100);
    else if (strcmp(key, "join") == 0) append(&cfg.joins, v);
    else if (strcmp(key, "rmdir") == 0) append(&cfg.rmdirs, v);
    else if (strcmp(key, "stat") == 0) {
        const char *eq = strchr(v, '=');
        if (!eq || eq == v) refuse("want NAME=FILE", v);
        append(&cfg.stat_names, strndup(v, (size_t)(eq - v)));
        append(&cfg.stat_paths, eq + 1);
    } else if (strcmp(key, "stdio") == 0) {
        if (strcmp(v, "relay") == 0) cfg.relay = 1;
        else if (strcmp(v, "inherit") == 0) cfg.relay = 0;
        else refuse("want relay or inherit", v);
    } else if (strcmp(key, "network") == 0) {
        network_given = 1;
        if (strcmp(v, "none") == 0) cfg.host_network = 0;
        else if (strcmp(v, "host") == 0) cfg.host_network = 1;
        else if (strcmp(v, "shaped") == 0) cfg.shaped = 1;
        else refuse("want none, shaped or host", v);
    } else if (strcmp(key, "veth") == 0) {
        size_t n = strlen(v);
        int ok = n >= 1 && n < IFNAMSIZ;
        for (size_t i = 0; ok && i < n; i++) ok = (v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') || v[i] == '-';
        if (!ok) refuse("want 1 to 15 of a-z, 0-9 and '-'", v);
        cfg.veth = v;
    } else if (strcmp(key, "address") == 0 || strcmp(key, "gateway") == 0) {
        struct in_addr a;
        char ip[32];
        const char *slash = strchr(v, '/');
        size_t n = slash ? (size_t)(slash - v) : 0;
        if (!slash || n >= sizeof(ip)) refuse("want an IPv4 address with its prefix, such as 10.213.0.2/30", v);
        memcpy(ip, v, n);
        ip[n] = 0;
        if (inet_pton(AF_INET, ip, &a) != 1) refuse("want an IPv4 address with its prefix, such as 10.213.0.2/30", v);
        (void)number(slash + 1, 8, 30);
        if (key[0] == 'a') cfg.net_address = v; else cfg.net_gateway = v;
    } else if (strcmp(key, "lease") == 0) {
        if (v[0] != '/') refuse("want an absolute path", v);
        cfg.lease = v;
    } else if (strcmp(key, "egress-bps") == 0) {
        cfg.egress_bps = number(v, 8000, 1000LL * 1000 * 1000 * 1000);
    } else if (strcmp(key, "ingress-bps") == 0) {
        cfg.ingress_bps = number(v, 8000, 1000LL * 1000 * 1000 * 1000);
    }
    else if (strcmp(key, "netns") == 0) sb.netns_fd = (int)number(v, BERTH_SHIM_NETNS_FD, BERTH_SHIM_NETNS_FD);
    // Never root, never -1 (which the kernel reads as "unchanged").
    else if (strcmp(key, "uid") == 0) sb.uid = number(v, 1, 4294967294LL);
    else if (strcmp(key, "gid") == 0) sb.gid = number(v, 1, 4294967294LL);
    else if (strcmp(key, "nofile") == 0) sb.nofile = (unsigned long)number(v, 1, 1 << 20);
    else if (strcmp(key, "tmpfs-size") == 0) sb.tmpfs_size = number(v, 4096, 1LL << 50);
    else if (strcmp(key, "cap") == 0) sb.ambient |= 1ULL << number(v, 0, 63);
    else if (strcmp(key, "hostname") == 0) sb.hostname = v;
    else if (strcmp(key, "newroot") == 0) { sb.newroot = v; sb.enabled = 1; }
    else if (strcmp(key, "seccomp") == 0) {
        const char *why = "";
        if (sandbox_load_filter(v, &why) != 0) {
            fprintf(stderr, "berth-shim: the seccomp program %s cannot be loaded as it is: %s\n", v, why);
            exit(125);
        }
    } else if (strcmp(key, "tmpfs") == 0) {
        struct list l = { sb.tmpfs, sb.ntmpfs };
        append(&l, v);
        sb.tmpfs = l.items; sb.ntmpfs = l.count;
    } else if (strcmp(key, "mask") == 0) {
        struct list l = { sb.masks, sb.nmasks };
        append(&l, v);
        sb.masks = l.items; sb.nmasks = l.count;
    } else if (strcmp(key, "bind") == 0) {
        const char *eq = strchr(v, '=');
        if (!eq || eq == v || eq[1] != '/') refuse("want SRC=/DST", v);
        struct list src = { sb.bind_src, sb.nbinds }, dst = { sb.bind_dst, sb.nbinds };
        append(&src, strndup(v, (size_t)(eq - v)));
        append(&dst, eq + 1);
        sb.bind_src = src.items; sb.bind_dst = dst.items; sb.nbinds = src.count;
    } else refuse("unknown key", key);
}

// Whole-document rules, once every record is read.
static void check_document(void) {
    current_key = "";
    if (!cfg.status || !cfg.cgroup || !cfg.run[0] || !cfg.exec || cfg.argv.count == 0)
        refuse("need status, cgroup, ids, exec and at least one arg (argv[0])", NULL);
    if (!cfg.log_dir && (cfg.log_max >= 0 || cfg.log_keep >= 0)) refuse("log-max-bytes and log-keep need log-dir", NULL);
    if (cfg.log_dir && !cfg.relay) refuse("log-dir: the job's output goes to files only with stdio relay", NULL);
    if (!cfg.log_dir != !cfg.log_base) refuse("log-dir and log-base go together", NULL);
    if (network_given && !sb.enabled) refuse("network: only a sandboxed run (newroot) has a network of its own; without one it is the host's", NULL);
    sb.own_network = sb.enabled && !cfg.host_network;
    int shaping_keys = !!cfg.veth + !!cfg.net_address + !!cfg.net_gateway + !!cfg.egress_bps + !!cfg.ingress_bps + !!cfg.lease;
    if (cfg.shaped && shaping_keys != 6) refuse("network shaped needs veth, address, gateway, lease, egress-bps and ingress-bps", NULL);
    if (!cfg.shaped && shaping_keys) refuse("veth, address, gateway, lease, egress-bps and ingress-bps are for network shaped only", NULL);
    if (sb.netns_fd >= 0) {
        if (!sb.own_network) refuse("netns: only for a sandboxed run (newroot) of network none or shaped", NULL);
        // Held open past close_inherited_fds; never the job's (it closes at exec, and the
        // run's init closes it once joined).
        if (fcntl(sb.netns_fd, F_SETFD, FD_CLOEXEC) != 0) refuse("netns: fd 4 is not open", NULL);
    }
    if (cfg.log_max < 0) cfg.log_max = 10LL << 20;
    if (cfg.log_keep < 0) cfg.log_keep = 3;
    if (cfg.mkcwd) {
        int inside = 0;
        for (int t = 0; cfg.cwd && t < sb.ntmpfs; t++) {
            size_t n = strlen(sb.tmpfs[t]);
            if (strncmp(cfg.cwd, sb.tmpfs[t], n) == 0 && (cfg.cwd[n] == 0 || cfg.cwd[n] == '/')) inside = 1;
        }
        if (!sb.enabled || !inside || !plain_path(cfg.cwd))
            refuse("mkcwd: cwd must be a plain path inside a tmpfs of the sandbox (newroot)", NULL);
    }
}

void config_read(int fd) {
    char *doc = malloc(BERTH_SHIM_CONFIG_MAX + 1);
    if (!doc) refuse("out of memory", NULL);
    size_t size = 0;
    for (;;) {
        ssize_t n = read(fd, doc + size, BERTH_SHIM_CONFIG_MAX + 1 - size);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) refuse("cannot read the document on fd 3 (the launcher passes it there)", NULL);
        if (n == 0) break;
        size += (size_t)n;
        if (size > BERTH_SHIM_CONFIG_MAX) refuse("the document is larger than 4 MiB", NULL);
    }
    close(fd);
    if (size == 0 || doc[size - 1] != 0) refuse("empty, or its last record is not ended by a NUL byte", NULL);
    int first = 1;
    for (size_t at = 0; at < size;) {
        char *rec = doc + at;
        at += strlen(rec) + 1;
        char *eq = strchr(rec, '=');
        if (!eq || eq == rec) { current_key = ""; refuse("a record is not KEY=VALUE", rec); }
        *eq = 0;
        const char *value = eq + 1;
        if (first) {
            current_key = rec;
            if (strcmp(rec, "berth-shim-config") != 0) refuse("the first record must be berth-shim-config=VERSION", rec);
            if (strcmp(value, STRING(BERTH_SHIM_CONFIG_VERSION)) != 0)
                refuse("this shim reads version " STRING(BERTH_SHIM_CONFIG_VERSION) " only", value);
            first = 0;
            continue;
        }
        record(rec, value);
    }
    if (first) refuse("the first record must be berth-shim-config=VERSION", NULL);
    check_document();
}
