#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import CSeccomp
import CBerthSys

/// Compiling the seccomp profiles a spec may name (`SeccompProfileName`, in the model).
extension SeccompProfileName {
    /// Bumped whenever the allow-list or the rules change, so cached filters are rebuilt.
    static let version = 2

    /// The default profile, in the spirit of Docker's, with runc's answer for what it does not
    /// know: the syscalls listed here are allowed; those in `denied` answer EPERM (refused on
    /// purpose); any other, including syscalls newer than this profile, answers ENOSYS, so
    /// libc's fallbacks for new calls (fchmodat2, cachestat, statmount…) keep working.
    static let allowed: [String] = [
        "accept", "accept4", "access", "alarm", "arch_prctl", "bind", "brk", "capget", "capset", "chdir", "chmod", "chown",
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
        "io_setup", "io_submit", "ioprio_get", "ioprio_set", "kill", "lchown", "lgetxattr", "link", "linkat",
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
        "shutdown", "sigaltstack", "signalfd", "signalfd4", "splice", "stat", "statfs",
        "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time",
        "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_settime", "timerfd_create",
        "timerfd_gettime", "timerfd_settime", "times", "tkill", "truncate", "umask", "uname", "unlink", "unlinkat",
        "utime", "utimensat", "utimes", "vfork", "vmsplice", "wait4", "waitid", "write", "writev",
        // personality, socket, socketpair, ioctl and clone are allowed with conditions; see `compile`.
    ]

    /// Refused on purpose, with EPERM: what could leave the sandbox, reach the kernel's attack
    /// surface, or change the host.
    static let denied: [String] = [
        "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "keyctl", "add_key", "request_key",
        "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
        "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "open_by_handle_at",
        "name_to_handle_at", "ptrace", "process_vm_readv", "process_vm_writev", "reboot", "swapon", "swapoff",
        "syslog", "acct", "settimeofday", "clock_settime", "adjtimex", "clock_adjtime", "quotactl", "fanotify_init",
        "lookup_dcookie", "vhangup", "iopl", "ioperm", "pidfd_getfd", "sethostname", "setdomainname",
        "mount_setattr", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
        "kcmp", "process_madvise", "set_mempolicy", "mbind", "migrate_pages", "move_pages", "nfsservctl",
        "personality", "uselib", "ustat", "sysfs", "_sysctl", "get_kernel_syms", "query_module",
        "create_module", "vm86", "vm86old", "modify_ldt", "landlock_create_ruleset",
    ]

    /// Syscalls newer than Debian 12's libseccomp (2.5.4), by their x86_64 number: allowed.
    static let allowedByNumber: [(name: String, number: Int32)] = [("fchmodat2", 452)]

    /// Socket families a job needs: unix, inet, inet6, and netlink for routing queries only.
    /// Everything else (AF_VSOCK, which no network namespace confines, AF_PACKET…) answers
    /// EAFNOSUPPORT.
    static let socketFamilies: [UInt32] = [1 /* AF_UNIX */, 2 /* AF_INET */, 10 /* AF_INET6 */, 16 /* AF_NETLINK */]
    static let netlinkRoute: UInt64 = 0

    /// Terminal ioctls refused even where the kernel already refuses them: TIOCSTI (typing into
    /// a terminal), TIOCLINUX, TIOCSETD (line discipline).
    static let deniedIoctls: [UInt32] = [0x5412, 0x541C, 0x5423]

    /// clone's namespace flags: CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET.
    static let cloneNamespaceFlags: UInt64 = 0x7E02_0000

    static let actAllow: UInt32 = 0x7fff_0000
    static let actKillProcess: UInt32 = 0x8000_0000
    static func actErrno(_ e: Int32) -> UInt32 { 0x0005_0000 | (UInt32(e) & 0xffff) }

    /// Compiles the profile to classic BPF with libseccomp (in the parent; the child only loads
    /// it). Returns nil for `unconfined`.
    public func compile() throws -> [UInt8]? {
        guard self == .default else { return nil }
        let defaultAction = Self.actErrno(ENOSYS)
        guard let ctx = seccomp_init(defaultAction) else { throw BerthError(.system, "seccomp_init failed") }
        defer { seccomp_release(ctx) }
        func check(_ rc: Int32, _ what: String) throws {
            if rc < 0 { throw BerthError(.system, "seccomp: \(what): \(Sys.errnoText(-rc))", errno: -rc) }
        }
        func resolve(_ name: String) -> Int32 { seccomp_syscall_resolve_name(name) }
        func add(_ action: UInt32, _ name: String, _ conditions: [scmp_arg_cmp] = []) throws {
            let nr = resolve(name)
            // Not on this architecture; or what the default answers anyway (libseccomp refuses those).
            guard nr >= 0, action != defaultAction else { return }
            var conditions = conditions
            try check(seccomp_rule_add_array(ctx, action, nr, UInt32(conditions.count), &conditions), name)
        }
        func equal(_ arg: UInt32, _ value: UInt64) -> scmp_arg_cmp { scmp_arg_cmp(arg: arg, op: SCMP_CMP_EQ, datum_a: value, datum_b: 0) }
        func masked(_ arg: UInt32, _ cube: (mask: UInt32, value: UInt32)) -> scmp_arg_cmp {
            scmp_arg_cmp(arg: arg, op: SCMP_CMP_MASKED_EQ, datum_a: UInt64(cube.mask), datum_b: UInt64(cube.value))
        }
        // Foreign ABIs (i386 through int 0x80, x32) are killed, never run.
        try check(seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, Self.actKillProcess), "badarch action")
        for name in Self.allowed { try add(Self.actAllow, name) }
        for name in Self.denied where name != "personality" { try add(Self.actErrno(EPERM), name) }
        if seccomp_arch_native() == UInt32(0xC000_003E) /* AUDIT_ARCH_X86_64 */ {
            for (name, nr) in Self.allowedByNumber where resolve(name) < 0 {
                try check(seccomp_rule_add_array(ctx, Self.actAllow, nr, 0, nil), name)
            }
        }
        // clone3 takes its flags in memory seccomp cannot read: answer ENOSYS so libc falls
        // back to clone, whose flags (arg 0) are checked: no namespace flag may be set.
        try add(Self.actErrno(ENOSYS), "clone3")
        try add(Self.actAllow, "clone", [scmp_arg_cmp(arg: 0, op: SCMP_CMP_MASKED_EQ, datum_a: Self.cloneNamespaceFlags, datum_b: 0)])
        for bit in 0..<64 where Self.cloneNamespaceFlags & (1 << UInt64(bit)) != 0 {
            let flag = UInt64(1) << UInt64(bit)
            try add(Self.actErrno(EPERM), "clone", [scmp_arg_cmp(arg: 0, op: SCMP_CMP_MASKED_EQ, datum_a: flag, datum_b: flag)])
        }
        // personality: only querying (0xffffffff) and the default persona (0).
        for persona: UInt64 in [0, 0xffff_ffff] { try add(Self.actAllow, "personality", [equal(0, persona)]) }
        for cube in complementCubes(of: [0, 0xffff_ffff]) { try add(Self.actErrno(EPERM), "personality", [masked(0, cube)]) }
        // A rule with no condition would win over every conditional rule of the same syscall
        // in libseccomp, so "all but these" is spelled as the prefix cubes of the complement,
        // on the low 32 bits the kernel reads (an int or an unsigned int).
        for family in Self.socketFamilies where family != 16 { try add(Self.actAllow, "socket", [equal(0, UInt64(family))]) }
        try add(Self.actAllow, "socket", [equal(0, 16), equal(2, Self.netlinkRoute)])
        try add(Self.actErrno(EPROTONOSUPPORT), "socket", [equal(0, 16), scmp_arg_cmp(arg: 2, op: SCMP_CMP_NE, datum_a: Self.netlinkRoute, datum_b: 0)])
        for cube in complementCubes(of: Self.socketFamilies) { try add(Self.actErrno(EAFNOSUPPORT), "socket", [masked(0, cube)]) }
        try add(Self.actAllow, "socketpair", [equal(0, 1)])
        for cube in complementCubes(of: [1]) { try add(Self.actErrno(EAFNOSUPPORT), "socketpair", [masked(0, cube)]) }
        for cube in complementCubes(of: Self.deniedIoctls) { try add(Self.actAllow, "ioctl", [masked(1, cube)]) }
        for request in Self.deniedIoctls { try add(Self.actErrno(EPERM), "ioctl", [masked(1, (0xffff_ffff, request))]) }
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

/// The 32-bit values outside `points`, as prefix cubes (mask, value): `v & mask == value`
/// for exactly the values not in `points`. At most 32 cubes per point.
func complementCubes(of points: [UInt32]) -> [(mask: UInt32, value: UInt32)] {
    var cubes: [(mask: UInt32, value: UInt32)] = []
    func walk(_ mask: UInt32, _ value: UInt32, _ bit: Int, _ inside: [UInt32]) {
        if inside.isEmpty { cubes.append((mask, value)); return }
        guard bit >= 0 else { return }                // a point itself
        let b = UInt32(1) << UInt32(bit)
        walk(mask | b, value, bit - 1, inside.filter { $0 & b == 0 })
        walk(mask | b, value | b, bit - 1, inside.filter { $0 & b != 0 })
    }
    walk(0, 0, 31, points)
    return cubes
}

/// A compiled seccomp program as Berth caches it: a header the shim checks before loading
/// (magic, format version, instruction count, SHA-256 of the instructions) and the program.
/// A program that is truncated, padded, corrupt or longer than the kernel takes is refused,
/// and the launch fails: a job never runs without its filter.
public enum SeccompCache {
    static let magic = Array("BERTHBPF".utf8)
    static let formatVersion: UInt32 = 1
    /// The kernel's BPF_MAXINSNS for classic seccomp programs.
    public static let maxInstructions = 4096

    /// The cached file's bytes for `program` (classic BPF, 8 bytes an instruction).
    public static func encode(_ program: [UInt8]) throws -> [UInt8] {
        let count = program.count / 8
        guard program.count % 8 == 0, (1...maxInstructions).contains(count) else {
            throw BerthError(.system, "seccomp: the compiled program has \(program.count) bytes; it must be 1 to \(maxInstructions) instructions of 8 bytes")
        }
        return magic + littleEndian(formatVersion) + littleEndian(UInt32(count)) + digest(program) + program
    }

    /// The SHA-256 of `bytes`, by the same code the shim checks with.
    public static func digest(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeBytes { raw in digest.withUnsafeMutableBufferPointer { berth_sha256(raw.baseAddress, raw.count, $0.baseAddress) } }
        return digest
    }

    static func littleEndian(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
}
