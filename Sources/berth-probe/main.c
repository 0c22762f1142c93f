// berth-probe: run as a job, it tries what a hostile job would and reports what happened,
// verifying the sandbox from inside rather than by reading the configuration back.
//
//   berth-probe syscalls                 one line per attempt: "syscall NAME RESULT"
//   berth-probe inside [--suid PATH] [--hidden PATH]... [--private-tmp NAME]
//                                        one line per property: "PASS|FAIL NAME: detail"
//   berth-probe whoami                   prints "euid N"
//   berth-probe devices PATH...          as root outside any sandbox: "device PATH ok|ERRNO" per open
//   berth-probe immutable on|off PATH    sets or clears a file's immutable attribute (run by the
//                                        checks as root, outside any sandbox; busybox has no chattr)
//   berth-probe bind PORT                "bind ok|ERRNO": a TCP socket bound to that port (below 1024
//                                        needs CAP_NET_BIND_SERVICE)
//   berth-probe net [--tcp IP:PORT]... [--gateway PORT]... [--abstract NAME]... [--serve PORT NAME SECONDS]
//                                        "interfaces NAME..." (up ones), "netns net:[INODE]",
//                                        "fds N..." (its open fds), "loopback ok|ERRNO" (a
//                                        connection to itself on 127.0.0.1), then "tcp IP:PORT
//                                        RESULT" and "abstract NAME RESULT" per attempt; --serve
//                                        listens on 0.0.0.0:PORT and @NAME, prints "serving", then
//                                        accepts for SECONDS and prints "accepted N"
//   berth-probe net --sink PORT SECONDS | --source PORT SECONDS | --send IP:PORT SECONDS | --recv IP:PORT SECONDS
//                                        traffic for the shaping checks: "sink BYTES MILLIS" (first
//                                        byte to last), "received BYTES MILLIS", "sent BYTES"
//
// RESULT is "ok", an errno name (EPERM, ENOSYS…), or "killed:SIGNAL". Each attempt runs in a
// child of its own, so a syscall that gets through cannot change the probe.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/fs.h>
#include <linux/sched.h>

#include "no_swift_runtime.h"

static const char *errno_name(int e) {
    switch (e) {
    case EPERM: return "EPERM"; case ENOENT: return "ENOENT"; case ESRCH: return "ESRCH";
    case EBADF: return "EBADF"; case EACCES: return "EACCES"; case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY"; case EEXIST: return "EEXIST"; case EINVAL: return "EINVAL";
    case ENOSYS: return "ENOSYS"; case EROFS: return "EROFS"; case EOPNOTSUPP: return "EOPNOTSUPP";
    case ENOTDIR: return "ENOTDIR"; case ENOMEM: return "ENOMEM"; case E2BIG: return "E2BIG";
    case ENOKEY: return "ENOKEY"; case EDQUOT: return "EDQUOT"; case ENXIO: return "ENXIO";
    case EAFNOSUPPORT: return "EAFNOSUPPORT"; case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case ENOTTY: return "ENOTTY"; case ENOSPC: return "ENOSPC"; case EMFILE: return "EMFILE";
    case ECONNREFUSED: return "ECONNREFUSED"; case ENETUNREACH: return "ENETUNREACH";
    case EHOSTUNREACH: return "EHOSTUNREACH"; case ETIMEDOUT: return "ETIMEDOUT"; case EADDRINUSE: return "EADDRINUSE";
    default: { static char buf[32]; snprintf(buf, sizeof(buf), "errno%d", e); return buf; }
    }
}

typedef long (*attempt_fn)(void);

// Runs `fn` in a child; the child exits with the errno (0 for success).
static void attempt(const char *name, attempt_fn fn) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        long r = fn();
        _exit(r < 0 ? (errno & 0xff) : 0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) printf("syscall %s killed:%s\n", name, sigabbrev_np(WTERMSIG(status)));
    else if (WEXITSTATUS(status) == 0) printf("syscall %s ok\n", name);
    else printf("syscall %s %s\n", name, errno_name(WEXITSTATUS(status)));
}

// A clone that gets through must not run on: its child leaves at once.
static long cloned(long r) { if (r == 0) _exit(0); if (r > 0) waitpid((pid_t)r, NULL, __WALL); return r; }

static long t_mount(void) { return syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL); }
static long t_umount2(void) { return syscall(SYS_umount2, "/tmp", 0); }
static long t_pivot_root(void) { return syscall(SYS_pivot_root, ".", "."); }
static long t_chroot(void) { return syscall(SYS_chroot, "/"); }
static long t_unshare(void) { return syscall(SYS_unshare, CLONE_NEWUSER); }
static long t_setns(void) { return syscall(SYS_setns, 0, 0); }
static long t_clone_newns(void) { return cloned(syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0)); }
static long t_clone_newuser(void) { return cloned(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)); }
static long t_clone_newnet(void) { return cloned(syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0)); }
static long t_clone_plain(void) { return cloned(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0)); }
static long t_clone3(void) {
    struct clone_args args;
    memset(&args, 0, sizeof(args));
    args.exit_signal = SIGCHLD;
    return cloned(syscall(SYS_clone3, &args, sizeof(args)));
}
static long t_keyctl(void) { return syscall(SYS_keyctl, 0, -3, 0); }
static long t_add_key(void) { return syscall(SYS_add_key, "user", "berth", "x", 1, -3); }
static long t_request_key(void) { return syscall(SYS_request_key, "user", "berth", NULL, 0); }
static long t_bpf(void) { return syscall(SYS_bpf, 0, NULL, 0); }
static long t_perf_event_open(void) { return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0); }
static long t_userfaultfd(void) { return syscall(SYS_userfaultfd, 0); }
static long t_io_uring_setup(void) { return syscall(SYS_io_uring_setup, 1, NULL); }
static long t_io_uring_enter(void) { return syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0); }
static long t_io_uring_register(void) { return syscall(SYS_io_uring_register, -1, 0, NULL, 0); }
static long t_kexec_load(void) { return syscall(SYS_kexec_load, 0, 0, NULL, 0); }
static long t_kexec_file_load(void) { return syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0); }
static long t_init_module(void) { return syscall(SYS_init_module, NULL, 0, ""); }
static long t_finit_module(void) { return syscall(SYS_finit_module, -1, "", 0); }
static long t_delete_module(void) { return syscall(SYS_delete_module, "berth", 0); }
static long t_open_by_handle_at(void) { return syscall(SYS_open_by_handle_at, -1, NULL, 0); }
static long t_name_to_handle_at(void) { return syscall(SYS_name_to_handle_at, -1, "", NULL, NULL, 0); }
static long t_ptrace(void) { return syscall(SYS_ptrace, PTRACE_ATTACH, 1, 0, 0); }
static long t_process_vm_readv(void) { return syscall(SYS_process_vm_readv, 1, NULL, 0, NULL, 0, 0); }
static long t_process_vm_writev(void) { return syscall(SYS_process_vm_writev, 1, NULL, 0, NULL, 0, 0); }
static long t_reboot(void) { return syscall(SYS_reboot, 0, 0, 0, NULL); }
static long t_swapon(void) { return syscall(SYS_swapon, NULL, 0); }
static long t_swapoff(void) { return syscall(SYS_swapoff, NULL); }
static long t_syslog(void) { return syscall(SYS_syslog, 10, NULL, 0); }
static long t_acct(void) { return syscall(SYS_acct, NULL); }
static long t_settimeofday(void) { return syscall(SYS_settimeofday, NULL, NULL); }
static long t_clock_settime(void) { return syscall(SYS_clock_settime, 0, NULL); }
static long t_adjtimex(void) { return syscall(SYS_adjtimex, NULL); }
static long t_quotactl(void) { return syscall(SYS_quotactl, 0, NULL, 0, NULL); }
static long t_fanotify_init(void) { return syscall(SYS_fanotify_init, 0, 0); }
static long t_getpid(void) { return syscall(SYS_getpid); }

// Socket families: only unix, inet, inet6 and netlink (routing only) are for jobs.
static long sock(long family, long type, long protocol) {
    long fd = syscall(SYS_socket, family, type, protocol);
    if (fd >= 0) close((int)fd);
    return fd;
}
static long t_socket_unix(void) { return sock(AF_UNIX, SOCK_STREAM, 0); }
static long t_socket_inet(void) { return sock(AF_INET, SOCK_DGRAM, 0); }
static long t_socket_inet6(void) { return sock(AF_INET6, SOCK_DGRAM, 0); }
static long t_socket_netlink_route(void) { return sock(AF_NETLINK, SOCK_RAW, 0); }
static long t_socket_netlink_audit(void) { return sock(AF_NETLINK, SOCK_RAW, 9); }
static long t_socket_vsock(void) { return sock(40, SOCK_STREAM, 0); }
static long t_socket_vsock_high(void) { return sock(0x100000000L | 40, SOCK_STREAM, 0); }
static long t_socket_packet(void) { return sock(17, SOCK_RAW, 0); }
static long t_socketpair_inet(void) { int sv[2]; return syscall(SYS_socketpair, AF_INET, SOCK_STREAM, 0, sv); }

// Terminal ioctls, on the run's own pseudo-terminal.
static long on_pty(unsigned long request, long high, void *arg) {
    int fd = open("/dev/ptmx", O_RDWR | O_NOCTTY);
    if (fd < 0) return -1;
    long r = syscall(SYS_ioctl, fd, (long)request | high, arg);
    int saved = errno;
    close(fd);
    errno = saved;
    return r;
}
static long t_ioctl_tiocsti(void) { char c = 'x'; return on_pty(TIOCSTI, 0, &c); }
static long t_ioctl_tiocsti_high(void) { char c = 'x'; return on_pty(TIOCSTI, 1L << 32, &c); }
static long t_ioctl_tiocsetd(void) { int ldisc = 0; return on_pty(TIOCSETD, 0, &ldisc); }
static long t_ioctl_tiocgwinsz(void) { struct winsize w; return on_pty(TIOCGWINSZ, 0, &w); }

// Syscalls the profile does not know answer ENOSYS, so libc falls back; fchmodat2 is allowed.
static long t_fchmodat2(void) { return syscall(452, -1, "x", 0644, 0); }
static long t_cachestat(void) { return syscall(451, -1, NULL, NULL, 0); }
static long t_statmount(void) { return syscall(457, NULL, NULL, 0, 0); }
static long t_unknown_999(void) { return syscall(999); }

// The i386 ABI through int 0x80 (getpid is 20, mount 21 there).
static long t_i386_getpid(void) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
    if (r < 0) { errno = (int)-r; return -1; }
    return r;
}
static long t_i386_mount(void) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(21L), "b"(0L), "c"(0L), "d"(0L) : "memory");
    if (r < 0) { errno = (int)-r; return -1; }
    return r;
}
// The x32 ABI: x86_64 numbers with bit 30 set (getpid is 39).
static long t_x32_getpid(void) { return syscall(39 | 0x40000000); }

static void *thread_body(void *arg) { return arg; }
static long t_thread(void) {
    pthread_t t;
    int rc = pthread_create(&t, NULL, thread_body, NULL);
    if (rc != 0) { errno = rc; return -1; }
    return pthread_join(t, NULL) == 0 ? 0 : -1;
}

static const struct { const char *name; attempt_fn fn; } attempts[] = {
    {"mount", t_mount}, {"umount2", t_umount2}, {"pivot_root", t_pivot_root}, {"chroot", t_chroot},
    {"unshare", t_unshare}, {"setns", t_setns}, {"clone(CLONE_NEWNS)", t_clone_newns},
    {"clone(CLONE_NEWUSER)", t_clone_newuser}, {"clone(CLONE_NEWNET)", t_clone_newnet}, {"clone", t_clone_plain},
    {"clone3", t_clone3}, {"keyctl", t_keyctl}, {"add_key", t_add_key}, {"request_key", t_request_key},
    {"bpf", t_bpf}, {"perf_event_open", t_perf_event_open}, {"userfaultfd", t_userfaultfd},
    {"io_uring_setup", t_io_uring_setup}, {"io_uring_enter", t_io_uring_enter}, {"io_uring_register", t_io_uring_register},
    {"kexec_load", t_kexec_load}, {"kexec_file_load", t_kexec_file_load}, {"init_module", t_init_module},
    {"finit_module", t_finit_module}, {"delete_module", t_delete_module}, {"open_by_handle_at", t_open_by_handle_at},
    {"name_to_handle_at", t_name_to_handle_at}, {"ptrace", t_ptrace}, {"process_vm_readv", t_process_vm_readv},
    {"process_vm_writev", t_process_vm_writev}, {"reboot", t_reboot}, {"swapon", t_swapon}, {"swapoff", t_swapoff},
    {"syslog", t_syslog}, {"acct", t_acct}, {"settimeofday", t_settimeofday}, {"clock_settime", t_clock_settime},
    {"adjtimex", t_adjtimex}, {"quotactl", t_quotactl}, {"fanotify_init", t_fanotify_init}, {"getpid", t_getpid},
    {"i386:getpid", t_i386_getpid}, {"i386:mount", t_i386_mount}, {"x32:getpid", t_x32_getpid},
    {"pthread_create", t_thread},
    {"socket(AF_UNIX)", t_socket_unix}, {"socket(AF_INET)", t_socket_inet}, {"socket(AF_INET6)", t_socket_inet6},
    {"socket(AF_NETLINK,ROUTE)", t_socket_netlink_route}, {"socket(AF_NETLINK,AUDIT)", t_socket_netlink_audit},
    {"socket(AF_VSOCK)", t_socket_vsock}, {"socket(AF_VSOCK|1<<32)", t_socket_vsock_high},
    {"socket(AF_PACKET)", t_socket_packet}, {"socketpair(AF_INET)", t_socketpair_inet},
    {"ioctl(TIOCSTI)", t_ioctl_tiocsti}, {"ioctl(TIOCSTI|1<<32)", t_ioctl_tiocsti_high},
    {"ioctl(TIOCSETD)", t_ioctl_tiocsetd}, {"ioctl(TIOCGWINSZ)", t_ioctl_tiocgwinsz},
    {"fchmodat2", t_fchmodat2}, {"cachestat", t_cachestat}, {"statmount", t_statmount}, {"syscall(999)", t_unknown_999},
};

// ---- inside: the sandbox's properties, checked from within ----

static int failures;

static void report(int ok, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(int ok, const char *name, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s %s: ", ok ? "PASS" : "FAIL", name);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    if (!ok) failures++;
}

static char *status_field(const char *key) {
    static char value[128];
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    value[0] = 0;
    while (f && fgets(line, sizeof(line), f)) {
        size_t n = strlen(key);
        if (strncmp(line, key, n) == 0 && line[n] == ':') {
            char *v = line + n + 1;
            while (*v == ' ' || *v == '\t') v++;
            v[strcspn(v, "\n")] = 0;
            snprintf(value, sizeof(value), "%s", v);
        }
    }
    if (f) fclose(f);
    return value;
}

static void check_privileges(void) {
    const char *caps[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
    for (int i = 0; i < 5; i++) {
        char *v = status_field(caps[i]);
        report(strcmp(v, "0000000000000000") == 0, caps[i], "%s", v);
    }
    char *nnp = status_field("NoNewPrivs");
    report(strcmp(nnp, "1") == 0, "NoNewPrivs", "%s", nnp);
    char *sec = status_field("Seccomp");
    report(strcmp(sec, "2") == 0, "Seccomp", "%s (2 is filter mode)", sec);
    uid_t r, e, s;
    getresuid(&r, &e, &s);
    report(r != 0 && e != 0 && s != 0, "not-root", "uids %u/%u/%u", r, e, s);
    gid_t groups[64];
    int n = getgroups(64, groups);
    report(n == 0, "no-supplementary-groups", "%d groups", n);
    // Raising a capability must fail.
    struct { uint32_t version; int pid; } header = {0x20080522, 0};
    struct { uint32_t effective, permitted, inheritable; } data[2] = {{1u << 21, 1u << 21, 0}, {0, 0, 0}};
    long rc = syscall(SYS_capset, &header, data);
    report(rc != 0, "capset-raise", "capset(CAP_SYS_ADMIN) -> %s", rc == 0 ? "ok" : errno_name(errno));
}

static void check_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    int extra = 0, self = d ? dirfd(d) : -1;
    char seen[256] = "";
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd == self) continue;
        if (fd > 2) extra++;
        strncat(seen, e->d_name, sizeof(seen) - strlen(seen) - 2);
        strcat(seen, " ");
    }
    if (d) closedir(d);
    report(extra == 0, "only-fds-0-2", "open: %s", seen);
    int escaped = 0;
    char path[64];
    for (int n = 3; n <= 64; n++) {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", n);
        if (chdir(path) == 0) { escaped = n; chdir("/"); break; }
    }
    if (escaped) report(0, "chdir-proc-self-fd", "chdir /proc/self/fd/%d succeeded", escaped);
    else report(1, "chdir-proc-self-fd", "fails for 3..64");
}

static void check_terminal(void) {
    // TIOCSTI and friends need a terminal: the job has no controlling one.
    int fd = open("/dev/tty", O_RDWR);
    report(fd < 0, "no-controlling-tty", "open /dev/tty -> %s", fd < 0 ? errno_name(errno) : "ok");
    if (fd >= 0) close(fd);
}

static void check_filesystem(void) {
    int fd = open("/etc/berth-probe-write", O_WRONLY | O_CREAT, 0644);
    report(fd < 0 && errno == EROFS, "host-read-only", "create in /etc -> %s", fd < 0 ? errno_name(errno) : "ok");
    if (fd >= 0) { close(fd); unlink("/etc/berth-probe-write"); }
    fd = open("/usr/bin/berth-probe-write", O_WRONLY | O_CREAT, 0644);
    report(fd < 0, "usr-read-only", "create in /usr/bin -> %s", fd < 0 ? errno_name(errno) : "ok");
    fd = open("/tmp/berth-probe-write", O_WRONLY | O_CREAT, 0644);
    report(fd >= 0, "tmp-writable", "create in /tmp -> %s", fd < 0 ? errno_name(errno) : "ok");
    if (fd >= 0) { close(fd); unlink("/tmp/berth-probe-write"); }
    const char *ckpt = getenv("BERTH_CHECKPOINT_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/probe-file", ckpt ? ckpt : "/nonexistent");
    fd = open(path, O_WRONLY | O_CREAT, 0600);
    report(fd >= 0, "checkpoint-writable", "create in $BERTH_CHECKPOINT_DIR -> %s", fd < 0 ? errno_name(errno) : "ok");
    if (fd >= 0) { close(fd); unlink(path); }
    // The tenant's directory shows only this job's subtree.
    int others = 0;
    if (ckpt) {
        snprintf(path, sizeof(path), "%s/..", ckpt);
        DIR *d = opendir(path);
        struct dirent *e;
        const char *own = strrchr(ckpt, '/') + 1;
        while (d && (e = readdir(d))) if (e->d_name[0] != '.' && strcmp(e->d_name, own) != 0) others++;
        if (d) closedir(d);
        snprintf(path, sizeof(path), "%s/../..", ckpt);
        d = opendir(path);
        int tenants = 0;
        while (d && (e = readdir(d))) if (e->d_name[0] != '.') tenants++;
        if (d) closedir(d);
        report(others == 0 && tenants == 1, "checkpoint-view", "%d other jobs, %d tenants visible", others, tenants);
    }
}

static void check_cgroup(void) {
    const char *files[] = {"/sys/fs/cgroup/cgroup.procs", "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/pids.max",
                           "/sys/fs/cgroup/cpu.max", "/sys/fs/cgroup/cgroup.subtree_control"};
    for (int i = 0; i < 5; i++) {
        int fd = open(files[i], O_WRONLY);
        if (fd < 0 && errno == ENOENT) continue;
        char name[96];
        snprintf(name, sizeof(name), "cgroup-write:%s", strrchr(files[i], '/') + 1);
        report(fd < 0, name, "open for write -> %s", fd < 0 ? errno_name(errno) : "ok");
        if (fd >= 0) close(fd);
    }
    // The cgroup namespace: the run's own cgroup is the root.
    FILE *f = fopen("/proc/self/cgroup", "re");
    char line[512];
    int rooted = 1;
    while (f && fgets(line, sizeof(line), f)) {
        char *path = strrchr(line, ':');
        if (path && strcmp(path, ":/\n") != 0) rooted = 0;
    }
    if (f) fclose(f);
    report(rooted, "cgroup-namespace", "/proc/self/cgroup shows / in every hierarchy");
}

static void check_processes(void) {
    DIR *d = opendir("/proc");
    int count = 0, max = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        int pid = atoi(e->d_name);
        if (pid <= 0) continue;
        count++;
        if (pid > max) max = pid;
    }
    if (d) closedir(d);
    report(count <= 4 && max < 100, "pid-namespace", "%d processes visible, highest pid %d", count, max);
    // /proc is mounted hidepid=invisible: the run's init (root) is not even listed.
    struct stat st;
    int rc0 = stat("/proc/1", &st);
    report(rc0 != 0 && errno == ENOENT && getpid() != 1, "init-hidden", "stat /proc/1 -> %s, the job is pid %d", rc0 == 0 ? "visible" : errno_name(errno), getpid());
    int rc = kill(1, SIGKILL);
    report(rc != 0 && errno == EPERM, "kill-init", "kill(1, SIGKILL) -> %s", rc == 0 ? "ok" : errno_name(errno));
    rc = (int)syscall(SYS_ptrace, PTRACE_ATTACH, 1, 0, 0);
    report(rc != 0, "ptrace-init", "ptrace(ATTACH, 1) -> %s", rc == 0 ? "ok" : errno_name(errno));
}

// The mount options of the mount at `point`, from /proc/self/mountinfo (the last one wins).
static int mount_options(const char *point, char *out, size_t size) {
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[1024];
    int found = 0;
    while (f && fgets(line, sizeof(line), f)) {
        char mnt[512], opts[256];
        if (sscanf(line, "%*s %*s %*s %*s %511s %255s", mnt, opts) == 2 && strcmp(mnt, point) == 0) {
            snprintf(out, size, "%s", opts);
            found = 1;
        }
    }
    if (f) fclose(f);
    return found;
}

static int has_option(const char *opts, const char *opt) {
    size_t n = strlen(opt);
    for (const char *p = opts; (p = strstr(p, opt)); p += n)
        if ((p == opts || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) return 1;
    return 0;
}

static void check_dev(void) {
    // Exactly the usual nodes and links, nothing of the host's /dev.
    const char *want = " fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero";
    char got[512] = "";
    DIR *d = opendir("/dev");
    struct dirent *e;
    const char *names[64];
    int n = 0;
    while (d && (e = readdir(d)) && n < 64) if (e->d_name[0] != '.') names[n++] = strdup(e->d_name);
    if (d) closedir(d);
    for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) if (strcmp(names[i], names[j]) > 0) { const char *t = names[i]; names[i] = names[j]; names[j] = t; }
    for (int i = 0; i < n; i++) { strncat(got, " ", sizeof(got) - strlen(got) - 1); strncat(got, names[i], sizeof(got) - strlen(got) - 1); }
    report(strcmp(got, want) == 0, "dev-private", "/dev holds%s", got);
    struct stat st;
    int rc = stat("/dev/kmsg", &st);
    report(rc != 0, "dev-no-kmsg", "stat /dev/kmsg -> %s", rc == 0 ? "visible" : errno_name(errno));
    // ptys come from the run's own devpts instance, at most 64 of the host's budget.
    int fds[300], opened = 0, last_errno = 0;
    for (int i = 0; i < 300; i++) {
        fds[i] = open("/dev/ptmx", O_RDWR | O_NOCTTY);
        if (fds[i] < 0) { last_errno = errno; break; }
        opened++;
    }
    for (int i = 0; i < opened; i++) close(fds[i]);
    report(opened > 0 && opened <= 64, "dev-pty-budget", "opened %d of 300 /dev/ptmx (%s)", opened, last_errno ? errno_name(last_errno) : "no error");
    char opts[256] = "";
    int found = mount_options("/", opts, sizeof(opts));
    report(found && has_option(opts, "nodev") && has_option(opts, "nosuid") && has_option(opts, "ro"), "host-nodev", "/ mounted %s", opts);
}

static void check_kernel_views(void) {
    char buf[64];
    int fd = open("/proc/kcore", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
    if (fd >= 0) close(fd);
    report(n <= 0, "proc-kcore-masked", "read /proc/kcore -> %zd bytes", n);
    fd = open("/proc/keys", O_RDONLY);
    n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
    if (fd >= 0) close(fd);
    report(n <= 0, "proc-keys-masked", "read /proc/keys -> %zd bytes", n);
    char opts[256] = "";
    int found = mount_options("/proc/sys", opts, sizeof(opts));
    report(found && has_option(opts, "ro"), "proc-sys-read-only", "/proc/sys %s", found ? opts : "not a mount");
    struct stat st;
    int absent = stat("/proc/sysrq-trigger", &st) != 0;          // kernels without CONFIG_MAGIC_SYSRQ
    found = mount_options("/proc/sysrq-trigger", opts, sizeof(opts));
    report(absent || (found && has_option(opts, "ro")), "proc-sysrq-read-only", "/proc/sysrq-trigger %s", absent ? "absent" : found ? opts : "not a mount");
    DIR *d = opendir("/sys/firmware");
    int entries = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) if (e->d_name[0] != '.') entries++;
    if (d) closedir(d);
    report(entries == 0, "sys-firmware-masked", "/sys/firmware holds %d entries", entries);
}

static void check_limits(void) {
    static const struct { int resource; const char *name; } per_uid[] = {
        {RLIMIT_NPROC, "NPROC"}, {RLIMIT_SIGPENDING, "SIGPENDING"}, {RLIMIT_MSGQUEUE, "MSGQUEUE"},
    };
    for (int i = 0; i < 3; i++) {
        struct rlimit l;
        getrlimit(per_uid[i].resource, &l);
        char name[64];
        snprintf(name, sizeof(name), "rlimit-%s-at-hard", per_uid[i].name);
        report(l.rlim_cur == l.rlim_max, name, "soft %llu, hard %llu (the run's cgroup bounds it, not the tenant's uid)",
               (unsigned long long)l.rlim_cur, (unsigned long long)l.rlim_max);
    }
    // stdin and stderr (stdout goes to a file in the checks): pipes Berth relays.
    int pipes = 0;
    for (int fd = 0; fd < 3; fd += 2) {
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) pipes++;
    }
    report(pipes == 2, "stdio-pipes", "%d of fds 0 and 2 are pipes Berth relays", pipes);
}

static void check_tmpfs_size(void) {
    // The private /tmp is bounded (operator default 64 MiB): writing 80 MiB must hit ENOSPC.
    int fd = open("/tmp/berth-probe-fill", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    static char chunk[1 << 20];
    memset(chunk, 1, sizeof(chunk));
    long long written = 0;
    int err = 0;
    while (fd >= 0 && written < (80LL << 20)) {
        ssize_t n = write(fd, chunk, sizeof(chunk));
        if (n <= 0) { err = errno; break; }
        written += n;
    }
    if (fd >= 0) { close(fd); unlink("/tmp/berth-probe-fill"); }
    report(err == ENOSPC && written < (80LL << 20), "tmp-bounded", "wrote %lld MiB to /tmp before %s", written >> 20, err ? errno_name(err) : "no error");
}

static void check_hidden(const char *path) {
    struct stat st;
    int rc = stat(path, &st);
    char name[64];
    snprintf(name, sizeof(name), "hidden:%s", path);
    report(rc != 0 && (errno == ENOENT || errno == EACCES), name, "stat -> %s", rc == 0 ? "visible" : errno_name(errno));
}

static void check_suid(const char *path) {
    int pipefd[2];
    if (pipe(pipefd) != 0) return;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 1);
        execl(path, path, "whoami", (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    char buf[64] = "";
    ssize_t n = read(pipefd[0], buf, sizeof(buf) - 1);
    close(pipefd[0]);
    waitpid(pid, NULL, 0);
    buf[n > 0 ? n : 0] = 0;
    unsigned euid = 0;
    int parsed = sscanf(buf, "euid %u", &euid) == 1;
    report(parsed && euid == geteuid() && euid != 0, "setuid-gains-nothing", "a setuid-root binary ran with euid %s", parsed ? buf : "(did not run)");
}

// ---- network ----

// Connects with a 1 s bound: returns 0 or an errno.
static int connect_within(int fd, const struct sockaddr *addr, socklen_t len) {
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    if (connect(fd, addr, len) == 0) return 0;
    if (errno != EINPROGRESS) return errno;
    struct pollfd p = { fd, POLLOUT, 0 };
    if (poll(&p, 1, 1000) != 1) return ETIMEDOUT;
    int err = 0;
    socklen_t n = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &n);
    return err;
}

static int tcp_connect(const char *ip, int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) return EINVAL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    int rc = connect_within(fd, (struct sockaddr *)&a, sizeof(a));
    close(fd);
    return rc;
}

static socklen_t abstract_address(struct sockaddr_un *a, const char *name) {
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    size_t n = strlen(name);
    if (n > sizeof(a->sun_path) - 1) n = sizeof(a->sun_path) - 1;
    memcpy(a->sun_path + 1, name, n);   // sun_path[0] = 0: the abstract namespace
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int abstract_connect(const char *name) {
    struct sockaddr_un a;
    socklen_t len = abstract_address(&a, name);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    int rc = connect_within(fd, (struct sockaddr *)&a, len);
    close(fd);
    return rc;
}

// A TCP socket listening on 0.0.0.0:port, or -1 with errno set.
static int tcp_listener(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

// Listens on 0.0.0.0:port and @name for `seconds`, counting what connects.
static void serve(int port, const char *name, int seconds) {
    int t = tcp_listener(port);
    int u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un ua;
    socklen_t ulen = abstract_address(&ua, name);
    if (t < 0 || bind(u, (struct sockaddr *)&ua, ulen) != 0 || listen(u, 16) != 0) {
        printf("serve %s\n", errno_name(errno));
        return;
    }
    printf("serving\n");
    int accepted = 0;
    long long end = (long long)time(NULL) + seconds;
    while ((long long)time(NULL) < end) {
        struct pollfd p[2] = { { t, POLLIN, 0 }, { u, POLLIN, 0 } };
        if (poll(p, 2, 200) <= 0) continue;
        for (int i = 0; i < 2; i++) {
            if (!(p[i].revents & POLLIN)) continue;
            int c = accept4(p[i].fd, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0) { accepted++; close(c); }
        }
    }
    printf("accepted %d\n", accepted);
}

static long long now_millis(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// A TCP listener on 0.0.0.0:port; its one connection's fd, or -1.
static int accept_one(int port) {
    int l = tcp_listener(port);
    if (l < 0) { printf("listen %s\n", errno_name(errno)); return -1; }
    printf("listening\n");
    // Never forever: a connection must come within 10 s and then move within each 10 s.
    struct pollfd p = { l, POLLIN, 0 };
    int c = poll(&p, 1, 10000) == 1 ? accept4(l, NULL, NULL, SOCK_CLOEXEC) : -1;
    close(l);
    if (c < 0) { printf("accept timed out\n"); return -1; }
    struct timeval t = { 10, 0 };
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &t, sizeof(t));
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &t, sizeof(t));
    return c;
}

// Traffic for the shaping checks. Sink: reads one connection to its end, then prints the bytes
// and the milliseconds from the first byte to the last. Source: writes to one connection for
// `seconds`. Send and recv: the job's side of each.
static int traffic(const char *mode, const char *where, int seconds) {
    static char buf[65536];
    if (strcmp(mode, "--sink") == 0 || strcmp(mode, "--source") == 0) {
        int c = accept_one(atoi(where));
        if (c < 0) return 1;
        long long first = -1, last = 0, bytes = 0, end = now_millis() + seconds * 1000LL;
        if (mode[2] == 's' && mode[3] == 'i') {
            for (ssize_t n; (n = read(c, buf, sizeof(buf))) > 0;) {
                if (first < 0) first = now_millis();
                last = now_millis();
                bytes += n;
            }
            printf("sink %lld %lld\n", bytes, last - (first < 0 ? last : first));
        } else {
            signal(SIGPIPE, SIG_IGN);
            while (now_millis() < end && write(c, buf, sizeof(buf)) > 0) {}
            printf("source done\n");
        }
        close(c);
        return 0;
    }
    char ip[64];
    snprintf(ip, sizeof(ip), "%s", where);
    char *colon = strrchr(ip, ':');
    if (!colon) return 1;
    *colon = 0;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)atoi(colon + 1));
    inet_pton(AF_INET, ip, &a.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) { printf("connect %s\n", errno_name(errno)); return 1; }
    long long start = now_millis(), end = start + seconds * 1000LL, bytes = 0, first = -1, last = 0;
    if (strcmp(mode, "--send") == 0) {
        while (now_millis() < end) { ssize_t n = write(fd, buf, sizeof(buf)); if (n <= 0) break; bytes += n; }
        // Every byte delivered before the job ends (the run's network goes with it): half
        // close, then wait for the server's close.
        shutdown(fd, SHUT_WR);
        while (read(fd, buf, sizeof(buf)) > 0) {}
        printf("sent %lld\n", bytes);
    } else {
        while (now_millis() < end) {
            ssize_t n = read(fd, buf, sizeof(buf));
            if (n <= 0) break;
            if (first < 0) first = now_millis();
            last = now_millis();
            bytes += n;
        }
        printf("received %lld %lld\n", bytes, last - (first < 0 ? last : first));
    }
    close(fd);
    return 0;
}

static int net_probe(int argc, char **argv) {
    if (argc == 5 && (strcmp(argv[2], "--sink") == 0 || strcmp(argv[2], "--source") == 0
                      || strcmp(argv[2], "--send") == 0 || strcmp(argv[2], "--recv") == 0))
        return traffic(argv[2], argv[3], atoi(argv[4]));
    struct if_nameindex *names = if_nameindex();
    printf("interfaces");
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    for (struct if_nameindex *n = names; n && n->if_index; n++) {
        struct ifreq ifr;
        memset(&ifr, 0, sizeof(ifr));
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", n->if_name);
        if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP)) printf(" %s", n->if_name);
    }
    printf("\n");
    if (s >= 0) close(s);
    if (names) if_freenameindex(names);
    // Which namespace, and which fds the job holds (a launcher's namespace fd must not leak).
    char ns[64] = "";
    ssize_t nsn = readlink("/proc/self/ns/net", ns, sizeof(ns) - 1);
    printf("netns %s\n", nsn > 0 ? ns : "?");
    DIR *fds = opendir("/proc/self/fd");
    printf("fds");
    for (struct dirent *e; fds && (e = readdir(fds));)
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(fds)) printf(" %s", e->d_name);
    printf("\n");
    if (fds) closedir(fds);
    // Loopback of its own works: a listener on an ephemeral port, then a connection to it.
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof(a);
    int rc = bind(l, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(l, 1) == 0 && getsockname(l, (struct sockaddr *)&a, &alen) == 0
             ? tcp_connect("127.0.0.1", ntohs(a.sin_port)) : errno;
    printf("loopback %s\n", rc == 0 ? "ok" : errno_name(rc));
    close(l);
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--tcp") == 0 && i + 1 < argc) {
            char ip[64];
            snprintf(ip, sizeof(ip), "%s", argv[++i]);
            char *colon = strrchr(ip, ':');
            if (!colon) continue;
            *colon = 0;
            int err = tcp_connect(ip, atoi(colon + 1));
            printf("tcp %s:%s %s\n", ip, colon + 1, err == 0 ? "ok" : errno_name(err));
        } else if (strcmp(argv[i], "--gateway") == 0 && i + 1 < argc) {
            // The default route's gateway, from /proc/net/route (hex, in network order).
            FILE *f = fopen("/proc/net/route", "re");
            char line[256], name[32];
            unsigned dest, gw, flags;
            char ip[32] = "";
            while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, "%31s %x %x %x", name, &dest, &gw, &flags) == 4 && dest == 0 && gw != 0) {
                    struct in_addr a = { gw };
                    inet_ntop(AF_INET, &a, ip, sizeof(ip));
                }
            if (f) fclose(f);
            int err = ip[0] ? tcp_connect(ip, atoi(argv[i + 1])) : ENETUNREACH;
            printf("gateway %s %s\n", argv[++i], err == 0 ? "ok" : errno_name(err));
        } else if (strcmp(argv[i], "--abstract") == 0 && i + 1 < argc) {
            int err = abstract_connect(argv[++i]);
            printf("abstract %s %s\n", argv[i], err == 0 ? "ok" : errno_name(err));
        } else if (strcmp(argv[i], "--serve") == 0 && i + 3 < argc) {
            serve(atoi(argv[i + 1]), argv[i + 2], atoi(argv[i + 3]));
            i += 3;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && strcmp(argv[1], "net") == 0) return net_probe(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "whoami") == 0) { printf("euid %u", geteuid()); return 0; }
    if (argc == 4 && strcmp(argv[1], "immutable") == 0) {
        int fd = open(argv[3], O_RDONLY | O_NOFOLLOW);
        int flags = 0;
        if (fd < 0 || ioctl(fd, FS_IOC_GETFLAGS, &flags) != 0) { perror("immutable"); return 1; }
        flags = strcmp(argv[2], "on") == 0 ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
        if (ioctl(fd, FS_IOC_SETFLAGS, &flags) != 0) { perror("immutable"); return 1; }
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "bind") == 0) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr;
        memset(&addr, 0, sizeof(addr));
        addr.sin_family = AF_INET;
        addr.sin_port = htons((uint16_t)atoi(argv[2]));
        int rc = fd >= 0 ? bind(fd, (struct sockaddr *)&addr, sizeof(addr)) : -1;
        printf("bind %s\n", rc == 0 ? "ok" : errno_name(errno));
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "devices") == 0) {
        for (int i = 2; i < argc; i++) {
            int fd = open(argv[i], O_RDONLY | O_NOCTTY);
            printf("device %s %s\n", argv[i], fd >= 0 ? "ok" : errno_name(errno));
            if (fd >= 0) close(fd);
        }
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "syscalls") == 0) {
        for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) attempt(attempts[i].name, attempts[i].fn);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "inside") == 0) {
        check_privileges();
        check_fds();
        check_terminal();
        check_filesystem();
        check_cgroup();
        check_processes();
        check_dev();
        check_kernel_views();
        check_limits();
        check_tmpfs_size();
        for (int i = 2; i + 1 < argc; i += 2) {
            if (strcmp(argv[i], "--suid") == 0) check_suid(argv[i + 1]);
            else if (strcmp(argv[i], "--hidden") == 0) check_hidden(argv[i + 1]);
            else if (strcmp(argv[i], "--private-tmp") == 0) {
                char path[512];
                snprintf(path, sizeof(path), "/tmp/%s", argv[i + 1]);
                struct stat st;
                int rc = stat(path, &st);
                report(rc != 0, "private-tmp", "another run's /tmp/%s -> %s", argv[i + 1], rc == 0 ? "visible" : errno_name(errno));
            }
        }
        printf("%d failed\n", failures);
        return failures == 0 ? 0 : 1;
    }
    fprintf(stderr, "usage: berth-probe syscalls | inside [--suid PATH] [--hidden PATH]... [--private-tmp NAME] | whoami\n");
    return 2;
}
