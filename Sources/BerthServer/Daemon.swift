#if canImport(Glibc)
import Glibc
#endif
import BerthAgent
import BerthCore
import BerthIsolation
import BerthScheduler
import BerthStore
import FoundationEssentials
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOSSL
import ServiceLifecycle

/// `berth serve`: the store, the agent, the reconciler and the API in one process, each long
/// loop a `Service` in one `ServiceGroup` that stops gracefully on SIGTERM or SIGINT. Jobs keep
/// running when the daemon stops (unless `stopJobs`): their shims are not its children.
public enum Daemon {
    public static func run(_ settings: DaemonSettings, logger: Logger = Logger(label: "berth")) async throws {
        var configured = settings
        try configured.finish()
        let settings = configured
        // The store, the logs and the token are root's alone (the state directory is 0711 so
        // that tenants' CLIs reach the socket, which is 0666 and guarded by tokens).
        umask(0o077)
        try CheckpointTree.makeDirectories(settings.stateDirectory, mode: 0o711)
        // One daemon per state directory; a second one is told at once, not fenced later.
        let lockFD = try lockStateDirectory(settings.stateDirectory)
        defer { close(lockFD) }
        raiseFileLimit()

        let store = try SQLiteStore(path: settings.storePath)
        let holder = "\(settings.node):\(getpid())"
        // The state-directory lock proves no other daemon on this node runs: a lease still held
        // by one of this node's earlier daemons (killed) is taken over, with a new epoch.
        guard let epoch = try await store.acquireLease("leader", holder: holder, ttlMillis: 15_000, takeOver: true) else {
            throw BerthError(.system, "another daemon leads this store (\(settings.storePath)); it holds the lease for up to 15 s after it stops")
        }
        try await ensureOperatorToken(settings, store: store, epoch: epoch)

        var launcher = try Launcher(driver: try Launcher.hostDriver(cgroupRoot: settings.cgroupRoot), layout: settings.layout)
        // Namespaces made ahead of launches: a run of network none joins one instead of paying
        // the kernel's namespace setup while it starts. Closed when the daemon stops.
        let namespaces = settings.networkNamespacePool > 0 ? try NetworkNamespacePool(capacity: settings.networkNamespacePool) : nil
        defer { namespaces?.shutdown() }
        launcher.networkNamespaces = namespaces
        let agent = try Agent(node: settings.node, launcher: launcher, logRoot: settings.logRoot, launchWidth: settings.launchWidth)
        // Tenants' quotas as kernel limits again (a reboot, or a host where the levels were removed).
        for tenant in try await store.tenants() where tenant.state == "active" {
            guard let id = TenantID(tenant.id) else { continue }
            do { _ = try agent.applyQuota(tenant: id, tenant.quota) } catch { logger.warning("tenant \(tenant.name): quota as kernel limits: \(error)") }
        }
        let runSpecs = RunSpecBuilder(settings: settings, agent: agent)
        let reconciler = Reconciler(store: store, agent: agent, epoch: epoch, defaultPids: settings.layout.defaultPids,
                                    launchWidth: settings.launchWidth, logger: logger, makeRunSpec: runSpecs.make)
        let callers = CallerCache()
        let api = API(store: store, reconciler: reconciler, agent: agent, epoch: epoch, settings: settings, callers: callers)
        let router = Router(context: APIContext.self)
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: AuthMiddleware(store: store, limiter: RateLimiter(perSecond: settings.rateLimit, burst: settings.rateBurst),
                                              callers: callers))
        api.routes(router)
        let responder = router.buildResponder()

        // A socket left by a daemon that was killed is removed; one in use is refused by the lock above.
        unlink(settings.socketPath)
        var services: [any Service] = []
        // Idle connections are closed: a client that connects and sends nothing holds no slot.
        let http: HTTPServerBuilder = .http1(configuration: .init(idleTimeout: .seconds(120)))
        let unixApp = Application(responder: responder, server: http,
                                  configuration: .init(address: .unixDomainSocket(path: settings.socketPath), serverName: "berth"),
                                  onServerRunning: { _ in chmod(settings.socketPath, 0o666) },
                                  logger: quiet(logger))
        services.append(unixApp)
        if let listen = settings.listen {
            let (host, port) = try hostAndPort(listen)
            if let cert = settings.tlsCertificate, let key = settings.tlsKey {
                let tls = TLSConfiguration.makeServerConfiguration(
                    certificateChain: try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) },
                    privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
                services.append(Application(responder: responder, server: try .tls(.http1(configuration: .init(idleTimeout: .seconds(120))), tlsConfiguration: tls),
                                            configuration: .init(address: .hostname(host, port: port), serverName: "berth"), logger: quiet(logger)))
            } else {
                services.append(Application(responder: responder, server: http, configuration: .init(address: .hostname(host, port: port), serverName: "berth"),
                                            logger: quiet(logger)))
            }
        }
        services.append(reconciler)
        services.append(Housekeeper(store: store, agent: agent, epoch: epoch, holder: holder, settings: settings, logger: logger))
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) },
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet(logger)))
        logger.info("berth serve: listening on \(settings.socketPath), state in \(settings.stateDirectory), epoch \(epoch)")
        try await group.run()
        if settings.stopJobs {
            logger.info("stopping every job (--stop-jobs)")
            await reconciler.stopAll()
        }
        unlink(settings.socketPath)
    }

    static func quiet(_ logger: Logger) -> Logger {
        var l = logger
        l.logLevel = .warning
        return l
    }

    static func hostAndPort(_ text: String) throws -> (String, Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            throw BerthError.invalid("listen", "must be HOST:PORT", got: text)
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host, port)
    }

    static func lockStateDirectory(_ dir: String) throws -> Int32 {
        let path = dir + "/berth.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw BerthError(.system, "cannot open \(path): \(Sys.errnoText(errno))", errno: errno) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            throw BerthError(.system, "another berth serve is running with state directory \(dir)")
        }
        return fd
    }

    /// The operator token: made on first start, written to `<state>/operator.token` (0600).
    static func ensureOperatorToken(_ settings: DaemonSettings, store: any Store, epoch: Int64) async throws {
        let path = settings.operatorTokenPath
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == 0, (st.st_mode & 0o077) == 0 else {
                throw BerthError(.system, "\(path) must be a regular file owned by root with mode 0600 (not a symlink); remove it to make a new token")
            }
            guard let data = FileManager.default.contents(atPath: path) else { throw BerthError(.system, "cannot read \(path)") }
            let token = String(String(decoding: data, as: UTF8.self).prefix { !$0.isWhitespace })
            guard token.hasPrefix("berth_"), token.utf8.count == 70 else {
                throw BerthError(.system, "\(path) does not hold a Berth token; remove it to make a new one")
            }
            if try await store.principal(tokenHash: Tokens.hash(token)) == .operator { return }
            try await store.addToken(tenant: nil, hash: Tokens.hash(token), epoch: epoch)
            return
        }
        let token = Tokens.make()
        try await store.addToken(tenant: nil, hash: Tokens.hash(token), epoch: epoch)
        let tmp = path + ".tmp"
        unlink(tmp)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw BerthError(.system, "cannot write \(tmp): \(Sys.errnoText(errno))", errno: errno) }
        let bytes = Array((token + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        fsync(fd)
        close(fd)
        guard written == bytes.count, rename(tmp, path) == 0 else { throw BerthError(.system, "cannot write \(path)") }
    }

    /// Keeping a pidfd per run and cgroup files open needs more than the default 1024 fds.
    static func raiseFileLimit() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    }
}

/// Builds the run a job's spec asks for, with this host's policy.
struct RunSpecBuilder: Sendable {
    let settings: DaemonSettings
    let agent: Agent

    func make(_ job: Job, _ tenant: Tenant, _ runID: RunID) throws -> RunSpec {
        guard let jobID = JobID(job.id), let tenantID = TenantID(tenant.id) else {
            throw BerthError(.launch, "job \(job.id) of tenant \(tenant.id): malformed ids in the store")
        }
        let requested = job.spec.env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        var environment = try JobEnvironment.build(requested: requested, caller: [:])
        environment += ["BERTH_TENANT=\(tenant.name)", "BERTH_JOB_ID=\(job.id)", "BERTH_RUN_ID=\(runID)", "BERTH_JOB_NAME=\(job.spec.name)"]
        var spec = RunSpec(argv: job.spec.command, environment: environment, workingDirectory: job.spec.workingDirectory)
        spec.tenant = try TenantName(tenant.name)
        spec.tenantIdentity = TenantIdentity(id: tenantID, uid: tenant.uid)
        spec.jobID = jobID
        spec.runID = runID
        spec.resources = try Resources(parsing: job.spec.resources)
        spec.timeoutMillis = job.spec.deadlineMillis
        spec.makeWorkingDirectory = true
        spec.network = job.spec.network
        spec.logs = RunLogs(directory: agent.logDirectory(tenant: tenant.id, job: job.id, run: runID.rawValue), base: agent.logRoot,
                            maxBytes: settings.logMaxBytes, keep: settings.logKeep)
        return spec
    }
}
