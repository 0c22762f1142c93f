#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import BerthCore
import BerthIsolation
import FoundationEssentials

/// The shim `berth run` passes SIGINT, SIGTERM and SIGHUP to (a signal handler can capture nothing).
nonisolated(unsafe) var shimToSignal: pid_t = 0

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command as a job in its own limited cgroup and wait for it.",
        discussion: """
            Exit codes: the job's own; 128+N for signal N (137 for an OOM kill); 124 on timeout; \
            125 when Berth fails or arguments are bad; 126 when the command cannot be executed; \
            127 when it is not found. A one-line summary goes to stderr (or --summary-file).
            """)

    @Option(help: "CPU limit in cores: 0.5 or 500m.") var cpu: String?
    @Option(name: .customLong("cpu-weight"), help: "Relative CPU weight, 1 to 10000 (default 100).") var cpuWeight: String?
    @Option(help: "Memory limit: 64Mi, 2G (G = 10^9, Gi = 2^30).") var memory: String?
    @Option(name: .customLong("memory-high"), help: "Soft memory limit: throttled and reclaimed above it, never killed.") var memoryHigh: String?
    @Option(help: "Swap allowed (default 0: off).") var swap: String?
    @Option(name: .customLong("io-read"), help: "Read bandwidth limit in bytes per second: 10Mi.") var ioRead: String?
    @Option(name: .customLong("io-write"), help: "Write bandwidth limit in bytes per second: 1Mi.") var ioWrite: String?
    @Option(name: .customLong("io-read-iops"), help: "Read operations per second.") var ioReadIOPS: String?
    @Option(name: .customLong("io-write-iops"), help: "Write operations per second.") var ioWriteIOPS: String?
    @Option(name: .customLong("io-device"), help: "A path on the disk the I/O limits apply to (default: the working directory's).") var ioDevice: String?
    @Option(name: .customLong("io-weight"), help: "Relative I/O weight, 1 to 10000 (default 100), where the I/O scheduler supports it.") var ioWeight: String?
    @Option(help: "Maximum number of tasks (processes and threads).") var pids: String?
    @Option(help: "Tenant to run as (default: default).") var tenant: String?
    @Option(help: "Stop the job after this long: 30s, 5m, 1h. Exit code 124.") var timeout: String?
    @Option(help: "Time between SIGTERM and kill when stopping (default 10s).") var grace: String?
    @Flag(help: "Fail instead of warning when the host cannot enforce a limit.") var strict = false
    @Flag(help: "Print the summary as one JSON object.") var json = false
    @Flag(name: [.customShort("t"), .customLong("terminal")], help: "Give the job this terminal (or these files) as its stdin, stdout and stderr; by default they are pipes Berth relays.") var terminal = false
    @Option(name: .customLong("summary-file"), help: "Write the summary to this file instead of stderr.") var summaryFile: String?
    @Option(name: [.customShort("e"), .customLong("env")], help: "Set KEY=VALUE in the job's environment; KEY alone copies it from here.") var env: [String] = []
    @Option(name: .customLong("workdir"), help: "The job's working directory (default: the current one).") var workdir: String?
    @Option(name: .customLong("cgroup-root"), help: "Berth's cgroup root, as a cgroup path (default: <own cgroup>/berth).") var cgroupRoot: String?
    @Option(name: .customLong("cap-add"), help: "Grant the job a capability as an ambient one (operator only): NET_BIND_SERVICE, SYS_NICE or IPC_LOCK.") var capAdd: [String] = []
    @Option(help: "The job's network: none (its own namespace, loopback only; the default), shaped (its own namespace with a veth to the host, limited both ways: --egress, --ingress) or host (the host's network, no isolation).") var net: String?
    @Option(help: "Network shaped: what the job may send, such as 10Mbit.") var egress: String?
    @Option(help: "Network shaped: what the job may receive, such as 10Mbit.") var ingress: String?
    @Option(help: "Seccomp profile: default, or unconfined where the operator allows it (BERTH_ALLOW_UNCONFINED=1).") var seccomp: String?
    @Option(name: .customLong("runtime-dir"), help: "Berth's runtime directory: status files, run roots (default /run/berth).") var runtimeDir: String = "/run/berth"
    @Option(name: .customLong("state-dir"), help: "Berth's state directory: tenant uids (default /var/lib/berth).") var stateDir: String = "/var/lib/berth"
    @Option(name: .customLong("checkpoint-root"), help: "The checkpoint root (default <state-dir>/checkpoints).") var checkpointRoot: String?
    @Option(name: .customLong("status-keep-last"), help: "Operator setting: how many ended runs' status files to keep (default 1000).") var statusKeepLast: String = "1000"
    @Option(name: .customLong("status-max-age"), help: "Operator setting: remove ended runs' status files older than this (default 168h).") var statusMaxAge: String = "168h"
    @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.") var command: [String] = []

    mutating func run() throws {
        let argv = command.first == "--" ? Array(command.dropFirst()) : command
        guard !argv.isEmpty else { throw BerthError.invalid("command", "is missing: berth run [options] -- COMMAND [ARGS…]") }
        var request = ResourceRequest()
        request.cpu = cpu; request.cpuWeight = cpuWeight; request.memory = memory; request.memoryHigh = memoryHigh
        request.swap = swap; request.ioRead = ioRead; request.ioWrite = ioWrite; request.ioReadIOPS = ioReadIOPS
        request.ioWriteIOPS = ioWriteIOPS; request.ioDevice = ioDevice; request.ioWeight = ioWeight; request.pids = pids
        var layout = HostLayout()
        layout.runtimeDirectory = runtimeDir
        layout.stateDirectory = stateDir
        layout.checkpointRoot = checkpointRoot ?? stateDir + "/checkpoints"
        layout.allowUnconfined = ProcessInfo.processInfo.environment["BERTH_ALLOW_UNCONFINED"] == "1"
        try layout.validate()
        let (cwd, warning) = layout.startingDirectory(requested: workdir, current: FileManager.default.currentDirectoryPath)
        if let warning { printError("berth: warning: \(warning)") }
        let environment = try JobEnvironment.build(requested: env, caller: ProcessInfo.processInfo.environment)
        var spec = RunSpec(argv: argv, environment: environment, workingDirectory: cwd)
        spec.resources = try Resources(parsing: request)
        if let tenant { spec.tenant = try TenantName(tenant) }
        if let timeout { spec.timeoutMillis = try parseDuration(timeout, field: "timeout") }
        if let grace { spec.graceMillis = try parseDuration(grace, field: "grace") }
        spec.strict = strict
        spec.terminal = terminal
        spec.capabilities = capAdd
        if let seccomp { spec.seccomp = try SeccompProfileName(parsing: seccomp) }
        if let net {
            guard let mode = NetworkMode(rawValue: net) else {
                throw BerthError.invalid("net", "must be none, shaped or host", got: net)
            }
            spec.network = mode
        }
        if let egress { spec.egressBitsPerSecond = try parseBitRate(egress, field: "egress") }
        if let ingress { spec.ingressBitsPerSecond = try parseBitRate(ingress, field: "ingress") }
        if spec.network != .shaped && (egress != nil || ingress != nil) {
            throw BerthError.invalid("net", "--egress and --ingress need --net shaped")
        }
        spec.environment += ["BERTH_TENANT=\(spec.tenant)", "BERTH_JOB_ID=\(spec.jobID)", "BERTH_RUN_ID=\(spec.runID)"]

        guard statusKeepLast.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let keepLast = Int(statusKeepLast), keepLast <= 1_000_000 else {
            throw BerthError.invalid("status-keep-last", "must be a whole number from 0 to 1000000", got: statusKeepLast)
        }
        let retention = try StatusRetention(keepLast: keepLast, maxAgeSeconds: try parseDuration(statusMaxAge, field: "status-max-age") / 1000)
        // Opened before the job starts: a summary that cannot be written is found out now.
        var summaryFD: Int32 = -1
        if let summaryFile {
            summaryFD = open(summaryFile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard summaryFD >= 0 else { throw BerthError.invalid("summary-file", "cannot be written: \(String(cString: strerror(errno)))", got: summaryFile) }
        }
        let launcher = try Launcher(driver: try Launcher.hostDriver(cgroupRoot: cgroupRoot), layout: layout)
        for sig in [SIGINT, SIGTERM, SIGHUP] { signal(sig, SIG_IGN) }
        let started: StartedRun
        do {
            started = try launcher.start(spec)
        } catch {
            launcher.removeIdleTree(spec.tenant)
            throw error
        }
        for warning in started.cgroup.warnings { printError("berth: warning: \(warning)") }
        // Forward stop requests to the shim; it passes them to the job and escalates after --grace.
        shimToSignal = started.shimPID
        var stops = sigset_t()
        sigemptyset(&stops)
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            signal(sig) { kill(shimToSignal, $0) }
            sigaddset(&stops, sig)
        }
        // A caller may start us with them blocked (threads of test runners do).
        sigprocmask(SIG_UNBLOCK, &stops, nil)
        let result = started.wait()
        launcher.removeIdleTree(spec.tenant)
        // A one-off job: nothing of its checkpoint subtree outlives it. What cannot be removed
        // is an error in the run's result (exit 125), never a silent leftover.
        var cleanupErrors: [String] = []
        do { try launcher.removeCheckpoints(spec) }
        catch { cleanupErrors.append("checkpoint subtree: \(error)") }
        do { _ = try retention.prune(directory: launcher.layout.statusDirectory) }
        catch { printError("berth: warning: status retention: \(error)") }

        if case .execFailed(let errno) = result.ending {
            let what = errno == ENOENT ? "no such file" : errno == EACCES ? "permission denied" : "cannot execute"
            printError("berth: \(what): \(argv[0])")
        }
        var report = RunReport(result, tenant: spec.tenant)
        report.cleanupErrors = cleanupErrors
        let text = json ? report.json : report.line
        if let summaryFile {
            let bytes = Array((text + "\n").utf8)
            let written = bytes.withUnsafeBytes { write(summaryFD, $0.baseAddress, $0.count) }
            let e = errno
            guard written == bytes.count, close(summaryFD) == 0 else {
                printError("berth: summary-file: cannot write \(summaryFile): \(String(cString: strerror(written < 0 ? e : errno)))")
                Glibc.exit(125)
            }
        } else {
            printError(text)
        }
        Glibc.exit(cleanupErrors.isEmpty ? result.ending.exitCode : 125)
    }
}
