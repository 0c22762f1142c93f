// berth-shim: the supervisor of one run, in the manner of conmon.
//
// The Swift side prepares everything (the cgroup, its limits, argv, the environment) and
// execs this shim in a new session. The shim is the job's parent for the run's whole life:
// it clones the job straight into its cgroup, forwards SIGINT/SIGTERM, enforces the
// timeout, tears the cgroup down along a ladder (SIGTERM, grace, cgroup.kill, final stats,
// rmdir with retry) and writes the outcome to a status file by write + rename. It keeps
// working if every Berth process dies, so the status survives them.
//
// Usage: berth-shim [RUN], with its configuration on fd 3: one versioned document of
// KEY=VALUE records (config.c reads it; berth_shim_contract.h lists the keys). argv only
// names the run, for `ps`.
//
// `ids` names the run (`t`, `j` and `r` each followed by 16 hex digits); every status the shim
// writes carries them, with the run's cgroup and the shim's own start time (field 22 of
// /proc/self/stat, in clock ticks), so that any later process can re-adopt the run from the
// status file alone and tell this shim from a process that reused its pid.
//
// Sandbox keys (see sandbox.h): uid, gid, nofile, seccomp, cap, and with `newroot` the run's
// namespaces: tmpfs, tmpfs-size, mask, bind, hostname, network. Every number is parsed
// strictly: anything else is refused.
//
// stdio relay (the default): the job's stdin, stdout and stderr are pipes the shim relays
// to and from its own, so the job never holds the caller's terminal or files. stdio inherit
// hands the shim's own fds to the job (`berth run -t`).
//
// log-dir (relay mode only): the job's stdout and stderr go to DIR/stdout.log and
// DIR/stderr.log instead of the shim's own fds, and its stdin is /dev/null. log-base, DIR or an
// ancestor of it, must be a directory of the shim's own uid that no one else may write (the
// launcher makes it); the shim makes the levels below it (each 0700) and each file when the
// job first writes: a silent run makes nothing.
// A file that would pass log-max-bytes (default 10 MiB) is rotated: stdout.log.1 is the
// newest rotated file, at most K files are kept per stream (log-keep, default 3: the live
// one and K-1 rotated), so a stream never takes more than K × N bytes. The shim keeps
// draining whatever happens to the files: bytes it cannot write are dropped, never waited on.
//
// mkcwd: the job makes its working directory (mkdir -p, as the tenant, after the mounts and
// after dropping its privileges, before chdir). Only inside a tmpfs of the sandbox: the
// run's private /tmp, which starts empty.
//
// `cgroup` is the run's cgroup v2 directory (cgroup.kill, cgroup.events, cgroup.procs live
// there); `join` names v1 cgroup.procs files the child enters before exec (hybrid hosts);
// `oom-control` is a v1 memory cgroup whose OOM kill ends the whole run (oom.group emulation).
//
// With `newroot`, the cloned child is PID 1 of the run's PID namespace (and, unless `network`
// is host, of its own network namespace, loopback only): it waits for the shim's go, builds
// the mount tree, then forks the job and stays as its init (sandbox_init), in this same
// binary, so no other exec is paid.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "berth_shim_contract.h"
#include "berth_sys.h"
#include "config.h"
#include "network.h"
#include "no_swift_runtime.h"
#include "sandbox.h"

#define STAT_CAP 8192

// The memory /proc/PID/cmdline shows: the run's init overwrites it, so a job looking at
// PID 1 sees "berth-init", not Berth's host paths.
static char *arg_area;
static size_t arg_area_len;

// A shaped run's network namespace, held by the shim until the run's network is removed.
static int run_netns = -1;

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long realtime_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die_usage(const char *what) {
    fprintf(stderr, "berth-shim: %s\n", what);
    exit(125);
}

// ---- the child: raw syscalls only, in DESIGN.md's order, then exec ----

struct child_error { int step; int err; char detail[48]; };

static void child_fail(int pipe_fd, int step) {
    struct child_error e = { step, errno, "" };
    if (step == BERTH_STEP_NAMESPACES) strncpy(e.detail, sandbox_operation, sizeof(e.detail) - 1);
    (void)!write(pipe_fd, &e, sizeof(e));
    _exit(127);
}

static int write_str(const char *path, const char *s) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, s, strlen(s));
    int saved = errno;
    close(fd);
    errno = saved;
    return n < 0 ? -1 : 0;
}


// The job's own process: steps 4 to 7, then exec.
static void job_exec(int pipe_fd) {
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) != 0) child_fail(pipe_fd, BERTH_STEP_SIGNALS);
    int step;
    // 4. setgroups, setresgid; 5. bounding set, setresuid, capset to zero
    if (sandbox_drop_privileges(&step) != 0) child_fail(pipe_fd, step);
    // 6. chdir (making the directory first with --mkcwd: in the run's own tmpfs, as the
    //    tenant, so it is the tenant's), then mark every fd above stderr close-on-exec
    if (cfg.mkcwd && sandbox_mkdirs(cfg.cwd, 0755) != 0) child_fail(pipe_fd, BERTH_STEP_WORKDIR);
    if (cfg.cwd && chdir(cfg.cwd) != 0) child_fail(pipe_fd, BERTH_STEP_WORKDIR);
    if (berth_close_range_cloexec(3) != 0) {
        // Kernels before 5.11 have no CLOSE_RANGE_CLOEXEC: mark each fd up to the limit.
        struct rlimit files;
        if (getrlimit(RLIMIT_NOFILE, &files) != 0) child_fail(pipe_fd, BERTH_STEP_WORKDIR);
        rlim_t top = files.rlim_cur == RLIM_INFINITY || files.rlim_cur > (1 << 20) ? (1 << 20) : files.rlim_cur;
        for (rlim_t fd = 3; fd < top; fd++)
            if (fcntl((int)fd, F_SETFD, FD_CLOEXEC) != 0 && errno != EBADF) child_fail(pipe_fd, BERTH_STEP_WORKDIR);
    }
    // 7. no_new_privs, seccomp, then exec
    if (sandbox_lock() != 0) child_fail(pipe_fd, BERTH_STEP_SECCOMP);
    execve(cfg.exec, (char *const *)cfg.argv.items, environ);
    child_fail(pipe_fd, BERTH_STEP_EXEC);   // its own step, so a failed exec is told from a failed setup
}

// The job's ends of the relayed stdio pipes: stdin's read end, stdout's and stderr's write ends.
static int job_stdio[3] = {-1, -1, -1};

// The run must not outlive its supervisor: nothing would enforce its timeout, kill it or
// remove its cgroup. The child (the run's init, or the job) gets SIGKILL when the shim dies.
// If the shim died before the request took, the error pipe has no reader any more (the shim
// holds its only read end): poll shows POLLERR on the write end, and the child leaves. (Its
// pid cannot tell: the shim is outside the run's PID namespace.)
static void die_with_the_shim(int pipe_fd) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) child_fail(pipe_fd, BERTH_STEP_SIGNALS);
    struct pollfd p = { pipe_fd, POLLOUT, 0 };
    if (poll(&p, 1, 0) < 0 || (p.revents & POLLERR)) _exit(137);
}

// The cloned child. Without a sandbox it becomes the job; with one it is PID 1 of the run.
static void child_setup(int pipe_fd, int status_fd, int go_fd, const char *extra_join) {
    // 1. reset signals, and join the v1 cgroups (hybrid)
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) sigaction(s, &dfl, NULL);
    die_with_the_shim(pipe_fd);
    // The shim's go: its setup from outside (the run's network) is done. EOF instead means the
    // shim failed it, and reports that itself.
    char go;
    ssize_t got;
    do { got = read(go_fd, &go, 1); } while (got < 0 && errno == EINTR);
    if (got != 1) _exit(125);
    close(go_fd);
    if (extra_join && write_str(extra_join, "0") != 0) child_fail(pipe_fd, BERTH_STEP_SIGNALS);
    for (int i = 0; i < cfg.joins.count; i++)
        if (write_str(cfg.joins.items[i], "0") != 0) child_fail(pipe_fd, BERTH_STEP_SIGNALS);
    // 2. setsid (no controlling terminal), the relayed stdio, then rlimits
    if (setsid() < 0) child_fail(pipe_fd, BERTH_STEP_SESSION);
    for (int fd = 0; fd < 3; fd++)
        if (job_stdio[fd] >= 0 && dup2(job_stdio[fd], fd) != fd) child_fail(pipe_fd, BERTH_STEP_SESSION);
    for (int fd = 0; fd < 3; fd++)
        if (job_stdio[fd] > 2) close(job_stdio[fd]);
    struct rlimit core = {0, 0};
    if (setrlimit(RLIMIT_CORE, &core) != 0) child_fail(pipe_fd, BERTH_STEP_SESSION);
    if (!sb.enabled) job_exec(pipe_fd);
    // 3. mounts, inside the namespaces clone3 created
    if (sandbox_enter() != 0) child_fail(pipe_fd, BERTH_STEP_NAMESPACES);
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    sandbox_operation = "fork the job";
    pid_t job = fork();
    if (job < 0) child_fail(pipe_fd, BERTH_STEP_NAMESPACES);
    if (job == 0) job_exec(pipe_fd);
    memset(arg_area, 0, arg_area_len);
    snprintf(arg_area, arg_area_len, "berth-init");
    prctl(PR_SET_NAME, "berth-init", 0, 0, 0);
    if (sandbox_init_lock() != 0) {
        kill(job, SIGKILL);
        sandbox_operation = "the run's init: drop its privileges";
        child_fail(pipe_fd, BERTH_STEP_NAMESPACES);
    }
    close(pipe_fd);                 // the job holds it until its exec closes it
    sandbox_init(job, status_fd);
}

// ---- the status file ----

static void json_string(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c < 0x20 || c >= 0x7f) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

struct outcome {
    enum berth_run_state state;
    enum berth_how how;
    int code, sig, err, step;
    pid_t pid;
    long long started_ns, ended_ns;
    int stuck, cgroup_removed, oom_group_kill;
    const char *message;
};

// The raw text of each stat file, as a JSON object; the Swift side parses it with the same
// parsers the sampler uses. Read once nothing runs any more, and before rmdir.
static char *stats_json;

static void collect_stats(void) {
    static char buf[STAT_CAP];
    size_t size = 0;
    FILE *f = open_memstream(&stats_json, &size);
    if (!f) return;
    fputc('{', f);
    int first = 1;
    for (int i = 0; i < cfg.stat_paths.count; i++) {
        int fd = open(cfg.stat_paths.items[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t n = read(fd, buf, sizeof(buf));
        close(fd);
        if (n < 0) continue;
        if (!first) fputc(',', f);
        first = 0;
        json_string(f, cfg.stat_names.items[i], strlen(cfg.stat_names.items[i]));
        fputc(':', f);
        json_string(f, buf, (size_t)n);
    }
    if (cfg.shaped && run_netns >= 0 && network_counters(buf, sizeof(buf), run_netns) == 0) {
        if (!first) fputc(',', f);
        json_string(f, "net", 3);
        fputc(':', f);
        json_string(f, buf, strlen(buf));
    }
    fputc('}', f);
    fclose(f);
}

// The shim's own start time, in clock ticks since boot: field 22 of /proc/self/stat. With the
// pid it names this process for good (a pid is reused, the pair is not). 0 when unreadable.
static unsigned long long shim_start;
static pid_t shim_pid;   // the shim's, also in the status a stuck run's cleanup child rewrites

static unsigned long long own_start_ticks(void) {
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ') return 0;
    p++;                                    // the space before field 3
    for (int field = 4; field <= 22; field++) {
        p = strchr(p + 1, ' ');
        if (!p) return 0;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long ticks = strtoull(p + 1, &end, 10);
    if (errno != 0 || end == p + 1 || *end != ' ') return 0;
    return ticks;
}

static int write_status(const struct outcome *o) {
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", cfg.status) >= (int)sizeof(tmp)) return -1;
    FILE *f = fopen(tmp, "we");
    if (!f) return -1;
    // Version 2: self-contained, so a process that did not start the run can re-adopt it.
    fprintf(f, "{\"version\":2,\"state\":\"%s\",\"tenant\":\"%s\",\"job\":\"%s\",\"run\":\"%s\",\"cgroup\":",
            berth_run_state_name(o->state), cfg.tenant, cfg.job, cfg.run);
    json_string(f, cfg.cgroup, strlen(cfg.cgroup));
    fprintf(f, ",\"shim_pid\":%d,\"shim_start\":%llu,\"pid\":%d,\"started_ns\":%lld",
            shim_pid, shim_start, o->pid, o->started_ns);
    if (o->state == BERTH_STATE_ENDED) {
        fprintf(f, ",\"how\":\"%s\",\"code\":%d,\"signal\":%d,\"errno\":%d,\"step\":%d,\"ended_ns\":%lld,"
                   "\"stuck\":%s,\"cgroup_removed\":%s,\"oom_group_kill\":%s",
                berth_how_name(o->how), o->code, o->sig, o->err, o->step, o->ended_ns,
                o->stuck ? "true" : "false", o->cgroup_removed ? "true" : "false",
                o->oom_group_kill ? "true" : "false");
        if (o->message) { fputs(",\"message\":", f); json_string(f, o->message, strlen(o->message)); }
        if (stats_json) fprintf(f, ",\"stats\":%s", stats_json);
    }
    fputs("}\n", f);
    if (fclose(f) != 0) return -1;
    // No fsync: the file must outlive Berth's processes, not a power loss.
    return rename(tmp, cfg.status);
}

// ---- teardown ----

static char path_buf[4096];

static const char *cg_file(const char *name) {
    snprintf(path_buf, sizeof(path_buf), "%s/%s", cfg.cgroup, name);
    return path_buf;
}

// Sends `sig` to every process in the run's cgroup.
static void signal_cgroup(int sig) {
    FILE *f = fopen(cg_file("cgroup.procs"), "re");
    if (!f) return;
    int pid;
    while (fscanf(f, "%d", &pid) == 1) kill(pid, sig);
    fclose(f);
}

static void kill_cgroup(void) {
    if (write_str(cg_file("cgroup.kill"), "1") == 0 || errno != ENOENT) return;
    // Kernels before 5.14 have no cgroup.kill: freeze, kill each pid, thaw, until empty.
    (void)write_str(cg_file("cgroup.freeze"), "1");
    for (int round = 0; round < 100; round++) {
        signal_cgroup(SIGKILL);
        FILE *f = fopen(cg_file("cgroup.procs"), "re");
        int pid, any = f && fscanf(f, "%d", &pid) == 1;
        if (f) fclose(f);
        if (!any) break;
    }
    (void)write_str(cg_file("cgroup.freeze"), "0");
}

static int cgroup_populated(void) {
    int fd = open(cg_file("cgroup.events"), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = 0;
    char *p = strstr(buf, "populated ");
    return p && p[10] == '1';
}

// Waits until the cgroup holds no process, reaping our own children meanwhile.
// Returns 0 when empty, -1 when still populated after `ms` (a "stuck" run).
static int wait_empty(long long ms) {
    long long deadline = now_ms() + ms;
    char events[4096];
    snprintf(events, sizeof(events), "%s/cgroup.events", cfg.cgroup);
    while (cgroup_populated()) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {}
        long long left = deadline - now_ms();
        if (left <= 0) return -1;
        int fd = open(events, O_RDONLY | O_CLOEXEC);
        if (fd < 0) return 0;
        struct pollfd p = { fd, POLLPRI, 0 };
        poll(&p, 1, left < 50 ? (int)left : 50);
        close(fd);
    }
    return 0;
}

static int remove_cgroups(void) {
    int ok = 1;
    for (int i = 0; i < cfg.rmdirs.count; i++) {
        // A just-emptied cgroup can answer EBUSY for a moment: retry with a growing pause,
        // 0.1 ms doubling to 50 ms, about 2 s in all.
        int removed = 0;
        long pause_ns = 100 * 1000;
        for (int attempt = 0; attempt < 50; attempt++) {
            if (rmdir(cfg.rmdirs.items[i]) == 0 || errno == ENOENT) { removed = 1; break; }
            if (errno != EBUSY) break;
            struct timespec ts = {0, pause_ns};
            nanosleep(&ts, NULL);
            if (pause_ns < 50 * 1000 * 1000) pause_ns *= 2;
        }
        if (!removed) ok = 0;
    }
    return ok;
}

// ---- stdio relay ----

// A log file the shim writes the job's output to (--log-dir): DIR/stdout.log or DIR/stderr.log,
// rotated before it would pass cfg.log_max. Only the shim holds it: the job writes to a pipe.
// DIR and the files are made when the job first writes: a silent run makes no inode at all
// (on ext4 without a journal each new inode costs a scan of those recently freed).
struct log_file { int dirfd, fd; const char *name; long long size; int tried; };
static struct log_file logs[3];   // [1] stdout, [2] stderr
static int log_base_fd = -1;      // BASE, checked before the job starts
static const char *log_below;     // DIR's levels below BASE: "tenant/job/run"
static int log_dir_fd = -1;

static int log_open(struct log_file *l, int flags) {
    l->fd = openat(l->dirfd, l->name, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | flags, 0640);
    struct stat st;
    if (l->fd < 0 || fstat(l->fd, &st) != 0 || !S_ISREG(st.st_mode) || fchmod(l->fd, 0640) != 0) {
        int saved = errno;
        if (l->fd >= 0) close(l->fd);
        l->fd = -1;
        errno = saved == 0 ? EINVAL : saved;
        return -1;
    }
    l->size = (long long)st.st_size;
    return 0;
}

// NAME.(K-2) → NAME.(K-1) (replacing the oldest), …, NAME → NAME.1, then a new empty NAME. With
// K = 1 the file is emptied. If a rename fails the new file is truncated all the same: the
// bound holds whatever happens.
static void log_rotate(struct log_file *l) {
    if (cfg.log_keep == 1) {
        if (ftruncate(l->fd, 0) == 0) { l->size = 0; return; }
        close(l->fd);
        (void)log_open(l, O_TRUNC);
        return;
    }
    char from[64], to[64];
    for (int i = cfg.log_keep - 1; i >= 2; i--) {
        snprintf(from, sizeof(from), "%s.%d", l->name, i - 1);
        snprintf(to, sizeof(to), "%s.%d", l->name, i);
        (void)renameat(l->dirfd, from, l->dirfd, to);   // ENOENT while fewer files exist
    }
    snprintf(to, sizeof(to), "%s.1", l->name);
    (void)renameat(l->dirfd, l->name, l->dirfd, to);
    close(l->fd);
    (void)log_open(l, O_TRUNC);
}

// Appends the job's bytes, rotating first when they would take the file past the limit (a chunk
// larger than the limit is split). Bytes that cannot be written (ENOSPC, EIO, no file) are
// dropped: the shim keeps draining the job's pipe whatever happens to the disk.
static int log_dir_ready(void);

static void log_append(struct log_file *l, const char *p, size_t n) {
    if (l->fd < 0 && !l->tried) {
        l->tried = 1;
        if (log_dir_ready() == 0) { l->dirfd = log_dir_fd; (void)log_open(l, 0); }
    }
    while (n > 0 && l->fd >= 0) {
        if (l->size > 0 && l->size + (long long)n > cfg.log_max) {
            log_rotate(l);
            if (l->fd < 0) return;
        }
        size_t room = (size_t)(cfg.log_max - l->size);
        ssize_t w = write(l->fd, p, n < room ? n : room);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        l->size += w;
        p += w;
        n -= (size_t)w;
    }
}

// A directory of the shim's own uid that no one else may write, opened without following a
// symlink; -1 otherwise.
static int open_own_dir(int at, const char *path) {
    int fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0) return -1;
    if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & 022) != 0) { close(fd); errno = EPERM; return -1; }
    return fd;
}

// Opens BASE (--log-base, which the launcher made) before the job starts, so a run whose output
// could not be kept does not start. DIR's levels below it, and the files, come with the job's
// first byte (`log_dir_ready`).
static int open_logs(void) {
    size_t n = strlen(cfg.log_base);
    if (n < 2 || cfg.log_base[0] != '/' || strncmp(cfg.log_dir, cfg.log_base, n) != 0 || cfg.log_dir[n] != '/' || cfg.log_dir[n + 1] == 0) {
        errno = EINVAL;
        return -1;
    }
    log_below = cfg.log_dir + n + 1;
    log_base_fd = open_own_dir(AT_FDCWD, cfg.log_base);
    if (log_base_fd < 0) return -1;
    logs[1] = (struct log_file){ -1, -1, "stdout.log", 0, 0 };
    logs[2] = (struct log_file){ -1, -1, "stderr.log", 0, 0 };
    return 0;
}

// Makes DIR's levels below BASE (each 0700), once, one level at a time from BASE's fd: a level
// that is a symlink, or not a directory of the shim's uid that only it may write, is refused.
static int log_dir_ready(void) {
    if (log_dir_fd >= 0) return 0;
    if (log_base_fd < 0) return -1;
    int fd = dup(log_base_fd);
    const char *p = log_below;
    char name[256];
    while (fd >= 0 && *p) {
        size_t len = strcspn(p, "/");
        if (len == 0 || len >= sizeof(name)) { close(fd); return -1; }
        memcpy(name, p, len);
        name[len] = 0;
        p += len + (p[len] == '/');
        int next = -1;
        if (mkdirat(fd, name, 0700) == 0 || errno == EEXIST) next = open_own_dir(fd, name);
        close(fd);
        fd = next;
    }
    if (fd < 0) return -1;
    log_dir_fd = fd;
    return 0;
}

// One direction of the relay: bytes read from `from` wait in `buf` until `to` takes them.
// At most PIPE_BUF bytes per write, and only when poll says `to` is writable, so a slow
// caller never blocks the shim's supervision. With a log file, what is read is written to the
// file at once (a regular file is always writable), through a larger buffer.
struct relay { int from, to; char buf[4096]; size_t len, off; int lost; struct log_file *log; };
static struct relay relays[3];   // stdin (shim's 0 → job), stdout, stderr (job → shim's 1, 2, or logs)
static int nrelays;

static void relay_close(struct relay *r) {
    if (r->from >= 0) close(r->from);
    r->from = -1;
    r->len = r->off = 0;
    // The job's stdin reaches EOF when there is no more input.
    if (r == &relays[0] && r->to > 2) { close(r->to); r->to = -1; }
}

static void relay_read(struct relay *r) {
    static char chunk[65536];
    char *buf = r->log ? chunk : r->buf;
    ssize_t n = read(r->from, buf, r->log ? sizeof(chunk) : sizeof(r->buf));
    if (n > 0 && r->log) log_append(r->log, chunk, (size_t)n);
    else if (n > 0) { r->len = (size_t)n; r->off = 0; }
    else if (n == 0 || (errno != EAGAIN && errno != EINTR)) relay_close(r);
}

static void relay_write(struct relay *r) {
    ssize_t n = write(r->to, r->buf + r->off, r->len - r->off);
    if (n > 0) r->off += (size_t)n;
    else if (errno != EAGAIN && errno != EINTR) r->lost = 1;   // the reader is gone: drop the rest
    if (r->lost || r->off == r->len) {
        r->len = r->off = 0;
        if (r == &relays[0] && r->lost) relay_close(r);
    }
}

// Adds each relay's fd to `fds` (reading while empty, writing while full); returns the count.
static int relay_poll_fds(struct pollfd *fds) {
    int n = 0;
    for (int i = 0; i < nrelays; i++) {
        struct relay *r = &relays[i];
        if (r->from < 0) fds[n++] = (struct pollfd){ -1, 0, 0 };
        else if (r->len == 0) fds[n++] = (struct pollfd){ r->from, POLLIN, 0 };
        else fds[n++] = (struct pollfd){ r->to, POLLOUT, 0 };
    }
    return n;
}

static void relay_serve(const struct pollfd *fds) {
    for (int i = 0; i < nrelays; i++) {
        struct relay *r = &relays[i];
        if (r->from < 0 || !fds[i].revents) continue;
        if (r->len == 0) relay_read(r);
        else if (r->lost) r->len = 0;
        else relay_write(r);
    }
}

// Once the run has ended: pass on what the job wrote last, for at most `ms`.
static void relay_drain(long long ms) {
    long long deadline = now_ms() + ms;
    if (nrelays > 0) relay_close(&relays[0]);
    for (;;) {
        int open_relays = 0;
        for (int i = 1; i < nrelays; i++) if (relays[i].from >= 0) open_relays = 1;
        long long left = deadline - now_ms();
        if (!open_relays || left <= 0) break;
        struct pollfd fds[3];
        relay_poll_fds(fds);
        if (poll(fds, (nfds_t)nrelays, (int)left) < 0 && errno != EINTR) break;
        relay_serve(fds);
    }
}

// The end of the teardown ladder: kill what is left, wait for the cgroup to empty, read the
// final stats, remove the cgroup, write the ended status. Never returns.
//
// The kernel decides when a task in uninterruptible sleep dies; Berth decides when it reports.
// A run still populated `stuck_ms` after cgroup.kill ends as `stuck` with what is known then;
// a child of the shim stays behind to remove the cgroup when it can, and rewrites the status.
static void finish(struct outcome *o, long long empty_within_ms) __attribute__((noreturn));
static void finish(struct outcome *o, long long empty_within_ms) {
    kill_cgroup();
    o->stuck = wait_empty(empty_within_ms) != 0;
    o->ended_ns = realtime_ns();
    // What the job wrote last still reaches the caller, within a bound: a second after a run
    // that ended by itself, a moment after one Berth stopped (its timeout holds).
    relay_drain(o->stuck ? 0 : o->how == BERTH_HOW_TIMEOUT || o->how == BERTH_HOW_STOPPED ? 100 : 1000);
    o->state = BERTH_STATE_ENDED;
    collect_stats();
    if (cfg.shaped) {
        network_remove();
        if (run_netns >= 0) close(run_netns);
        unlink(cfg.lease);
    }
    o->cgroup_removed = !o->stuck && remove_cgroups();
    if (write_status(o) != 0) { perror("berth-shim: status"); exit(125); }
    if (o->stuck && fork() == 0) {
        // Detached from the caller: no terminal, no signals from its process group.
        setsid();
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) { dup2(null, 0); dup2(null, 1); dup2(null, 2); }
        while (wait_empty(60 * 1000) != 0) kill_cgroup();
        o->cgroup_removed = remove_cgroups();
        (void)write_status(o);
        _exit(0);
    }
    exit(0);
}

// Registers an eventfd for the v1 memory cgroup's OOM notifications.
static int oom_eventfd(void) {
    if (!cfg.oom_control) return -1;
    char path[4096];
    snprintf(path, sizeof(path), "%s/memory.oom_control", cfg.oom_control);
    int ofd = open(path, O_RDONLY | O_CLOEXEC);
    if (ofd < 0) return -1;
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) { close(ofd); return -1; }
    char line[64];
    snprintf(line, sizeof(line), "%d %d", efd, ofd);
    snprintf(path, sizeof(path), "%s/cgroup.event_control", cfg.oom_control);
    if (write_str(path, line) != 0) { close(efd); close(ofd); return -1; }
    return efd;   // ofd stays open for the registration's lifetime
}

// The shim kills everything in its cgroup at the end, so it must be given a run's own, new,
// empty cgroup: never a hierarchy's root (which has no cgroup.events), never a shared one.
static void check_run_cgroup(void) {
    if (access(cg_file("cgroup.events"), F_OK) != 0)
        die_usage("cgroup must be a run's own cgroup, not a hierarchy's root");
    FILE *f = fopen(cg_file("cgroup.procs"), "re");
    int pid, busy = f && fscanf(f, "%d", &pid) == 1;
    if (f) fclose(f);
    if (busy) die_usage("cgroup already holds processes; a run's cgroup must be new and empty");
}

// Creates the job's stdio pipes: the job's ends go to `job_stdio`, the shim's to `relays`.
// With --log-dir the job's stdin is /dev/null and its output pipes lead to the log files.
static int make_relays(void) {
    for (int fd = 0; fd < 3; fd++) {
        if (fd == 0 && cfg.log_dir) {
            job_stdio[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (job_stdio[0] < 0) return -1;
            relays[0] = (struct relay){ .from = -1, .to = -1 };
            continue;
        }
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0) return -1;
        int shim_end = fd == 0 ? p[1] : p[0];
        job_stdio[fd] = fd == 0 ? p[0] : p[1];
        // The job's own pipes: it may reopen them (`echo x > /dev/stdout`), which reaches only
        // the relay, never the caller's file or terminal.
        if (sb.uid >= 0 && fchown(job_stdio[fd], (uid_t)sb.uid, (gid_t)sb.gid) != 0) return -1;
        if (fcntl(shim_end, F_SETFL, O_NONBLOCK) != 0) return -1;
        relays[fd] = fd == 0 ? (struct relay){ .from = 0, .to = shim_end } : (struct relay){ .from = shim_end, .to = fd };
        if (fd > 0 && cfg.log_dir) { relays[fd].to = -1; relays[fd].log = &logs[fd]; }
    }
    nrelays = 3;
    return 0;
}

static void launch_failed(struct outcome *o, const char *message) __attribute__((noreturn));
static void launch_failed(struct outcome *o, const char *message) {
    o->err = errno;
    o->message = message;
    o->how = BERTH_HOW_LAUNCH_FAILED;
    finish(o, cfg.stuck_ms);
}

// The shim outlives its caller (a daemon may restart while its runs go on): it keeps none of
// the caller's files open but stdio, or a restarted daemon would find its own listening
// socket, database or pipes still held. Nothing is passed to the shim above fd 2.
// The one exception is a network namespace the launcher passed to join (fd 4, `netns`).
static void close_inherited_fds(void) {
    unsigned keep = sb.netns_fd >= 0 ? (unsigned)sb.netns_fd : 0;
    if (keep ? syscall(SYS_close_range, 3U, keep - 1, 0U) == 0 && syscall(SYS_close_range, keep + 1, ~0U, 0U) == 0
             : syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
        return;
    // Kernels before 5.9: one close per possible fd.
    struct rlimit files;
    rlim_t top = getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur == RLIM_INFINITY || files.rlim_cur > (1 << 16)
                 ? (1 << 16) : files.rlim_cur;
    for (rlim_t fd = 3; fd < top; fd++) if (fd != keep) close((int)fd);
}

// What main's steps share: the outcome so far and the fds that tie the shim to its child.
struct run {
    struct outcome o;
    int sfd;              // signalfd: SIGCHLD, SIGINT, SIGTERM, SIGHUP
    int efd;              // the v1 memory cgroup's OOM eventfd; -1 without
    int errpipe[2];       // child → shim: a failed setup step (struct child_error), EOF on exec
    int statuspipe[2];    // the run's init → shim: the job's wait status
    int gopipe[2];        // shim → child: one byte once the run's namespaces are ready for it
    pid_t pid;            // the child: the job, or the run's init
    int pidfd;
    long long started;
};

// Signals, pipes, log files, stdio relays, OOM events: everything before the child exists.
static void prepare(struct run *r) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    r->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (r->sfd < 0) launch_failed(&r->o, "signalfd failed");
    if (pipe2(r->errpipe, O_CLOEXEC) != 0 || pipe2(r->statuspipe, O_CLOEXEC | O_NONBLOCK) != 0 || pipe2(r->gopipe, O_CLOEXEC) != 0)
        launch_failed(&r->o, "pipe2 failed");
    if (cfg.log_dir && open_logs() != 0) launch_failed(&r->o, "cannot open the run's log files (log-dir must be a directory of root's that no one else may write)");
    if (cfg.relay && make_relays() != 0) launch_failed(&r->o, "cannot make the job's stdio pipes");
    if (cfg.log_dir) {
        // The job's output goes to files: the shim lets go of its caller's stdio too, so a
        // caller (a daemon, its supervisor's pipes) is never held open by a run that outlives it.
        // What goes wrong from here is in the status file.
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0) launch_failed(&r->o, "cannot open /dev/null");
        for (int fd = 0; fd < 3; fd++) if (dup2(null, fd) != fd) launch_failed(&r->o, "cannot point the shim's stdio at /dev/null");
        if (null > 2) close(null);
    }
    // oom.group emulation on v1 is part of the run's limits: if it cannot be set up, no job starts.
    r->efd = oom_eventfd();
    if (cfg.oom_control && r->efd < 0) launch_failed(&r->o, "cannot register for the v1 memory cgroup's OOM events");
}

// Clones the child straight into the run's cgroup and namespaces (clone3), or forks on kernels
// without it. The child waits for the go before it does anything the run's setup could affect.
static void start_child(struct run *r) {
    int cgfd = open(cfg.cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgfd < 0) launch_failed(&r->o, "cannot open the run's cgroup");
    r->pidfd = -1;
    r->started = now_ms();
    r->pid = -1;
    errno = ENOSYS;
    if (!cfg.fork_only) r->pid = berth_clone3_into_cgroup(cgfd, &r->pidfd, sandbox_clone_flags());
    if (r->pid < 0 && (errno == ENOSYS || errno == E2BIG)) {
        // No clone3 or no CLONE_INTO_CGROUP (kernels before 5.7): fork, and the child enters
        // the cgroup itself before it execs, so the job still never runs outside its limits.
        // Its namespaces come from unshare; a new PID namespace holds only the unsharer's
        // children, so one more fork makes the run's PID 1, and the middle process relays.
        r->pid = fork();
        if (r->pid == 0) {
            die_with_the_shim(r->errpipe[1]);
            char procs[4096];
            snprintf(procs, sizeof(procs), "%s/cgroup.procs", cfg.cgroup);
            close(r->errpipe[0]);
            close(r->gopipe[1]);
            if (!sb.enabled) child_setup(r->errpipe[1], r->statuspipe[1], r->gopipe[0], procs);
            if (write_str(procs, "0") != 0 || unshare((int)sandbox_clone_flags()) != 0) child_fail(r->errpipe[1], BERTH_STEP_NAMESPACES);
            sigset_t all;
            sigfillset(&all);
            sigprocmask(SIG_BLOCK, &all, NULL);
            pid_t init = fork();
            if (init == 0) child_setup(r->errpipe[1], r->statuspipe[1], r->gopipe[0], NULL);
            if (init < 0) child_fail(r->errpipe[1], BERTH_STEP_NAMESPACES);
            close(r->errpipe[1]);
            close(r->gopipe[0]);
            // The middle relays signals to the run's init and leaves when it does.
            sandbox_init(init, -1);
        }
        if (r->pid > 0) r->pidfd = berth_pidfd_open(r->pid);
    } else if (r->pid == 0) {
        close(r->errpipe[0]);
        close(r->gopipe[1]);
        child_setup(r->errpipe[1], r->statuspipe[1], r->gopipe[0], NULL);
    }
    close(cgfd);
    if (r->pid < 0) launch_failed(&r->o, "clone failed");
    r->o.pid = r->pid;
    close(r->errpipe[1]);
    close(r->statuspipe[1]);
    close(r->gopipe[0]);
    // The child holds a pooled namespace's fd until it has joined; a shaped run's is also
    // the shim's, to set up from outside and hold until the end.
    if (sb.netns_fd >= 0) {
        if (cfg.shaped) run_netns = sb.netns_fd;
        else close(sb.netns_fd);
    }
    for (int fd = 0; fd < 3; fd++) if (job_stdio[fd] >= 0) close(job_stdio[fd]);
}

// Gives the child its go, then waits for its setup: the error pipe closes at its exec, or
// carries the step that failed. A failed setup ends the run here.
static void await_setup(struct run *r) {
    // The run's namespaces exist now: what the shim sets up in them from outside goes here.
    if (cfg.shaped) {
        // The run's namespace is held open until the end, so its veth (and its counters) last
        // until the shim has read them and removed it.
        // A namespace from the launcher's pool (the child joins it after the go), or the one
        // the child was cloned into.
        if (run_netns < 0) {
            char path[64];
            snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)r->pid);
            run_netns = open(path, O_RDONLY | O_CLOEXEC);
        }
        if (run_netns < 0 || network_setup(run_netns) != 0) {
            close(r->gopipe[1]);   // the child reads EOF and leaves
            launch_failed(&r->o, run_netns < 0 ? "network: cannot hold the run's network namespace" : network_failure());
        }
    }
    if (write(r->gopipe[1], "g", 1) != 1) launch_failed(&r->o, "cannot give the run's child its go");
    close(r->gopipe[1]);
    struct child_error ce;
    ssize_t n;
    do { n = read(r->errpipe[0], &ce, sizeof(ce)); } while (n < 0 && errno == EINTR);
    close(r->errpipe[0]);
    if (n != (ssize_t)sizeof(ce)) return;
    waitpid(r->pid, NULL, 0);
    // A failed exec is the command's fault (126/127); any earlier step is Berth's (125).
    r->o.how = ce.step == BERTH_STEP_EXEC ? BERTH_HOW_EXEC_FAILED : BERTH_HOW_LAUNCH_FAILED;
    r->o.err = ce.err;
    r->o.step = ce.step;
    if (r->o.how == BERTH_HOW_LAUNCH_FAILED) {
        static char message[192];
        ce.detail[sizeof(ce.detail) - 1] = 0;
        snprintf(message, sizeof(message), "the job's setup failed at step %d (%s%s%s)", ce.step,
                 ce.step > 0 && ce.step < BERTH_STEP_COUNT ? berth_step_name(ce.step) : "?", ce.detail[0] ? ": " : "", ce.detail);
        r->o.message = message;
    }
    finish(&r->o, cfg.stuck_ms);
}

// The run's life: relays its stdio, forwards stop signals, enforces its timeout with the
// grace period, acts on OOM events, and ends through finish() once the child is gone.
static void supervise(struct run *r) __attribute__((noreturn));
static void supervise(struct run *r) {
    struct outcome *o = &r->o;
    long long deadline = cfg.timeout_ms >= 0 ? r->started + cfg.timeout_ms : -1;
    long long kill_at = -1;        // when the grace period after a SIGTERM runs out
    long long stuck_at = -1;       // when a run still not gone after cgroup.kill is reported stuck
    int stop_signal = 0, timed_out = 0;

    for (;;) {
        long long now = now_ms();
        if (deadline >= 0 && now >= deadline && !timed_out && !stop_signal) {
            // SIGTERM through the pidfd (immune to pid reuse): the run's init passes it to the job.
            timed_out = 1;
            if (berth_pidfd_send_signal(r->pidfd, SIGTERM) != 0) kill(r->pid, SIGTERM);
            kill_at = now + cfg.grace_ms;
        }
        if (kill_at >= 0 && now >= kill_at) {
            kill_cgroup();
            kill_at = -1;
            stuck_at = now + cfg.stuck_ms;
        }
        if (stuck_at >= 0 && now >= stuck_at) {
            // The run's init waits for a job the kernel has not let die yet (uninterruptible
            // sleep): report now, as stuck, with what is known.
            o->how = timed_out ? BERTH_HOW_TIMEOUT : stop_signal ? BERTH_HOW_STOPPED : BERTH_HOW_SIGNALED;
            o->sig = timed_out ? 0 : SIGKILL;
            if (stop_signal) o->sig = stop_signal;
            finish(o, 0);
        }
        long long wake = -1;
        if (deadline >= 0 && !timed_out && !stop_signal) wake = deadline;
        if (kill_at >= 0 && (wake < 0 || kill_at < wake)) wake = kill_at;
        if (stuck_at >= 0 && (wake < 0 || stuck_at < wake)) wake = stuck_at;
        int timeout = wake < 0 ? -1 : (int)(wake - now > 0 ? wake - now : 0);

        struct pollfd fds[5];
        int nfds = relay_poll_fds(fds);
        fds[nfds++] = (struct pollfd){ r->sfd, POLLIN, 0 };
        fds[nfds++] = (struct pollfd){ r->efd, POLLIN, 0 };
        int ready = poll(fds, (nfds_t)nfds, timeout);
        if (ready < 0 && errno != EINTR) break;
        if (ready > 0) relay_serve(fds);
        if (r->efd >= 0 && (fds[nrelays + 1].revents & POLLIN)) {
            uint64_t count;
            (void)!read(r->efd, &count, sizeof(count));
            // oom.group emulation on v1: an OOM in the run ends the whole run, as
            // memory.oom.group=1 would. The event fires before oom_kill is counted, so act on it.
            o->oom_group_kill = 1;
            kill_cgroup();
            if (stuck_at < 0) stuck_at = now_ms() + cfg.stuck_ms;
        }
        struct signalfd_siginfo si;
        while (read(r->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
            if (si.ssi_signo == SIGCHLD) continue;
            // SIGINT/SIGTERM/SIGHUP: forward to the job, then escalate after the grace period.
            if (!stop_signal && !timed_out) {
                stop_signal = (int)si.ssi_signo;
                if (berth_pidfd_send_signal(r->pidfd, stop_signal) != 0) kill(r->pid, stop_signal);
                kill_at = now_ms() + cfg.grace_ms;
            }
        }
        int status;
        pid_t w = waitpid(r->pid, &status, WNOHANG);
        if (w == r->pid) {
            // With a sandbox, `pid` is the run's init: the job's own status comes over the pipe.
            int job_status;
            if (read(r->statuspipe[0], &job_status, sizeof(job_status)) == (ssize_t)sizeof(job_status)) status = job_status;
            if (WIFEXITED(status)) { o->how = BERTH_HOW_EXITED; o->code = WEXITSTATUS(status); }
            else { o->how = BERTH_HOW_SIGNALED; o->sig = WTERMSIG(status); }
            if (timed_out) o->how = BERTH_HOW_TIMEOUT;
            else if (stop_signal) { o->how = BERTH_HOW_STOPPED; if (!o->sig) o->sig = stop_signal; }
            finish(o, cfg.stuck_ms);
        }
    }
    launch_failed(o, "poll failed");
}

int main(int argc, char **argv) {
    // The configuration first: it is the one fd the shim keeps from its caller, and read whole.
    config_read(BERTH_SHIM_CONFIG_FD);
    close_inherited_fds();
    // argv only names the run, for `ps`: berth-shim [RUN].
    if (argc > 2 || (argc == 2 && strcmp(argv[1], cfg.run) != 0)) die_usage("usage: berth-shim [RUN], its configuration on fd 3");
    arg_area = argv[0];
    arg_area_len = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) - argv[0]);
    check_run_cgroup();
    shim_pid = getpid();
    shim_start = own_start_ticks();
    struct run r;
    memset(&r, 0, sizeof(r));
    r.o.state = BERTH_STATE_RUNNING;
    r.o.started_ns = realtime_ns();
    prepare(&r);
    start_child(&r);
    await_setup(&r);
    if (write_status(&r.o) != 0) perror("berth-shim: status");
    supervise(&r);
}
