import BerthAgent
import BerthCore
import BerthIsolation
import BerthScheduler
import BerthSpec
import BerthStore
import FoundationEssentials
import Hummingbird
import Synchronization

/// The HTTP API's handlers. A tenant sees and acts on its own jobs only: another tenant's job
/// answers 404 exactly as a missing one does. Operator endpoints answer 403 to tenants.
public struct API: Sendable {
    let store: any Store
    let reconciler: Reconciler
    let agent: Agent
    let epoch: Int64
    let settings: DaemonSettings
    /// Cleared on every change to tenants, tokens or quotas.
    let callers: CallerCache
    /// Requests being handled right now (a followed log counts while its handler runs).
    let inProgress = RequestCount()
    static let maxSpecBytes = 1 << 20

    /// One route: the router is built from this list, and a test compares it with the
    /// OpenAPI document, so the two cannot drift apart.
    public struct Endpoint: Sendable {
        public let method: String
        public let path: String
        let handle: @Sendable (API, Request, APIContext) async throws -> Response
    }

    public static let endpoints: [Endpoint] = [
        Endpoint(method: "GET", path: "/v1/health") { _, _, _ in try JSON.response(["status": "ok"]) },
        Endpoint(method: "GET", path: "/openapi.yaml") { _, _, _ in
            Response(status: .ok, headers: [.contentType: "application/yaml"], body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.text)))
        },
        Endpoint(method: "POST", path: "/v1/jobs") { api, r, c in try await api.submit(r, c) },
        Endpoint(method: "GET", path: "/v1/jobs") { api, r, c in try await api.listJobs(r, c) },
        Endpoint(method: "GET", path: "/v1/jobs/{job}") { api, r, c in try await api.jobStatus(r, c) },
        Endpoint(method: "DELETE", path: "/v1/jobs/{job}") { api, r, c in try await api.setDesired(r, c, .removed) },
        Endpoint(method: "POST", path: "/v1/jobs/{job}/stop") { api, r, c in try await api.setDesired(r, c, .stopped) },
        Endpoint(method: "GET", path: "/v1/jobs/{job}/logs") { api, r, c in try await api.logs(r, c) },
        Endpoint(method: "GET", path: "/v1/jobs/{job}/events") { api, r, c in try await api.events(r, c) },
        Endpoint(method: "GET", path: "/v1/tenants") { api, _, c in
            // A tenant sees itself only; the operator every tenant.
            if case .tenant(let id, _) = c.principal { return try JSON.response(try await api.store.tenant(id: id).map { [$0] } ?? []) }
            return try JSON.response(try await api.store.tenants())
        },
        Endpoint(method: "POST", path: "/v1/tenants") { api, r, c in try await api.addTenant(r, c) },
        Endpoint(method: "DELETE", path: "/v1/tenants/{name}") { api, r, c in try await api.removeTenant(r, c) },
        Endpoint(method: "POST", path: "/v1/tenants/{name}/tokens") { api, r, c in try await api.addToken(r, c) },
        Endpoint(method: "PUT", path: "/v1/tenants/{name}/quota") { api, r, c in try await api.setQuota(r, c) },
        Endpoint(method: "GET", path: "/v1/quota") { api, r, c in try await api.quota(r, c) },
    ]

    func routes(_ router: Router<APIContext>) {
        for endpoint in Self.endpoints {
            guard let method = HTTPRequest.Method(endpoint.method) else { continue }
            router.on(RouterPath(endpoint.path), method: method) { request, context in
                inProgress.value.add(1, ordering: .relaxed)
                defer { inProgress.value.subtract(1, ordering: .relaxed) }
                return try await endpoint.handle(self, request, context)
            }
        }
    }

    // MARK: - Jobs

    func submit(_ request: Request, _ context: APIContext) async throws -> Response {
        let tenant = try await callerTenant(request, context)
        var request = request
        let body = try await request.collectBody(upTo: Self.maxSpecBytes)
        let spec = try JobSpecParser.parse(bytes: Array(body.readableBytesView))
        if JobID(spec.name) != nil {
            throw APIError(.unprocessableContent, "name: must not look like a job id (j and 16 hex digits): jobs are addressed by both", field: "name")
        }
        if case .tenant = context.principal {
            if spec.network == .host {
                throw APIError(.forbidden, "network: 'host' is for operators only; use 'none'", field: "network")
            }
            // The daemon would resolve the path as root: a tenant could learn what exists.
            if spec.resources.ioDevice != nil {
                throw APIError(.forbidden, "resources.io-device: is for operators only; I/O limits apply to the device of the job's scratch", field: "resources.io-device")
            }
        }
        if spec.network == .shaped {
            throw APIError(.unprocessableContent, "network: 'shaped' is not available on this node yet; use 'none'", field: "network")
        }
        let demand = spec.demand(defaultPids: settings.layout.defaultPids)
        if let never = Admission.neverFits(spec, demand: demand, quota: tenant.quota) { throw never }
        let dryRun = request.uri.queryParameters.get("dry_run") == "true"
        if dryRun {
            if try await store.job(tenantID: tenant.id, name: spec.name) != nil {
                throw APIError(.conflict, "name: this tenant already has a job named \(spec.name)", field: "name")
            }
            let used = try await store.admittedDemand(defaultPids: settings.layout.defaultPids)[tenant.id] ?? Demand()
            let reason = Admission.check(demand, used: used, quota: tenant.quota)
            let job = Job(id: "", tenantID: tenant.id, spec: spec, reason: reason, createdAt: 0, updatedAt: 0)
            return try JSON.response(SubmitResponse(job: job, created: false, admissible: reason == nil, reason: reason))
        }
        let key = request.headers.first { $0.name.canonicalName == "idempotency-key" }?.value
        if let k = key {
            guard (1...128).contains(k.utf8.count), k.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
                throw APIError(.badRequest, "Idempotency-Key: must be 1 to 128 printable ASCII characters", field: "Idempotency-Key")
            }
        }
        // A job that fits now is stored `starting` and launched straight away: one commit, no
        // pass. One that does not is stored with the reason it waits: a pass would find the
        // same, so none is asked for; whatever frees quota (a run's end, a new quota) asks.
        let startAtOnce = StartAtOnce(node: agent.node, runID: RunID().rawValue, rule: reconciler.admissionRule)
        let (job, created) = try await store.submit(tenantID: tenant.id, spec: spec, idempotencyKey: key, epoch: epoch, startAtOnce: startAtOnce)
        if created && job.phase == .starting {
            let alone = inProgress.value.load(ordering: .relaxed) == 1
            await reconciler.launchSubmitted(job, tenant: tenant, inline: alone)
        }
        return try JSON.response(SubmitResponse(job: job, created: created, admissible: true, reason: nil), status: created ? .created : .ok)
    }

    func listJobs(_ request: Request, _ context: APIContext) async throws -> Response {
        switch context.principal {
        case .tenant(let id, _):
            return try JSON.response(try await store.jobs(tenantID: id))
        default:
            if let name = request.uri.queryParameters.get("tenant") {
                guard let tenant = try await store.tenant(named: String(name)) else { throw APIError(.notFound, "tenant \(name) not found") }
                return try JSON.response(try await store.jobs(tenantID: tenant.id))
            }
            return try JSON.response(try await store.jobs(tenantID: nil))
        }
    }

    func jobStatus(_ request: Request, _ context: APIContext) async throws -> Response {
        let job = try await resolveJob(request, context)
        var runs = try await store.runs(jobID: job.id)
        for i in runs.indices where runs[i].state == .running && runs[i].pid == nil {
            runs[i].pid = liveStatus(runs[i])?.pid
        }
        let events = try await store.events(jobID: job.id, after: 0, limit: 50)
        let tenant = try await store.tenant(id: job.tenantID)
        return try JSON.response(JobStatus(job: job, tenant: tenant?.name ?? job.tenantID, runs: Array(runs.prefix(20)), events: events))
    }

    func setDesired(_ request: Request, _ context: APIContext, _ desired: DesiredState) async throws -> Response {
        let found = try await resolveJob(request, context)
        let changed = try await store.transition(jobID: found.id, saving: nil, epoch: epoch) { j in
            guard j.desired != desired, j.desired != .removed else { return nil }
            j.desired = desired
            return Event(at: 0, tenantID: j.tenantID, jobID: j.id, runID: nil, kind: desired == .removed ? "remove" : "stop",
                         message: desired == .removed ? "removal requested" : "stop requested")
        }
        var current = changed
        if current == nil { current = try await store.job(id: found.id) }   // nothing to change: as it is now
        guard let job = current else { throw APIError(.notFound, "job not found") }
        reconciler.poke()
        return try JSON.response(job, status: desired == .removed ? .accepted : .ok)
    }

    func events(_ request: Request, _ context: APIContext) async throws -> Response {
        let job = try await resolveJob(request, context)
        let after = Int64(try Query.int(request, "after", 0...Int.max) ?? 0)
        let wait = try Query.int(request, "wait", 0...60) ?? 0
        let deadline = ContinuousClock.now + .seconds(wait)
        while true {
            let found = try await store.events(jobID: job.id, after: after, limit: 500)
            if !found.isEmpty || ContinuousClock.now >= deadline { return try JSON.response(found) }
            // The job may have been removed while we wait: then its events are gone too.
            try await Task.sleep(for: .milliseconds(100))
            if try await store.job(id: job.id) == nil { return try JSON.response([Event]()) }
        }
    }

    func logs(_ request: Request, _ context: APIContext) async throws -> Response {
        let job = try await resolveJob(request, context)
        let streamName = request.uri.queryParameters.get("stream").map { String($0) } ?? "stdout"
        guard streamName == "stdout" || streamName == "stderr" else {
            throw APIError(.badRequest, "stream: must be stdout or stderr", field: "stream")
        }
        let tail = try Query.int(request, "tail", 0...1_000_000)
        let follow = request.uri.queryParameters.get("follow") == "true"
        guard let run = try await store.runs(jobID: job.id).first else {
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init())
        }
        let path = agent.logDirectory(tenant: job.tenantID, job: job.id, run: run.id) + "/\(streamName).log"
        let store = self.store
        let reader = LogReader(path: path, tail: tail)
        return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody { (writer: inout any ResponseBodyWriter) in
            try await reader.stream(follow: follow, into: &writer) {
                // Follow ends once the run has ended (the shim has closed the file), or is gone
                // with its job, or its tenant's token was revoked.
                guard let r = try? await store.run(id: run.id), r.state != .ended else { return true }
                guard let t = try? await store.tenant(id: job.tenantID), t.state == "active" else { return true }
                return false
            }
            try await writer.finish(nil)
        })
    }

    // MARK: - Tenants

    func addTenant(_ request: Request, _ context: APIContext) async throws -> Response {
        try requireOperator(context)
        let body = try await JSON.decode(TenantRequest.self, from: request, keys: ["name"])
        let name = try TenantName(body.name)
        let token = Tokens.make()
        let accounts = try HostAccounts().takenIDs()
        let tenant = try await store.createTenant(name: name.rawValue, uidRange: settings.layout.uidRange,
                                                  uidTaken: { accounts.contains($0) }, tokenHash: Tokens.hash(token), epoch: epoch)
        return try JSON.response(TokenResponse(tenant: tenant, token: token), status: .created)
    }

    func removeTenant(_ request: Request, _ context: APIContext) async throws -> Response {
        try requireOperator(context)
        let name = try context.parameters.require("name")
        let releaseAt = try await store.now() + Int64(settings.tenantGraceMillis)
        let tenant = try await store.removeTenant(named: name, releaseAt: releaseAt, epoch: epoch)
        callers.clear()
        reconciler.poke()
        return try JSON.response(tenant, status: .accepted)
    }

    func addToken(_ request: Request, _ context: APIContext) async throws -> Response {
        try requireOperator(context)
        let name = try context.parameters.require("name")
        guard let tenant = try await store.tenant(named: name), tenant.state == "active" else { throw APIError(.notFound, "tenant \(name) not found") }
        let token = Tokens.make()
        try await store.addToken(tenant: name, hash: Tokens.hash(token), epoch: epoch)
        return try JSON.response(TokenResponse(tenant: tenant, token: token), status: .created)
    }

    func setQuota(_ request: Request, _ context: APIContext) async throws -> Response {
        try requireOperator(context)
        let name = try context.parameters.require("name")
        let body = try await JSON.decode(QuotaRequest.self, from: request, keys: ["cpu", "memory", "io", "network", "pids", "jobs"])
        guard let tenant = try await store.tenant(named: name) else { throw APIError(.notFound, "tenant \(name) not found") }
        let quota = try QuotaParser.apply(body, to: tenant.quota)
        // The kernel's limits first: one it refuses (a memory limit below what the tenant's runs
        // use now, on v1) is a 409 and the stored quota stays as it was.
        if let id = TenantID(tenant.id) {
            do {
                for warning in try agent.applyQuota(tenant: id, quota) { context.logger.warning("tenant \(name): \(warning)") }
            } catch let e as BerthError {
                throw APIError(.conflict, "the tenant's cgroup refused the quota: \(e.message)")
            }
        }
        let updated = try await store.setQuota(tenant: name, quota: quota, epoch: epoch)
        callers.clear()
        reconciler.poke()
        return try JSON.response(updated)
    }

    func quota(_ request: Request, _ context: APIContext) async throws -> Response {
        var tenants: [Tenant]
        switch context.principal {
        case .tenant(let id, _):
            tenants = try await store.tenant(id: id).map { [$0] } ?? []
        default:
            tenants = try await store.tenants()
            if let name = request.uri.queryParameters.get("tenant") { tenants = tenants.filter { $0.name == name } }
        }
        var out: [QuotaUsage] = []
        let demand = try await store.admittedDemand(defaultPids: settings.layout.defaultPids)
        for tenant in tenants {
            let jobs = try await store.jobs(tenantID: tenant.id)
            let used = demand[tenant.id] ?? Demand()
            let pending = jobs.filter { $0.desired == .running && ($0.phase == .pending) }.count
            out.append(QuotaUsage(tenant: tenant.name, quota: tenant.quota, used: used, pendingJobs: pending))
        }
        return try JSON.response(out)
    }

    // MARK: - Who may see what

    func requireOperator(_ context: APIContext) throws {
        guard context.principal == .operator else { throw APIError(.forbidden, "this endpoint is for the operator") }
    }

    /// The tenant a submission is for: the caller's own, or for the operator `?tenant=NAME`.
    func callerTenant(_ request: Request, _ context: APIContext) async throws -> Tenant {
        switch context.principal {
        case .tenant(let id, let name):
            if let other = request.uri.queryParameters.get("tenant"), other != name {
                throw APIError(.forbidden, "tenant: a tenant submits for itself only", field: "tenant")
            }
            // Looked up with the token, active then (AuthMiddleware).
            guard let t = context.tenant, t.id == id else { throw APIError(.unauthorized, "unknown or revoked token") }
            return t
        default:
            guard let name = request.uri.queryParameters.get("tenant") else {
                throw APIError(.badRequest, "tenant: the operator submits for a tenant: use --tenant NAME (?tenant=NAME)", field: "tenant")
            }
            guard let t = try await store.tenant(named: String(name)), t.state == "active" else { throw APIError(.notFound, "tenant \(name) not found") }
            return t
        }
    }

    /// The job named by `{job}` (an id, or a name within the caller's tenant). Another tenant's
    /// job is reported exactly as a missing one.
    func resolveJob(_ request: Request, _ context: APIContext) async throws -> Job {
        let key = try context.parameters.require("job")
        let notFound = APIError(.notFound, "job \(BerthError.printable(key)) not found")
        var job: Job?
        if JobID(key) != nil {
            job = try await store.job(id: key)
        } else {
            switch context.principal {
            case .tenant(let id, _): job = try await store.job(tenantID: id, name: key)
            default:
                if let name = request.uri.queryParameters.get("tenant"), let t = try await store.tenant(named: String(name)) {
                    job = try await store.job(tenantID: t.id, name: key)
                }
            }
        }
        guard let job else { throw notFound }
        if case .tenant(let id, _) = context.principal, job.tenantID != id { throw notFound }
        return job
    }

    func liveStatus(_ run: Run) -> ShimStatus? {
        guard let id = RunID(run.id) else { return nil }
        return ShimStatus.read(agent.launcher.statusPath(id))
    }
}

/// Query parameters, strictly: a value that is there must be valid.
enum Query {
    static func int(_ request: Request, _ name: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard text.count <= 19, let v = Int(text), range.contains(v) else {
            throw APIError(.badRequest, "\(name): must be a whole number from \(range.lowerBound) to \(range.upperBound)", field: name)
        }
        return v
    }
}

/// A count shared by every copy of the `API` value.
final class RequestCount: Sendable {
    let value = Atomic<Int>(0)
}
