#if canImport(Glibc)
import Glibc
#endif
import FoundationEssentials
import BerthCore
import CBerthSys

/// Starts runs: creates the run's cgroup with its limits, then execs a `berth-shim` in a new
/// session to be the job's parent. The shim outlives the caller, so `berth run` can be
/// killed and the run still ends properly and records its status.
public struct Launcher: Sendable {
    public let driver: any CgroupDriver
    public let shimPath: String
    public let layout: HostLayout
    /// Tenants' recorded ids and uids.
    public let tenants: TenantRegistry
    public let checkpoints: CheckpointTree
    /// Makes the shim take its path for kernels without clone3 (fork, then join the cgroup
    /// and unshare), so that path is tested on kernels that have clone3.
    public var forkFallback = false
    /// Ready network namespaces for runs of network `none` (the daemon keeps one); nil, or
    /// none ready: the run makes its own.
    public var networkNamespaces: NetworkNamespacePool?
    /// Shaped runs' addresses, from `layout.shapedNetwork`.
    let leases: AddressLeases

    /// Readies the host once, off the launch path: Berth's directories, and its cgroup root
    /// with the controllers it needs (`driver.prepare()`, which may move this process into a
    /// leaf on cgroup v2). `removeIdleTree` undoes the cgroup part when nothing ran.
    public init(driver: any CgroupDriver, shimPath: String? = nil, layout: HostLayout = HostLayout()) throws {
        self.driver = driver
        self.shimPath = shimPath ?? Launcher.defaultShimPath()
        try layout.validate()
        for dir in [layout.runtimeDirectory, layout.statusDirectory, layout.rootsDirectory, layout.stateDirectory, layout.leaseDirectory] {
            try CheckpointTree.makeDirectories(dir, mode: 0o700)
        }
        try CheckpointTree.makeDirectories(layout.checkpointRoot, mode: 0o711)
        let layout = try layout.resolvingSymlinks()
        self.layout = layout
        leases = try AddressLeases(range: layout.shapedNetwork, directory: layout.leaseDirectory)
        tenants = TenantRegistry(stateDirectory: layout.stateDirectory, range: layout.uidRange)
        checkpoints = CheckpointTree(root: layout.checkpointRoot, quota: CheckpointQuota.isEnforced(on: layout.checkpointRoot)
                                     ? CheckpointQuota(bytes: layout.checkpointQuotaBytes) : nil)
        try driver.prepare()
    }

    /// The tenant's recorded id, allocated on first use.
    public func tenantID(_ name: TenantName) throws -> TenantID { try tenants.tenant(name).id }

    /// The host path of the job's checkpoint subtree.
    public func checkpointDirectory(_ spec: RunSpec) throws -> String {
        checkpoints.path(tenant: try tenantID(spec.tenant), job: spec.jobID)
    }

    /// Removes the job's checkpoint subtree (a one-off run's, once it ended).
    public func removeCheckpoints(_ spec: RunSpec) throws {
        try checkpoints.removeJobDirectory(tenant: try tenantID(spec.tenant), job: spec.jobID)
    }

    /// Removes the tenant's cgroup levels, and Berth's, when no run is left in them.
    public func removeIdleTree(_ name: TenantName) {
        driver.removeIdleTree(tenant: (try? tenants.lookup(name))??.id)
    }

    /// Removes a tenant from this host: its checkpoint subtree, its idle cgroup levels, then
    /// its record, so that its uid may be given to another tenant. Refused while any run of
    /// the tenant is still there (its cgroup level holds a run). The service issue calls this
    /// after it has stopped the tenant's jobs and waited the operator's grace period.
    public func releaseTenant(_ name: TenantName) throws {
        guard let tenant = try tenants.lookup(name) else { return }
        if driver.hasRuns(tenant: tenant.id) {
            throw BerthError(.invalidSpec, "tenant: \(name) still has runs on this host; stop them first", field: "tenant")
        }
        try checkpoints.removeTenantDirectory(tenant: tenant.id)
        driver.removeIdleTree(tenant: tenant.id)
        if driver.hasRuns(tenant: tenant.id) {
            throw BerthError(.invalidSpec, "tenant: \(name) started a run while being removed", field: "tenant")
        }
        try tenants.release(name)
    }

    /// Where the shim writes the status of `run`.
    public func statusPath(_ run: RunID) -> String { "\(layout.statusDirectory)/\(run.rawValue).json" }

    /// `$BERTH_SHIM`, or `berth-shim` beside the running executable.
    public static func defaultShimPath() -> String {
        if let path = ProcessInfo.processInfo.environment["BERTH_SHIM"] { return path }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return directoryPart(of: exe) + "/berth-shim"
    }

    /// The path without its last component, as NSString's `deletingLastPathComponent`
    /// (which FoundationEssentials lacks): "/a/b" → "/a", "/a" → "/", "a" → "".
    static func directoryPart(of path: String) -> String {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "" }
        if slash == p.startIndex { return "/" }
        var dir = p[..<slash]
        while dir.count > 1 && dir.hasSuffix("/") { dir = dir.dropLast() }
        return String(dir)
    }

    /// The host's driver, detected by statfs magic, for the cgroups this process is in.
    public static func hostDriver(cgroupRoot: String? = nil, mount: String = "/sys/fs/cgroup") throws -> any CgroupDriver {
        if let cgroupRoot { try HostLayout.checkPath(cgroupRoot, field: "cgroup-root") }
        let own = ownCgroups()
        switch try CgroupMode.detect(mount: mount) {
        case .v2: return CgroupV2Driver(mount: mount, explicitRoot: cgroupRoot, ownCgroup: own[""] ?? "/")
        case .hybrid: return HybridDriver(mount: mount, explicitRoot: cgroupRoot, ownCgroups: own)
        case .v1: throw BerthError(.unsupported, "this host has cgroup v1 only; Berth needs cgroup v2 or hybrid mode (a cgroup2 mount at \(mount)/unified)")
        }
    }

    /// Validates the spec against the host, creates the cgroup and starts the shim.
    /// Nothing is left behind when it throws.
    public func start(_ spec: RunSpec) throws -> StartedRun {
        guard !spec.argv.isEmpty else { throw BerthError.invalid("command", "must not be empty") }
        var spec = spec
        if spec.resources.pids == nil { spec.resources.pids = layout.defaultPids }
        if spec.sandboxed, let pids = spec.resources.pids, pids < 2 {
            throw BerthError.invalid("pids", "must be at least 2 for a sandboxed job: its init and the job itself", got: String(pids))
        }
        let shortfalls = driver.enforcement.shortfalls(spec.resources)
        if spec.strict && !shortfalls.isEmpty {
            throw BerthError(.unsupported, "strict mode: " + shortfalls.joined(separator: "; "))
        }
        if spec.seccomp == .unconfined && !layout.allowUnconfined {
            throw BerthError.invalid("seccomp", "'unconfined' is not allowed on this host; the operator must allow it")
        }
        if let logs = spec.logs {
            guard !spec.terminal else { throw BerthError.invalid("logs", "a job given the caller's terminal has no log files") }
            try LogDirectory.check(logs)
        }
        if spec.makeWorkingDirectory && !spec.sandboxed {
            throw BerthError.invalid("workdir", "can be made only inside a sandboxed run's private /tmp", got: spec.workingDirectory)
        }
        var device: BlockDevice?
        if let io = spec.resources.io {
            // A working directory the job makes is in its private tmpfs, on no disk: its I/O
            // limits default to the disk of its checkpoints, the one disk it writes to.
            let path = io.devicePath ?? (spec.makeWorkingDirectory ? layout.checkpointRoot : spec.workingDirectory)
            device = try BlockDevice.holding(path, field: io.devicePath == nil ? "io-write" : "io-device")
        }
        if spec.network == .shaped {
            guard spec.sandboxed else { throw BerthError.invalid("network", "'shaped' needs a sandboxed run: its own network namespace") }
            guard spec.egressBitsPerSecond != nil else { throw BerthError.invalid("egress", "is required for network shaped: a rate such as 10Mbit") }
            guard spec.ingressBitsPerSecond != nil else { throw BerthError.invalid("ingress", "is required for network shaped: a rate such as 10Mbit") }
        }
        var config = ShimConfig()
        var environment = spec.environment
        // The daemon's store allocates tenants' ids and uids; `berth run` uses the registry file.
        let tenant = try spec.tenantIdentity.map { (id: $0.id, uid: $0.uid) } ?? {
            let t = try tenants.tenant(spec.tenant)
            return (id: t.id, uid: t.uid)
        }()
        let checkpointDir = checkpoints.path(tenant: tenant.id, job: spec.jobID)
        var uid: UInt32 = 0
        let granted = spec.sandboxed ? try GrantedCapabilities(parsing: spec.capabilities) : GrantedCapabilities()
        if spec.sandboxed {
            uid = tenant.uid
            try layout.validateWorkingDirectory(spec.workingDirectory, checkpointDirectory: checkpointDir, creating: spec.makeWorkingDirectory)
            environment.append("BERTH_CHECKPOINT_DIR=\(checkpointDir)")
            for (key, value) in [("uid", String(uid)), ("gid", String(uid)), ("nofile", String(layout.jobFileLimit)),
                                 ("newroot", layout.rootsDirectory), ("hostname", spec.runID.rawValue),
                                 ("tmpfs-size", String(layout.tmpfsSizeBytes)), ("network", spec.network.rawValue),
                                 ("bind", "\(checkpointDir)=\(checkpointDir)")] {
                try config.add(key, value, field: key)
            }
            if let program = try seccompProgram(spec.seccomp) { try config.add("seccomp", program, field: "seccomp") }
            try config.add("cap", granted.numbers.map(String.init), field: "capabilities")
            try config.add("mask", layout.masked, field: "masked")
            try config.add("tmpfs", HostLayout.privateDirectories, field: "tmpfs")
        }
        // Everything above only checked and computed; from here each step that leaves
        // something behind records how to undo it, so a failure leaves nothing half-created.
        var undo: [() -> Void] = []
        do {
            if spec.sandboxed {
                let existed = Sys.exists(checkpointDir)
                _ = try checkpoints.createJobDirectory(tenant: tenant.id, job: spec.jobID, uid: uid)
                if !existed { undo.append { try? checkpoints.removeJobDirectory(tenant: tenant.id, job: spec.jobID) } }
            }
            if let logs = spec.logs {
                let made = try LogDirectory.make(logs.base)
                undo.append { for dir in made { _ = rmdir(dir) } }
            }
            // createRun ensures every level of the path: a concurrent `berth run` may have
            // removed an idle one since init.
            let place = RunPlace(tenant: tenant.id, job: spec.jobID, run: spec.runID)
            var cgroup = try driver.createRun(place, resources: spec.resources, ioDevice: device)
            if spec.sandboxed {
                cgroup.applied.checkpointBytes = checkpoints.quota?.bytes
                cgroup.applied.capabilities = granted.names
            }
            undo.append { driver.removeRun(cgroup) }
            for (key, value) in [("status", statusPath(spec.runID)), ("cgroup", cgroup.unifiedPath),
                                 ("ids", "\(place.tenant)/\(place.job)/\(place.run)"), ("grace-ms", String(spec.graceMillis))] {
                try config.add(key, value, field: key)
            }
            try config.add("cwd", spec.workingDirectory, field: "workdir")
            if spec.makeWorkingDirectory { try config.add("mkcwd", "1", field: "workdir") }
            if let logs = spec.logs {
                try config.add("log-dir", logs.directory, field: "logs")
                try config.add("log-base", logs.base, field: "logs")
                try config.add("log-max-bytes", String(logs.maxBytes), field: "logs")
                try config.add("log-keep", String(logs.keep), field: "logs")
            }
            try config.add("join", cgroup.joinFiles, field: "cgroup")
            if let dir = cgroup.oomControlDirectory, spec.resources.memoryMax != nil { try config.add("oom-control", dir, field: "cgroup") }
            try config.add("stat", cgroup.statFiles.map { "\($0.key)=\($0.path)" }, field: "cgroup")
            try config.add("rmdir", cgroup.directories, field: "cgroup")
            if let t = spec.timeoutMillis { try config.add("timeout-ms", String(t), field: "timeout") }
            if spec.terminal { try config.add("stdio", "inherit", field: "terminal") }
            if forkFallback { try config.add("fork", "1", field: "fork") }
            try config.add("exec", resolveExecutable(spec.argv[0], environment: environment), field: "command")
            try config.add("arg", spec.argv, field: "command")
            if spec.sandboxed && spec.network == .shaped, let egress = spec.egressBitsPerSecond, let ingress = spec.ingressBitsPerSecond {
                try NetworkFilter.ensure(allow: layout.shapedAllow)
                let lease = try leases.lease(for: spec.runID)
                undo.append { unlink(lease.path) }
                // The host end's name: `bh` and 13 hex digits of the run's id (15 at most).
                let veth = "bh" + spec.runID.rawValue.dropFirst().prefix(13).lowercased()
                for (key, value) in [("veth", veth), ("address", lease.address), ("gateway", lease.gateway), ("lease", lease.path),
                                     ("egress-bps", String(egress)), ("ingress-bps", String(ingress))] {
                    try config.add(key, value, field: "network")
                }
            }
            var netnsFD: Int32?
            if spec.sandboxed && spec.network != .host, let fd = networkNamespaces?.take() {
                netnsFD = fd
                try config.add("netns", String(BERTH_SHIM_NETNS_FD), field: "network")
            }
            defer { if let netnsFD { close(netnsFD) } }
            let configFD = try config.memfd()
            defer { close(configFD) }
            let pid = try spawnShim(shimPath, run: spec.runID, config: configFD, netns: netnsFD, environment: environment)
            // The shim is this process's child, unreaped: its pid cannot be another's yet.
            let start = ProcessStat.read(pid)?.start ?? 0
            return StartedRun(spec: spec, place: place, shimPID: pid, shimStart: start, statusPath: statusPath(spec.runID),
                              cgroup: cgroup, driver: driver)
        } catch {
            undo.reversed().forEach { $0() }
            throw error
        }
    }

    /// Where the compiled program of `profile` is cached.
    public func seccompCachePath(_ profile: SeccompProfileName) -> String {
        "\(layout.runtimeDirectory)/seccomp-\(profile.rawValue)-v\(SeccompProfileName.version).bpf"
    }

    /// The compiled program of a seccomp profile, cached in the runtime directory (compiled
    /// with libseccomp once, loaded by every run's child). nil for `unconfined`. The shim checks
    /// the cached file's length and SHA-256 before loading it, and fails the launch if they
    /// do not hold: a damaged cache never lets a job run without its filter.
    func seccompProgram(_ profile: SeccompProfileName) throws -> String? {
        let path = seccompCachePath(profile)
        if Sys.exists(path) { return path }
        guard let program = try profile.compile() else { return nil }
        let bytes = try SeccompCache.encode(program)
        // Unique per call: a daemon's first launches compile at once, on several threads of
        // one process, and must not rename one another's file from under them.
        let tmp = path + ".\(getpid()).\(UInt64.random(in: 0...UInt64.max)).tmp"
        let fd = try Sys.retrying(.system, "open \(tmp)") { open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600) }
        defer { close(fd) }
        do {
            let written = try Sys.retrying(.system, "write \(tmp)") { bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
            guard written == bytes.count else { throw BerthError(.system, "write \(tmp): short write") }
            try Sys.retrying(.system, "rename \(tmp)") { rename(tmp, path) }
        } catch {
            unlink(tmp)
            throw error
        }
        return path
    }

    /// `argv[0]` as `execvp` would find it in the job's PATH; unchanged when not found, so the
    /// child's exec reports ENOENT with the name the user gave.
    func resolveExecutable(_ name: String, environment: [String]) -> String {
        if name.contains("/") { return name }
        let pathVar = environment.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in pathVar.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            var st = stat()
            if stat(candidate, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG && access(candidate, X_OK) == 0 { return candidate }
        }
        return name
    }
}

/// posix_spawn of the shim in a new session, with default signal dispositions and an empty
/// mask, its configuration on fd 3 (`BERTH_SHIM_CONFIG_FD`), the network namespace to join
/// (if any) on fd 4, and argv naming only the run.
func spawnShim(_ path: String, run: RunID, config: Int32, netns: Int32?, environment: [String]) throws -> pid_t {
    // Each source above the fds it goes to: a dup2 onto the same fd keeps close-on-exec, and
    // one source must not be overwritten by the other's dup2 before its own.
    let lowest = max(BERTH_SHIM_CONFIG_FD, BERTH_SHIM_NETNS_FD) + 1
    let config = try Sys.fdAtLeast(config, lowest)
    defer { close(config) }
    let netns = try netns.map { try Sys.fdAtLeast($0, lowest) }
    defer { if let netns { close(netns) } }
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    // POSIX_SPAWN_SETSID (0x80, glibc ≥ 2.26) is a macro Swift does not import.
    posix_spawnattr_setflags(&attr, Int16(0x80 | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigmask(&attr, &none)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for sig in [SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGCHLD, SIGQUIT] { sigaddset(&defaults, sig) }
    posix_spawnattr_setsigdefault(&attr, &defaults)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, config, BERTH_SHIM_CONFIG_FD)
    if let netns { posix_spawn_file_actions_adddup2(&actions, netns, BERTH_SHIM_NETNS_FD) }
    let argv = [path, run.rawValue]
    let cArgs = argv.map { strdup($0) } + [nil]
    let cEnv = environment.map { strdup($0) } + [nil]
    defer { (cArgs + cEnv).forEach { free($0) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, &attr, cArgs, cEnv)
    guard rc == 0 else { throw BerthError(.launch, "cannot start the shim \(path): \(Sys.errnoText(rc))") }
    return pid
}
