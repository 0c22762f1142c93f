#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import BerthCore
import CSeccomp

/// What `berth doctor` tells a user: what this host can do, and what to fix.
public struct HostReport: Sendable {
    public enum Level: String, Sendable { case ok = "ok", warn = "warn", fail = "FAIL" }

    public struct Check: Sendable {
        public var name: String
        public var level: Level
        public var detail: String
        public var fix: String?
    }

    public var checks: [Check] = []
    public var hasFailures: Bool { checks.contains { $0.level == .fail } }

    /// Inspects the host. Reads only; changes nothing.
    public static func inspect(mount: String = "/sys/fs/cgroup", cgroupRoot: String? = nil,
                               checkpointRoot: String = HostLayout().checkpointRoot) -> HostReport {
        var r = HostReport()
        let mode = try? CgroupMode.detect(mount: mount)
        switch mode {
        case .v2?:
            let controllers = (Sys.read(mount + "/cgroup.controllers") ?? "").trimmingWhitespace()
            r.add("cgroup mode", .ok, "cgroup v2 (unified); controllers: \(controllers)")
            let missing = ["cpu", "memory", "io", "pids"].filter { !controllers.split(separator: " ").contains(Substring($0)) }
            if !missing.isEmpty { r.add("controllers", .warn, "missing: \(missing.joined(separator: ", "))", fix: "enable them in the parent's cgroup.subtree_control") }
        case .hybrid?:
            let v1 = HybridDriver.wanted.filter { Sys.exists("\(mount)/\($0)/cgroup.procs") }
            r.add("cgroup mode", .ok, "hybrid: v1 controllers \(v1.joined(separator: ", ")) plus cgroup2 at \(mount)/unified")
            r.add("enforcement", .warn, "hybrid hosts cannot enforce memory.high or buffered-write I/O limits, and v1 blkio limits are not hierarchical",
                  fix: "boot with systemd.unified_cgroup_hierarchy=1 (or cgroup_no_v1=all) for full cgroup v2")
        case .v1?, nil:
            r.add("cgroup mode", .fail, "no cgroup2 mount at \(mount) or \(mount)/unified", fix: "mount cgroup2, or boot a kernel with cgroup v2")
        }
        if let mode, mode != .v1 {
            r.checkDelegation(mount: mount, cgroupRoot: cgroupRoot)
        }
        r.checkJoinLatency(mode: mode, mount: mount)
        r.checkCapabilities()
        if CheckpointQuota.isEnforced(on: checkpointRoot) {
            r.add("checkpoint quota", .ok, "project quotas are on for \(checkpointRoot): each job's checkpoint subtree is limited")
        } else {
            r.add("checkpoint quota", .warn, "no project quotas on the filesystem of \(checkpointRoot): a job's checkpoint subtree is not limited in size",
                  fix: "put the checkpoint root on ext4 made with -O project,quota and mounted -o prjquota (or XFS with -o pquota); the kernel needs CONFIG_QUOTA and CONFIG_QFMT_V2")
        }
        if Sys.exists("/proc/pressure/cpu") {
            r.add("PSI", .ok, "pressure stall information enabled")
        } else {
            r.add("PSI", .warn, "/proc/pressure is missing: contention reports need it", fix: "boot with psi=1 (Debian kernels disable PSI by default)")
        }
        let api = seccomp_api_get()
        if Sys.exists("/proc/sys/kernel/seccomp/actions_avail") && api >= 1 {
            let v = seccomp_version()
            r.add("seccomp", .ok, "libseccomp \(v?.pointee.major ?? 0).\(v?.pointee.minor ?? 0).\(v?.pointee.micro ?? 0), API level \(api)")
        } else {
            r.add("seccomp", .fail, "the kernel has no seccomp filter support", fix: "use a kernel with CONFIG_SECCOMP_FILTER=y")
        }
        r.add(tool: "tc", "network shaping", package: "iproute2")
        if Sys.exists("/proc/self/ns/net") { r.add("netns", .ok, "network namespaces available") }
        else { r.add("netns", .warn, "no network namespaces", fix: "use a kernel with CONFIG_NET_NS=y") }
        r.add(tool: "qemu-system-x86_64", "the cgroup v2 VM suite", package: "qemu-system-x86")
        return r
    }

    mutating func add(_ name: String, _ level: Level, _ detail: String, fix: String? = nil) {
        checks.append(Check(name: name, level: level, detail: detail, fix: fix))
    }

    mutating func add(tool: String, _ purpose: String, package: String) {
        if let path = which(tool) { add(tool, .ok, "\(path), for \(purpose)") }
        else { add(tool, .warn, "not found; needed for \(purpose)", fix: "apt-get install \(package)") }
    }

    /// Berth's own capability sets, as libcap reads them, and what a missing one costs.
    mutating func checkCapabilities() {
        let sets = GrantedCapabilities.ownSets()
        var effective: UInt64 = 0
        for line in (Sys.read("/proc/self/status") ?? "").split(separator: "\n") where line.hasPrefix("CapEff:") {
            effective = UInt64(String(line.dropFirst(7)).trimmingWhitespace(), radix: 16) ?? 0
        }
        let needed: [(Int, String)] = [(21, "CAP_SYS_ADMIN: namespaces, mounts, device programs"), (6, "CAP_SETGID"), (7, "CAP_SETUID"),
                                       (8, "CAP_SETPCAP: dropping jobs' bounding sets"), (27, "CAP_MKNOD: each run's /dev"), (5, "CAP_KILL")]
        let missing = needed.filter { effective & (1 << UInt64($0.0)) == 0 }.map(\.1)
        if !missing.isEmpty {
            add("capabilities", .fail, "Berth runs with \(sets); missing \(missing.joined(separator: "; "))", fix: "run berth as root with its full capability set")
        } else if effective & (1 << 24) == 0 {
            add("capabilities", .warn, "Berth runs with \(sets), without CAP_SYS_RESOURCE: jobs' per-uid limits (RLIMIT_NPROC, SIGPENDING, MSGQUEUE) can only be raised to their hard limits, which all of a tenant's runs share",
                fix: "give Berth CAP_SYS_RESOURCE, or raise the hard limits for root (limits.conf, or LimitNPROC= and friends in the unit)")
        } else {
            add("capabilities", .ok, "Berth runs with \(sets)")
        }
    }

    /// Joining a cgroup by writing `cgroup.procs` takes the kernel's threadgroup lock for
    /// writing, which waits for an RCU grace period (6.5 to 26 ms, measured). Berth never
    /// does that on the launch path: CLONE_INTO_CGROUP on v2, `tasks` for one thread on v1.
    mutating func checkJoinLatency(mode: CgroupMode?, mount: String) {
        let expedited = (Sys.read("/sys/kernel/rcu_expedited") ?? "0").trimmingWhitespace() == "1"
        let v2Mount = mode == .hybrid ? mount + "/unified" : mount
        let options = (Sys.read("/proc/self/mountinfo") ?? "").split(separator: "\n").first { $0.split(separator: " ").dropFirst(4).first.map(String.init) == v2Mount }
        let favor = options?.contains("favordynmods") ?? false
        let detail = "launches join their cgroups without the threadgroup lock (CLONE_INTO_CGROUP; v1 joins through tasks); "
            + "favordynmods \(favor ? "on" : "off"), rcu_expedited \(expedited ? "on" : "off")"
        if mode == .hybrid && !favor && !expedited {
            add("cgroup joins", .ok, detail, fix: "other tools that write cgroup.procs on this host wait for an RCU grace period each time: mount -o remount,favordynmods \(v2Mount) (kernel 6.1+) removes the wait")
        } else {
            add("cgroup joins", .ok, detail)
        }
    }

    mutating func checkDelegation(mount: String, cgroupRoot: String?) {
        do {
            let driver = try Launcher.hostDriver(cgroupRoot: cgroupRoot, mount: mount)
            if let problem = driver.delegationProblem() {
                add("delegation", .fail, problem, fix: "run as root, or delegate a subtree: a systemd unit with Delegate=yes, systemd-run --scope -p Delegate=yes, or --cgroup-root")
            } else {
                add("delegation", .ok, "Berth's root \(driver.rootDescription) can be created and written")
            }
        } catch {
            add("delegation", .fail, "\(error)")
        }
    }
}

/// The first executable called `name` in PATH (plus the sbin directories root uses).
func which(_ name: String) -> String? {
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "") + ":/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin"
    for dir in path.split(separator: ":") where access("\(dir)/\(name)", X_OK) == 0 {
        return "\(dir)/\(name)"
    }
    return nil
}
