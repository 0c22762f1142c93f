import BerthCore
import BerthIsolation
import BerthStore
import FoundationEssentials
import Yams

/// Everything `berth serve` is told: from the config file, then flags. Each key of the file is
/// documented in `keys`, which `berth serve --help-config` prints.
public struct DaemonSettings: Sendable {
    /// Everything lives here: the store, run logs, the socket, the operator token.
    public var stateDirectory = "/var/lib/berth"
    /// Status files and run roots: they must outlive the daemon (default `<state>/run`).
    public var runtimeDirectory: String?
    /// The API's Unix socket (default `<state>/berth.sock`).
    public var socket: String?
    /// `HOST:PORT` for the API over TCP, with TLS (`tlsCertificate`, `tlsKey`); plain TCP only
    /// on loopback and only with `insecureTCP`.
    public var listen: String?
    public var tlsCertificate: String?
    public var tlsKey: String?
    public var insecureTCP = false
    public var cgroupRoot: String?
    /// The checkpoint root (default `<state>/checkpoints`).
    public var checkpointRoot: String?
    public var node = "local"
    /// Requests per second per tenant (0: no limit) and the burst allowed.
    public var rateLimit = 50
    public var rateBurst = 100
    public var logMaxBytes = 10 << 20
    public var logKeep = 3
    /// How long a removed tenant's uid, cgroup and checkpoints are kept before release.
    public var tenantGraceMillis = 3_600_000
    /// Stop every job on SIGTERM instead of leaving them running.
    public var stopJobs = false
    /// Runs started at once by the reconciler.
    public var launchWidth = 16
    /// Network namespaces kept ready for runs of network `none` (0: each run makes its own).
    public var networkNamespacePool = 16
    public var retention = RetentionPolicy()
    /// Host policy for runs: uid range, default pids, tmpfs size…
    public var layout = HostLayout()

    public init() {}

    public var socketPath: String { socket ?? stateDirectory + "/berth.sock" }
    public var runtimePath: String { runtimeDirectory ?? stateDirectory + "/run" }
    public var storePath: String { stateDirectory + "/berth.db" }
    public var logRoot: String { stateDirectory + "/logs" }
    public var operatorTokenPath: String { stateDirectory + "/operator.token" }

    /// The config file's keys, with what each one means.
    public static let keys: [(String, String)] = [
        ("state-dir", "directory for the store, logs, socket and operator token (default /var/lib/berth)"),
        ("runtime-dir", "status files and run roots; must outlive the daemon (default <state-dir>/run)"),
        ("socket", "the API's Unix socket (default <state-dir>/berth.sock; at most 107 bytes)"),
        ("listen", "HOST:PORT to serve the API over TCP too; needs tls-cert and tls-key, or insecure-tcp on loopback"),
        ("tls-cert", "PEM certificate chain for listen"),
        ("tls-key", "PEM private key for listen"),
        ("insecure-tcp", "true: allow plain HTTP on listen, only for a loopback address"),
        ("cgroup-root", "Berth's cgroup root as a cgroup path (default: <own cgroup>/berth)"),
        ("checkpoint-root", "the checkpoint root (default <state-dir>/checkpoints)"),
        ("node", "this node's name (default local)"),
        ("rate-limit", "API requests per second per tenant, 0 for none (default 50)"),
        ("rate-burst", "requests a tenant may make at once above the rate (default 100)"),
        ("log-max-bytes", "size at which a run's stdout or stderr log is rotated (default 10Mi)"),
        ("log-keep", "log files kept per stream, the live one included (default 3)"),
        ("tenant-grace", "time before a removed tenant's uid, cgroup and checkpoints are released (default 1h)"),
        ("stop-jobs", "true: stop every job when the daemon stops (default false: they keep running)"),
        ("launch-width", "runs started at once (default 16)"),
        ("network-namespace-pool", "network namespaces kept ready for jobs of network none, 0 for none (default 16)"),
        ("uid-range", "tenants' uids, FIRST-LAST (default 200000-299999)"),
        ("default-pids", "pids.max for jobs that set none (default 1024)"),
        ("tmpfs-size", "size of each job's private /tmp, /var/tmp, /dev/shm (default 64Mi)"),
        ("keep-runs", "ended runs kept per job (default 20)"),
        ("keep-events", "events kept per job (default 200)"),
        ("max-age", "ended runs and events older than this are removed (default 168h)"),
    ]

    /// Applies one `key: value` setting (from the file or a flag). Errors name the key.
    public mutating func set(_ key: String, _ value: String) throws {
        func bool() throws -> Bool {
            switch value { case "true": return true; case "false": return false
            default: throw BerthError.invalid(key, "must be true or false", got: value) }
        }
        func int(_ range: ClosedRange<Int>) throws -> Int { try Resources.integer(value, field: key, range: range) }
        func bytes() throws -> Int { try Resources.bytes(value, field: key, minimum: 4096, minimumText: "4Ki", maximum: 1 << 40, maximumText: "1Ti") }
        func path() throws -> String { try HostLayout.checkPath(value, field: key); return value }
        switch key {
        case "state-dir": stateDirectory = try path()
        case "runtime-dir": runtimeDirectory = try path()
        case "socket": socket = try path()
        case "listen": listen = value
        case "tls-cert": tlsCertificate = value
        case "tls-key": tlsKey = value
        case "insecure-tcp": insecureTCP = try bool()
        case "cgroup-root": cgroupRoot = value
        case "checkpoint-root": checkpointRoot = try path()
        case "node": node = value
        case "rate-limit": rateLimit = try int(0...1_000_000)
        case "rate-burst": rateBurst = try int(1...1_000_000)
        case "log-max-bytes": logMaxBytes = try bytes()
        case "log-keep": logKeep = try int(1...100)
        case "tenant-grace": tenantGraceMillis = try parseDuration(value, field: key)
        case "stop-jobs": stopJobs = try bool()
        case "launch-width": launchWidth = try int(1...1024)
        case "network-namespace-pool": networkNamespacePool = try int(0...4096)
        case "uid-range":
            let parts = value.split(separator: "-")
            guard parts.count == 2, let a = UInt32(parts[0]), let b = UInt32(parts[1]), a >= 1000, a <= b else {
                throw BerthError.invalid(key, "must be FIRST-LAST with 1000 <= FIRST <= LAST", got: value)
            }
            layout.uidRange = a...b
        case "default-pids": layout.defaultPids = try int(2...Resources.pidsMax)
        case "tmpfs-size": layout.tmpfsSizeBytes = try bytes()
        case "keep-runs": retention.runsPerJob = try int(1...100_000)
        case "keep-events": retention.eventsPerJob = try int(1...1_000_000)
        case "max-age": retention.maxAgeMillis = Int64(try parseDuration(value, field: key))
        default:
            throw BerthError.invalid(key, "is not a setting; known: " + Self.keys.map(\.0).joined(separator: ", "))
        }
    }

    /// Reads a YAML config file of `key: value` lines (keys as in `keys`).
    public mutating func load(file: String) throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw BerthError.invalid("config", "cannot read \(file)")
        }
        guard data.count <= 1 << 20 else { throw BerthError.invalid("config", "\(file) is larger than 1 MiB") }
        let node: Node?
        do { node = try Yams.compose(yaml: String(decoding: data, as: UTF8.self)) } catch {
            throw BerthError.invalid("config", "\(file) is not valid YAML: \(error)")
        }
        guard let node else { return }
        guard let mapping = node.mapping else { throw BerthError.invalid("config", "\(file) must be a mapping of key: value") }
        for (k, v) in mapping {
            guard let key = k.scalar?.string, let value = v.scalar?.string else {
                throw BerthError.invalid("config", "\(file): every key and value must be a plain scalar")
            }
            try set(key, value)
        }
    }

    /// Checks what can only be checked once all settings are known.
    public mutating func finish() throws {
        // Everything is in the state directory, hidden from jobs as a whole; the launcher's own
        // registry directory (unused by the daemon, whose store allocates tenants) sits apart inside it.
        layout.stateDirectory = stateDirectory + "/launcher"
        layout.runtimeDirectory = runtimePath
        layout.hide(stateDirectory)
        layout.checkpointRoot = checkpointRoot ?? stateDirectory + "/checkpoints"
        guard socketPath.utf8.count <= 107 else {
            throw BerthError.invalid("socket", "\(socketPath) is \(socketPath.utf8.count) bytes; a Unix socket path may have at most 107: choose a shorter --state-dir or --socket")
        }
        if let listen {
            let host = listen.split(separator: ":").dropLast().joined(separator: ":")
            let loopback = host == "127.0.0.1" || host == "[::1]" || host == "localhost"
            if tlsCertificate == nil || tlsKey == nil {
                guard insecureTCP else { throw BerthError.invalid("listen", "needs tls-cert and tls-key; plain TCP only with insecure-tcp on a loopback address") }
                guard loopback else { throw BerthError.invalid("insecure-tcp", "plain TCP is allowed on loopback only (127.0.0.1 or [::1])", got: listen) }
            }
        }
        try layout.validate()
    }
}
