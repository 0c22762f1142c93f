#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AsyncHTTPClient
import BerthCore
import NIOCore
import NIOHTTP1
import NIOPosix

/// A client of the Berth API (JSON over HTTP, on the daemon's Unix socket or TCP), one typed
/// method per route. Holds one `HTTPClient`: call `shutdown()` when done.
///
/// Every method throws `ClientError`: `.unreachable` when no daemon answers, `.api` with the
/// status and `APIErrorBody` when it refuses, `.badResponse` when its answer is not the JSON expected.
public struct APIClient: Sendable {
    public let endpoint: Endpoint
    /// Sent as `Authorization: Bearer TOKEN`; nil sends none (only `/v1/health` allows that).
    public let token: String?
    private let http: HTTPClient

    /// A plain request's deadline; long polls get theirs plus this, followed logs none.
    static let requestTimeout: TimeAmount = .seconds(60)
    /// The largest JSON answer read.
    static let maxBody = 64 << 20

    /// A client of the daemon at `endpoint`. Connecting times out after 5 seconds; the socket
    /// path or address is checked when the first request is made.
    public init(endpoint: Endpoint, token: String?) {
        self.endpoint = endpoint
        self.token = token
        var configuration = HTTPClient.Configuration()
        // No read timeout: a followed log may stay quiet for hours. Each request has a deadline instead.
        configuration.timeout = .init(connect: .seconds(5), read: nil)
        configuration.redirectConfiguration = .disallow
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// Closes the connections. Call once, after the last request.
    public func shutdown() async {
        try? await http.shutdown()
    }

    // MARK: Routes

    /// `GET /v1/health`: true when the daemon answers `{"status":"ok"}`.
    public func health() async throws -> Bool {
        struct Health: Decodable { var status: String }
        let health: Health = try await call(.GET, "/v1/health")
        return health.status == "ok"
    }

    /// `POST /v1/jobs`: submits `spec`, the spec file's bytes as written (YAML or JSON), for
    /// the caller's tenant (the operator names `tenant`). `dryRun` validates and says whether
    /// it would start now, storing nothing. A second submission with the same
    /// `idempotencyKey` answers the first (`created` false).
    public func submit(spec: [UInt8], tenant: String? = nil, dryRun: Bool = false, idempotencyKey: String? = nil) async throws -> SubmitResponse {
        var headers = [("Content-Type", "application/yaml")]
        if let idempotencyKey { headers.append(("Idempotency-Key", idempotencyKey)) }
        let query = [("dry_run", dryRun ? "true" : nil), ("tenant", tenant)]
        return try await call(.POST, "/v1/jobs", query: query, body: spec, headers: headers)
    }

    /// `GET /v1/jobs`: the caller's jobs; for the operator all of them, or `tenant`'s.
    public func jobs(tenant: String? = nil) async throws -> [Job] {
        try await call(.GET, "/v1/jobs", query: [("tenant", tenant)])
    }

    /// `GET /v1/jobs/{job}`: a job with its runs and recent events. `job` is an id or a name
    /// within the caller's tenant; the operator names `tenant` to find a job by name.
    public func status(job: String, tenant: String? = nil) async throws -> JobStatus {
        try await call(.GET, "/v1/jobs/" + percentEncoded(job), query: [("tenant", tenant)])
    }

    /// `POST /v1/jobs/{job}/stop`: asks the job to stop (its run gets SIGTERM, then the grace period).
    public func stop(job: String, tenant: String? = nil) async throws -> Job {
        try await call(.POST, "/v1/jobs/" + percentEncoded(job) + "/stop", query: [("tenant", tenant)])
    }

    /// `DELETE /v1/jobs/{job}`: stops the job, then removes it (202: under way).
    public func remove(job: String, tenant: String? = nil) async throws -> Job {
        try await call(.DELETE, "/v1/jobs/" + percentEncoded(job), query: [("tenant", tenant)])
    }

    /// `GET /v1/jobs/{job}/logs`: the job's output as it comes. `tail` keeps the last lines;
    /// `follow` keeps the stream open until the job's run ends and its log is drained.
    public func logs(job: String, tenant: String? = nil, stream: LogStream = .stdout, tail: Int? = nil, follow: Bool = false) async throws -> LogChunks {
        let path = "/v1/jobs/" + percentEncoded(job) + "/logs"
        let query = [("stream", stream.rawValue), ("tail", tail.map(String.init)), ("follow", follow ? "true" : nil), ("tenant", tenant)]
        let deadline: NIODeadline = follow ? .distantFuture : .now() + .minutes(10)
        let response = try await send(.GET, path, query: query, deadline: deadline)
        try await check(response, route: "GET " + path)
        return LogChunks(body: response.body, route: "GET " + path)
    }

    /// `GET /v1/jobs/{job}/events`: the job's events with a revision after `after`, oldest first.
    /// A long poll: answers at once when there are some, else after up to `wait` seconds (at most 60).
    public func events(job: String, tenant: String? = nil, after: Int64 = 0, wait: Int = 0) async throws -> [Event] {
        let wait = min(max(wait, 0), 60)
        let query: [(String, String?)] = [("after", String(after)), ("wait", String(wait)), ("tenant", tenant)]
        let deadline = NIODeadline.now() + TimeAmount.seconds(Int64(wait)) + Self.requestTimeout
        return try await call(.GET, "/v1/jobs/" + percentEncoded(job) + "/events", query: query, deadline: deadline)
    }

    /// `GET /v1/tenants` (operator).
    public func tenants() async throws -> [Tenant] {
        try await call(.GET, "/v1/tenants")
    }

    /// `POST /v1/tenants` (operator): makes the tenant and its first token, shown only now.
    public func addTenant(name: String) async throws -> TokenResponse {
        try await call(.POST, "/v1/tenants", body: try encode(TenantRequest(name: name)))
    }

    /// `DELETE /v1/tenants/{name}` (operator): stops and removes its jobs, then releases it (202).
    public func removeTenant(name: String) async throws -> Tenant {
        try await call(.DELETE, "/v1/tenants/" + percentEncoded(name))
    }

    /// `POST /v1/tenants/{name}/tokens` (operator): another token for the tenant, shown only now.
    public func createToken(tenant: String) async throws -> TokenResponse {
        try await call(.POST, "/v1/tenants/" + percentEncoded(tenant) + "/tokens")
    }

    /// `PUT /v1/tenants/{name}/quota` (operator): sets the limits given, `"none"` removes one.
    public func setQuota(tenant: String, _ request: QuotaRequest) async throws -> Tenant {
        try await call(.PUT, "/v1/tenants/" + percentEncoded(tenant) + "/quota", body: try encode(request))
    }

    /// `GET /v1/quota`: each tenant's quota beside its use (a tenant sees its own; the operator
    /// all, or `tenant`'s).
    public func quota(tenant: String? = nil) async throws -> [QuotaUsage] {
        try await call(.GET, "/v1/quota", query: [("tenant", tenant)])
    }

    // MARK: HTTP

    private func call<T: Decodable>(_ method: HTTPMethod, _ path: String, query: [(String, String?)] = [],
                                    body: [UInt8]? = nil, headers: [(String, String)] = [],
                                    deadline: NIODeadline? = nil) async throws -> T {
        let route = "\(method) \(path)"
        let response = try await send(method, path, query: query, body: body, headers: headers,
                                      deadline: deadline ?? .now() + Self.requestTimeout)
        let bytes = try await collect(response, route: route)
        try check(response, bytes: bytes)
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            throw ClientError(code: .badResponse, message: "the daemon's answer to \(route) is not the JSON expected: \(describe(error))")
        }
    }

    private func send(_ method: HTTPMethod, _ path: String, query: [(String, String?)], body: [UInt8]? = nil,
                      headers: [(String, String)] = [], deadline: NIODeadline) async throws -> HTTPClientResponse {
        let pairs = query.compactMap { key, value in value.map { key + "=" + percentEncoded($0) } }
        var request = HTTPClientRequest(url: try endpoint.url(path + (pairs.isEmpty ? "" : "?" + pairs.joined(separator: "&"))))
        request.method = method
        request.headers.add(name: "User-Agent", value: "berth")
        request.headers.add(name: "Accept", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer " + token) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            if !headers.contains(where: { $0.0 == "Content-Type" }) {
                request.headers.add(name: "Content-Type", value: "application/json")
            }
            request.body = .bytes(body)
        }
        do {
            return try await http.execute(request, deadline: deadline)
        } catch {
            throw connectionError(error, route: "\(method) \(path)")
        }
    }

    private func collect(_ response: HTTPClientResponse, route: String) async throws -> [UInt8] {
        do {
            let buffer = try await response.body.collect(upTo: Self.maxBody)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw ClientError(code: .badResponse, message: "the daemon's answer to \(route) is larger than \(Self.maxBody >> 20) MiB")
        } catch {
            throw connectionError(error, route: route)
        }
    }

    /// Throws the API error when `response` is not a success.
    private func check(_ response: HTTPClientResponse, route: String) async throws {
        guard !(200..<300).contains(response.status.code) else { return }
        try check(response, bytes: try await collect(response, route: route))
    }

    private func check(_ response: HTTPClientResponse, bytes: [UInt8]) throws {
        let status = Int(response.status.code)
        guard !(200..<300).contains(status) else { return }
        let body = try? JSONDecoder().decode(APIErrorBody.self, from: Data(bytes))
        let retryAfter = response.headers.first(name: "Retry-After").flatMap { Int($0.filter { !$0.isWhitespace }) }
        throw ClientError.api(status: status, body: body, raw: bytes, retryAfter: retryAfter)
    }

    private func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        Array(try JSONEncoder().encode(value))
    }

    /// A transport failure as people should read it: the daemon is not there, or it hung up.
    private func connectionError(_ error: any Error, route: String) -> ClientError {
        if let error = error as? ClientError { return error }
        let unreachable = { (why: String) in
            ClientError(code: .unreachable, message: "cannot reach the daemon at \(endpoint): \(why) (\(endpoint.hint))")
        }
        if let error = error as? NIOConnectionError, error.dnsAError != nil || error.dnsAAAAError != nil {
            return unreachable("no such host")
        }
        if let code = errnoCode(of: error) {
            switch code {
            case ENOENT: return unreachable(isSocket ? "no such socket" : "no such file")
            case ECONNREFUSED: return unreachable("connection refused")
            case EACCES, EPERM: return unreachable("permission denied")
            case ENOTSOCK: return unreachable("not a socket")
            default: return unreachable(String(cString: strerror(code)).lowercased())
            }
        }
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return unreachable("no connection within 5 seconds")
            case .deadlineExceeded: return ClientError(code: .unreachable, message: "the daemon at \(endpoint) did not answer \(route) in time")
            case .remoteConnectionClosed: return ClientError(code: .badResponse, message: "the daemon at \(endpoint) closed the connection during \(route)")
            default: break
            }
        }
        if let error = error as? ChannelError, case .connectTimeout = error {
            return unreachable("no connection within 5 seconds")
        }
        return ClientError(code: .unreachable, message: "cannot reach the daemon at \(endpoint): \(error) (\(endpoint.hint))")
    }

    private var isSocket: Bool {
        if case .socket = endpoint { return true }
        return false
    }
}

/// Which of a job's outputs to read.
public enum LogStream: String, Sendable, CaseIterable {
    case stdout, stderr
}

/// A job's log as it arrives: chunks of bytes, in order, cut anywhere (mid-line, mid-character).
public struct LogChunks: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    let body: HTTPClientResponse.Body
    let route: String

    public struct AsyncIterator: AsyncIteratorProtocol {
        var inner: HTTPClientResponse.Body.AsyncIterator
        let route: String

        public mutating func next() async throws -> [UInt8]? {
            do {
                return try await inner.next().map { Array($0.readableBytesView) }
            } catch {
                throw ClientError(code: .badResponse, message: "the log stream from \(route) was cut short: \(error)")
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(inner: body.makeAsyncIterator(), route: route)
    }
}

/// The errno under a NIO or AsyncHTTPClient connection error, when there is one.
private func errnoCode(of error: any Error) -> Int32? {
    if let error = error as? IOError { return error.errnoCode }
    if let error = error as? NIOConnectionError {
        return error.connectionErrors.lazy.compactMap { ($0.error as? IOError)?.errnoCode }.first
    }
    return nil
}

/// Decoding errors in one line: what was wrong, and where.
private func describe(_ error: any Error) -> String {
    guard let error = error as? DecodingError else { return "\(error)" }
    func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "the top level" : keys.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
    }
    switch error {
    case .keyNotFound(let key, let context): return "missing \(key.stringValue) at \(path(context.codingPath))"
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
        return "\(context.debugDescription) at \(path(context.codingPath))"
    @unknown default: return "\(error)"
    }
}
