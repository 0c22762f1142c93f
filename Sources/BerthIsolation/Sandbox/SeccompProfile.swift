#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import CSeccomp
import CBerthSys

/// Compiling the seccomp profiles a spec may name (`SeccompProfileName`, in the model).
extension SeccompProfileName {
    /// Bumped whenever the allow-list or the rules change, so cached filters are rebuilt.
    static let version = 1

    /// The default profile, in the spirit of Docker's: an allow-list with default action
    /// EPERM, so anything not listed, including syscalls added to the kernel later, is denied.
    /// Deliberately absent: mount, umount2, pivot_root, chroot, unshare, setns, keyctl,
    /// add_key, request_key, bpf, perf_event_open, userfaultfd, io_uring_*, kexec_*,
    /// *_module, open_by_handle_at, name_to_handle_at, ptrace, process_vm_*, reboot,
    /// swapon/off, syslog, acct, settimeofday, clock_settime, adjtimex, clock_adjtime,
    /// quotactl, fanotify_init, lookup_dcookie, vhangup, iopl, ioperm, pidfd_getfd.
    static let allowed: [String] = [
        "accept", "accept4", "access", "alarm", "arch_prctl", "bind", "brk", "capget", "chdir", "chmod", "chown",
        "clock_getres", "clock_gettime", "clock_nanosleep", "close", "close_range", "connect", "copy_file_range",
        "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2",
        "epoll_wait", "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2",
        "fadvise64", "fallocate", "fchdir", "fchmod", "fchmodat", "fchown", "fchownat", "fcntl", "fdatasync",
        "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstatfs", "fsync",
        "ftruncate", "futex", "futex_waitv", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
        "geteuid", "getgid", "getgroups", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid",
        "getpriority", "getrandom", "getresgid", "getresuid", "getrlimit", "get_robust_list", "getrusage", "getsid",
        "getsockname", "getsockopt", "gettid", "gettimeofday", "getuid", "getxattr", "inotify_add_watch",
        "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "io_destroy", "io_getevents", "io_pgetevents",
        "io_setup", "io_submit", "ioctl", "ioprio_get", "ioprio_set", "kill", "lchown", "lgetxattr", "link", "linkat",
        "listen", "listxattr", "llistxattr", "lremovexattr", "lseek", "lsetxattr", "lstat", "madvise", "membarrier",
        "memfd_create", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap",
        "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend", "mq_unlink", "mremap",
        "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap", "nanosleep", "newfstatat",
        "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "poll", "ppoll",
        "prctl", "pread64", "preadv", "preadv2", "prlimit64", "pselect6", "pwrite64", "pwritev", "pwritev2", "read",
        "readahead", "readlink", "readlinkat", "readv", "recvfrom", "recvmmsg", "recvmsg", "remap_file_pages",
        "removexattr", "rename", "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction",
        "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
        "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
        "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity", "sched_setattr",
        "sched_setparam", "sched_setscheduler", "sched_yield", "select", "semctl", "semget", "semop", "semtimedop",
        "sendfile", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsuid", "setgid", "setgroups", "setitimer",
        "setpgid", "setpriority", "setregid", "setresgid", "setresuid", "setreuid", "setrlimit", "set_robust_list",
        "setsid", "setsockopt", "set_tid_address", "setuid", "setxattr", "shmat", "shmctl", "shmdt", "shmget",
        "shutdown", "sigaltstack", "signalfd", "signalfd4", "socket", "socketpair", "splice", "stat", "statfs",
        "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time",
        "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_settime", "timerfd_create",
        "timerfd_gettime", "timerfd_settime", "times", "tkill", "truncate", "umask", "uname", "unlink", "unlinkat",
        "utime", "utimensat", "utimes", "vfork", "vmsplice", "wait4", "waitid", "write", "writev",
        // personality is allowed for reading and for the harmless flags Docker allows; see rules.
    ]

    /// clone's namespace flags: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET.
    static let cloneNamespaceFlags: UInt64 = 0x7E02_0000

    static let actAllow: UInt32 = 0x7fff_0000
    static let actKillProcess: UInt32 = 0x8000_0000
    static func actErrno(_ e: Int32) -> UInt32 { 0x0005_0000 | (UInt32(e) & 0xffff) }

    /// Compiles the profile to classic BPF with libseccomp (in the parent; the child only loads
    /// it). Returns nil for `unconfined`.
    public func compile() throws -> [UInt8]? {
        guard self == .default else { return nil }
        guard let ctx = seccomp_init(Self.actErrno(EPERM)) else { throw BerthError(.system, "seccomp_init failed") }
        defer { seccomp_release(ctx) }
        func check(_ rc: Int32, _ what: String) throws {
            if rc < 0 { throw BerthError(.system, "seccomp: \(what): \(Sys.errnoText(-rc))") }
        }
        // Foreign ABIs (i386 through int 0x80, x32) are killed, never run.
        try check(seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, Self.actKillProcess), "badarch action")
        for name in Self.allowed {
            let nr = seccomp_syscall_resolve_name(name)
            guard nr >= 0 else { continue }          // not on this architecture
            try check(seccomp_rule_add_array(ctx, Self.actAllow, nr, 0, nil), name)
        }
        // clone3 takes its flags in memory seccomp cannot read: answer ENOSYS so libc falls
        // back to clone, whose flags (arg 0) are checked: no namespace flag may be set.
        try check(seccomp_rule_add_array(ctx, Self.actErrno(ENOSYS), seccomp_syscall_resolve_name("clone3"), 0, nil), "clone3")
        var noNamespaces = scmp_arg_cmp(arg: 0, op: SCMP_CMP_MASKED_EQ, datum_a: Self.cloneNamespaceFlags, datum_b: 0)
        try check(seccomp_rule_add_array(ctx, Self.actAllow, seccomp_syscall_resolve_name("clone"), 1, &noNamespaces), "clone")
        // personality: only querying (0xffffffff) and the default persona (0).
        for persona: UInt64 in [0, 0xffff_ffff] {
            var cmp = scmp_arg_cmp(arg: 0, op: SCMP_CMP_EQ, datum_a: persona, datum_b: 0)
            try check(seccomp_rule_add_array(ctx, Self.actAllow, seccomp_syscall_resolve_name("personality"), 1, &cmp), "personality")
        }
        // libseccomp 2.5.4 has no export to memory: export to a memfd and read it back.
        let fd = berth_memfd_create("berth-seccomp")
        guard fd >= 0 else { throw BerthError(.system, "memfd_create: \(Sys.errnoText(errno))") }
        defer { close(fd) }
        try check(seccomp_export_bpf(ctx, fd), "export")
        let size = Int(lseek(fd, 0, SEEK_END))
        var program = [UInt8](repeating: 0, count: size)
        let n = program.withUnsafeMutableBytes { pread(fd, $0.baseAddress, size, 0) }
        guard n == size else { throw BerthError(.system, "seccomp: reading the exported filter failed") }
        return program
    }
}
