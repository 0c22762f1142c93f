import ArgumentParser
import BerthCore
import BerthServer
import FoundationEssentials

/// `berth serve`: the daemon, with the embedded SQLite store.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the Berth daemon: the store, the reconciler and the API.",
        discussion: """
            Everything is kept in --state-dir: the store (berth.db), run logs, the API socket \
            (berth.sock) and, made on first start, the operator's token (operator.token, mode 0600). \
            Jobs keep running when the daemon stops (SIGTERM, SIGINT) unless --stop-jobs; a restarted \
            daemon re-adopts them. Settings come from --config (a YAML file of key: value; \
            --help-config lists every key), then from flags.
            """)

    @Option(help: "A YAML config file of key: value settings.") var config: String?
    @Option(name: .customLong("state-dir"), help: "Where the store, logs, socket and operator token live (default /var/lib/berth).") var stateDir: String?
    @Option(help: "The API's Unix socket (default <state-dir>/berth.sock).") var socket: String?
    @Option(help: "Also serve the API over TCP at HOST:PORT (TLS, or --insecure-tcp on loopback).") var listen: String?
    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain for --listen.") var tlsCert: String?
    @Option(name: .customLong("tls-key"), help: "PEM private key for --listen.") var tlsKey: String?
    @Flag(name: .customLong("insecure-tcp"), help: "Allow plain HTTP on --listen, loopback only.") var insecureTCP = false
    @Option(name: .customLong("cgroup-root"), help: "Berth's cgroup root, as a cgroup path.") var cgroupRoot: String?
    @Option(name: .customLong("rate-limit"), help: "API requests per second per tenant (0: none).") var rateLimit: String?
    @Option(name: .customLong("tenant-grace"), help: "Time before a removed tenant's resources are released (default 1h).") var tenantGrace: String?
    @Option(name: .customLong("set"), help: "Any config key as KEY=VALUE (repeatable).") var set: [String] = []
    @Flag(name: .customLong("stop-jobs"), help: "Stop every job when the daemon stops.") var stopJobs = false
    @Flag(name: .customLong("help-config"), help: "List the config file's keys and exit.") var helpConfig = false

    func run() async throws {
        if helpConfig {
            for (key, meaning) in DaemonSettings.keys { print("\(key.padding(22))\(meaning)") }
            return
        }
        var settings = DaemonSettings()
        if let config { try settings.load(file: config) }
        if let stateDir { try settings.set("state-dir", stateDir) }
        if let socket { try settings.set("socket", socket) }
        if let listen { try settings.set("listen", listen) }
        if let tlsCert { try settings.set("tls-cert", tlsCert) }
        if let tlsKey { try settings.set("tls-key", tlsKey) }
        if insecureTCP { try settings.set("insecure-tcp", "true") }
        if let cgroupRoot { try settings.set("cgroup-root", cgroupRoot) }
        if let rateLimit { try settings.set("rate-limit", rateLimit) }
        if let tenantGrace { try settings.set("tenant-grace", tenantGrace) }
        if stopJobs { try settings.set("stop-jobs", "true") }
        for item in set {
            guard let eq = item.firstIndex(of: "=") else { throw BerthError.invalid("set", "must be KEY=VALUE", got: item) }
            try settings.set(String(item[..<eq]), String(item[item.index(after: eq)...]))
        }
        try await Daemon.run(settings)
    }
}

extension String {
    /// Padded with spaces to `width` characters.
    func padding(_ width: Int) -> String { count >= width ? self + " " : self + String(repeating: " ", count: width - count) }
}
