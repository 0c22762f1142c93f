#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import BerthIsolation
import Foundation

/// A second tenant, for the checks that one tenant cannot reach another.
let otherTenant: TenantName = {
    do { return try TenantName("other") } catch { fatalError("\(error)") }
}()

/// What each attempt of `berth-probe syscalls` must give under the default seccomp profile.
/// Denied syscalls answer EPERM before the kernel looks at their arguments; clone3 answers
/// ENOSYS so libc falls back to clone, whose namespace flags are refused; foreign ABIs are
/// killed; plain clone, getpid and threads work.
let expectedSyscalls: [String: String] = [
    "mount": "EPERM", "umount2": "EPERM", "pivot_root": "EPERM", "chroot": "EPERM",
    "unshare": "EPERM", "setns": "EPERM",
    "clone(CLONE_NEWNS)": "EPERM", "clone(CLONE_NEWUSER)": "EPERM", "clone(CLONE_NEWNET)": "EPERM",
    "clone": "ok", "clone3": "ENOSYS",
    "keyctl": "EPERM", "add_key": "EPERM", "request_key": "EPERM",
    "bpf": "EPERM", "perf_event_open": "EPERM", "userfaultfd": "EPERM",
    "io_uring_setup": "EPERM", "io_uring_enter": "EPERM", "io_uring_register": "EPERM",
    "kexec_load": "EPERM", "kexec_file_load": "EPERM",
    "init_module": "EPERM", "finit_module": "EPERM", "delete_module": "EPERM",
    "open_by_handle_at": "EPERM", "name_to_handle_at": "EPERM",
    "ptrace": "EPERM", "process_vm_readv": "EPERM", "process_vm_writev": "EPERM",
    "reboot": "EPERM", "swapon": "EPERM", "swapoff": "EPERM", "syslog": "EPERM", "acct": "EPERM",
    "settimeofday": "EPERM", "clock_settime": "EPERM", "adjtimex": "EPERM",
    "quotactl": "EPERM", "fanotify_init": "EPERM",
    "getpid": "ok", "pthread_create": "ok",
    "i386:getpid": "killed:SYS", "i386:mount": "killed:SYS", "x32:getpid": "killed:SYS",
    // Only the socket families a job needs; netlink for routing only.
    "socket(AF_UNIX)": "ok", "socket(AF_INET)": "ok", "socket(AF_INET6)": "ok", "socket(AF_NETLINK,ROUTE)": "ok",
    "socket(AF_NETLINK,AUDIT)": "EPROTONOSUPPORT", "socket(AF_VSOCK)": "EAFNOSUPPORT",
    "socket(AF_VSOCK|1<<32)": "EAFNOSUPPORT", "socket(AF_PACKET)": "EAFNOSUPPORT", "socketpair(AF_INET)": "EAFNOSUPPORT",
    // Terminal injection and line disciplines refused, whatever the upper bits; other ioctls work.
    "ioctl(TIOCSTI)": "EPERM", "ioctl(TIOCSTI|1<<32)": "EPERM", "ioctl(TIOCSETD)": "EPERM", "ioctl(TIOCGWINSZ)": "ok",
    // Syscalls the profile does not know answer ENOSYS (libc falls back); fchmodat2 reaches the
    // kernel (EBADF), or is unknown to an older one (ENOSYS).
    "fchmodat2": "EBADF|ENOSYS", "cachestat": "ENOSYS", "statmount": "ENOSYS", "syscall(999)": "ENOSYS",
]

/// Whether a probe result is one of the expected answers (`A|B`).
func matches(_ got: String?, _ want: String?) -> Bool {
    guard let got, let want else { return false }
    return want.split(separator: "|").contains { $0 == got }
}

func parseProbe(_ text: String) -> [String: String] {
    var results: [String: String] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: " ")
        if parts.count == 3 && parts[0] == "syscall" { results[String(parts[1])] = String(parts[2]) }
    }
    return results
}

let sandboxChecks: [Check] = [
    ("seccomp-matrix", { ctx in
        let (r, text) = try ctx.output(of: [ctx.probePath, "syscalls"])
        try require(r.ending == .exited(code: 0), "the probe ended as \(r.ending.summary)")
        let got = parseProbe(text)
        let wrong = expectedSyscalls.keys.sorted().filter { !matches(got[$0], expectedSyscalls[$0]) }
        try require(wrong.isEmpty, "differs from the expected table: " + wrong.map { "\($0) got \(got[$0] ?? "nothing"), want \(expectedSyscalls[$0] ?? "?")" }.joined(separator: "; "))
        // The same probe unconfined shows it is the filter that refuses: without it, some of
        // these get past seccomp to the kernel and fail otherwise (or succeed).
        let (_, open) = try ctx.output(of: [ctx.probePath, "syscalls"]) { $0.seccomp = .unconfined }
        let unconfined = parseProbe(open)
        let differ = expectedSyscalls.keys.filter { expectedSyscalls[$0] == "EPERM" && unconfined[$0] != nil && unconfined[$0] != "EPERM" }
        try require(differ.count >= 10, "unconfined, only \(differ.count) attempts got past EPERM: is the filter doing the refusing?")
        try require(unconfined["i386:getpid"] != "killed:SYS", "unconfined, the i386 ABI was still killed")
        return "\(got.count) attempts match the table; unconfined, \(differ.count) of them reach the kernel instead"
    }),
    ("sandbox-inside", { ctx in
        // A neighbour of another tenant, running meanwhile: its /tmp and checkpoints must stay out of sight.
        let marker = "berth-marker-\(getpid())"
        var neighbour = ctx.spec(["/bin/sh", "-c", "echo secret > /tmp/\(marker); echo secret > \"$BERTH_CHECKPOINT_DIR/secret\"; sleep 4"], tenant: otherTenant)
        neighbour.timeoutMillis = 8_000
        let neighbourRun = try ctx.launcher.start(neighbour)
        defer {
            _ = neighbourRun.wait()
            try? ctx.launcher.removeCheckpoints(neighbour)
        }
        usleep(500_000)
        let layout = ctx.launcher.layout
        // A sibling job of the same tenant, with a file in its own subtree.
        let sibling = JobID()
        let siblingDir = try ctx.launcher.checkpoints.createJobDirectory(tenant: try ctx.launcher.tenantID(.default), job: sibling, uid: try ctx.launcher.tenants.tenant(.default).uid)
        let defaultID = try ctx.launcher.tenantID(.default)
        defer { try? ctx.launcher.checkpoints.removeJobDirectory(tenant: defaultID, job: sibling) }
        _ = FileManager.default.createFile(atPath: siblingDir + "/secret", contents: Data("x".utf8))
        let hidden = [siblingDir, siblingDir + "/secret",
                      (try ctx.launcher.checkpointDirectory(neighbour)),
                      layout.checkpointRoot + "/" + (try ctx.launcher.tenantID(otherTenant)).rawValue,
                      layout.stateDirectory + "/tenant-uids", layout.statusDirectory, "/root/.bash_history"]
        var argv = [ctx.probePath, "inside", "--suid", ctx.stage + "/berth-probe-suid", "--private-tmp", marker]
        for path in hidden { argv += ["--hidden", path] }
        let (r, text) = try ctx.output(of: argv)
        let failures = text.split(separator: "\n").filter { $0.hasPrefix("FAIL") }
        for property in ["setuid-gains-nothing", "pid-namespace", "init-hidden", "dev-private", "dev-pty-budget", "host-nodev",
                         "proc-kcore-masked", "proc-sys-read-only", "sys-firmware-masked", "tmp-bounded", "stdio-pipes"] {
            try require(text.contains("PASS \(property)"), "the probe did not report \(property): \(text)")
        }
        try require(failures.isEmpty && r.ending == .exited(code: 0), failures.joined(separator: "; "))
        let passes = text.split(separator: "\n").filter { $0.hasPrefix("PASS") }.count
        return "\(passes) properties hold from inside (caps, no_new_privs, seccomp, uid, fds, read-only host, cgroup files, pid namespace, setuid, hidden paths, private /tmp)"
    }),
    ("tenant-uid", { ctx in
        let (_, a) = try ctx.output(of: ["id", "-u"])
        let (_, b) = try ctx.output(of: ["id", "-u"]) { $0.tenant = otherTenant }
        let uidA = Int(a.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let uidB = Int(b.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let range = ctx.launcher.layout.uidRange
        try require(uidA != uidB, "two tenants share uid \(uidA)")
        try require(range.contains(UInt32(clamping: uidA)) && range.contains(UInt32(clamping: uidB)), "uids \(uidA), \(uidB) outside \(range)")
        let again = try ctx.launcher.tenants.tenant(.default).uid
        try require(Int(again) == uidA, "the default tenant's uid changed from \(uidA) to \(again)")
        return "default runs as \(uidA), other as \(uidB); stable across runs"
    }),
    ("symlink-refusal", { ctx in
        // The other tenant's subtree, with a file Berth must never touch.
        let victimJob = JobID()
        let otherID = try ctx.launcher.tenantID(otherTenant)
        let victim = try ctx.launcher.checkpoints.createJobDirectory(tenant: otherID, job: victimJob, uid: try ctx.launcher.tenants.tenant(otherTenant).uid)
        defer { try? ctx.launcher.checkpoints.removeJobDirectory(tenant: otherID, job: victimJob) }
        _ = FileManager.default.createFile(atPath: victim + "/precious", contents: Data("keep".utf8))
        let spec = ctx.spec(["/bin/sh", "-c", "ln -s \(victim) \"$BERTH_CHECKPOINT_DIR/staging\"; ln -s /etc \"$BERTH_CHECKPOINT_DIR/etc\"; mkdir \"$BERTH_CHECKPOINT_DIR/real\"; ln -s \(victim)/precious \"$BERTH_CHECKPOINT_DIR/real/link\""])
        let r = try ctx.run(spec, keep: true)
        try require(r.ending == .exited(code: 0), "the planting job ended as \(r.ending.summary)")
        var refused = false
        do { try ctx.launcher.checkpoints.publish(tenant: try ctx.launcher.tenantID(spec.tenant), job: spec.jobID, staging: "staging", as: "cp-1") }
        catch let e as BerthError { refused = e.message.contains("refused") }
        try require(refused, "publishing a staging symlink to another tenant was not refused")
        try ctx.launcher.checkpoints.publish(tenant: try ctx.launcher.tenantID(spec.tenant), job: spec.jobID, staging: "real", as: "cp-2")
        try ctx.launcher.removeCheckpoints(spec)
        let precious = try? String(contentsOfFile: victim + "/precious", encoding: .utf8)
        try require(precious == "keep", "the other tenant's file was touched")
        try require(access("/etc/passwd", F_OK) == 0 && access(victim, F_OK) == 0, "something outside the subtree was removed")
        try require(access((try ctx.launcher.checkpointDirectory(spec)), F_OK) != 0, "the job's subtree is still there")
        return "publish refused a symlinked staging dir; cleanup unlinked links without following them; nothing outside touched"
    }),
    ("fork-fallback", { ctx in
        // The shim's path for kernels without clone3: the same limits and sandbox must hold.
        var launcher = ctx.launcher
        launcher.forkFallback = true
        let fallback = Context(launcher: launcher, scratch: ctx.scratch, cgroupRoot: ctx.cgroupRoot, stage: ctx.stage)
        let exited = try fallback.run(fallback.spec(fallback.workload("exit", "7")))
        try require(exited.ending == .exited(code: 7), "exit 7 ended as \(exited.ending.summary)")
        var oom = fallback.spec(fallback.workload("alloc", "100"))
        oom.resources.memoryMax = 32 << 20
        let killed = try fallback.run(oom)
        try require(killed.ending == .oomKilled(byTenantLimit: false), "100 MB under 32Mi ended as \(killed.ending.summary)")
        let (r, text) = try fallback.output(of: [ctx.probePath, "inside"])
        let failures = text.split(separator: "\n").filter { $0.hasPrefix("FAIL") }
        try require(r.ending == .exited(code: 0) && failures.isEmpty && text.contains("PASS init-hidden"), failures.joined(separator: "; ") + text)
        return "without clone3: exit code, OOM kill and every sandbox property hold"
    }),
    ("unknown-seccomp-profile", { ctx in
        do { _ = try SeccompProfileName(parsing: "permissive") } catch let e as BerthError {
            try require(e.message.hasPrefix("seccomp: unknown profile"), e.message)
            var spec = ctx.spec(["/bin/true"])
            spec.seccomp = .unconfined
            var strict = HostLayout()
            strict.runtimeDirectory = ctx.launcher.layout.runtimeDirectory
            strict.stateDirectory = ctx.launcher.layout.stateDirectory
            strict.checkpointRoot = ctx.launcher.layout.checkpointRoot
            let locked = try Launcher(driver: ctx.launcher.driver, shimPath: ctx.launcher.shimPath, layout: strict)
            do { _ = try locked.start(spec); throw CheckFailure("unconfined ran where the operator did not allow it") }
            catch let e as BerthError where e.message.contains("not allowed") {}
            return "an unknown profile and a disallowed 'unconfined' are refused"
        }
        throw CheckFailure("an unknown profile was accepted")
    }),
]
