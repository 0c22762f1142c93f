#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import BerthStore
import CBerthSys
import Hummingbird
import Synchronization

/// A request's context: who is calling, once the auth middleware has looked at the token.
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: Principal?
    /// The calling tenant's record (quota, state), looked up with its token.
    public var tenant: Tenant?
    public init(source: Source) { coreContext = .init(source: source) }
}

/// Bearer tokens: random, shown once, stored as their SHA-256.
public enum Tokens {
    /// A new token: `berth_` and 64 hex digits from the system's CSPRNG.
    public static func make() -> String {
        // The system generator reads the kernel's CSPRNG (getrandom).
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return "berth_" + hex(bytes)
    }

    /// The hash the store keeps.
    public static func hash(_ token: String) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        let bytes = Array(token.utf8)
        berth_sha256(bytes, bytes.count, &digest)
        return hex(digest)
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Resolves `Authorization: Bearer …` to a principal, and limits each tenant's request rate.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let store: any Store
    let limiter: RateLimiter
    let callers: CallerCache

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response) async throws -> Response {
        // Health and the API document need no token.
        if request.uri.path == "/v1/health" || request.uri.path == "/openapi.yaml" { return try await next(request, context) }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "), header.utf8.count < 512 else {
            throw APIError(.unauthorized, "missing bearer token: pass --token or set BERTH_TOKEN")
        }
        let hash = Tokens.hash(String(header.dropFirst(7)))
        let caller: CallerCache.Caller
        if let cached = callers.get(hash) {
            caller = cached
        } else {
            caller = try await lookUp(hash)
            callers.put(hash, caller)
        }
        let principal = caller.principal
        if case .tenant(let id, _) = principal, let wait = limiter.admit(id) {
            throw APIError(.tooManyRequests, "rate limit: at most \(limiter.perSecond) requests per second per tenant; retry in \(wait) s",
                           retryAfter: wait)
        }
        var context = context
        context.principal = principal
        context.tenant = caller.tenant
        return try await next(request, context)
    }

    /// The token's principal and, for a tenant, its record; a removed tenant's token is refused.
    func lookUp(_ hash: String) async throws -> CallerCache.Caller {
        let revoked = APIError(.unauthorized, "unknown or revoked token")
        guard let principal = try await store.principal(tokenHash: hash) else { throw revoked }
        guard case .tenant(let id, _) = principal else { return CallerCache.Caller(principal: principal, tenant: nil) }
        guard let tenant = try await store.tenant(id: id), tenant.state == "active" else { throw revoked }
        return CallerCache.Caller(principal: principal, tenant: tenant)
    }
}

/// Who a token hash is, kept for a second: a tenant's requests come one after another with
/// the same token, and two store reads per request cost more than the request's own work.
/// Every change this daemon makes to tenants, tokens or quotas clears it at once; a change
/// made through another node ([6/7]) is seen here within `ttlNanos`.
final class CallerCache: Sendable {
    struct Caller: Sendable {
        let principal: Principal
        let tenant: Tenant?
    }
    private struct Entry { let caller: Caller; let at: UInt64 }
    let ttlNanos: UInt64 = 1_000_000_000
    private let entries = Mutex<[String: Entry]>([:])

    func get(_ hash: String) -> Caller? {
        let now = Self.now()
        return entries.withLock { e in
            guard let entry = e[hash], now &- entry.at < ttlNanos else { return nil }
            return entry.caller
        }
    }

    func put(_ hash: String, _ caller: Caller) {
        let now = Self.now()
        entries.withLock { e in
            if e.count >= 10_000 { e.removeAll(keepingCapacity: true) }
            e[hash] = Entry(caller: caller, at: now)
        }
    }

    func clear() { entries.withLock { $0.removeAll() } }

    private static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// A token bucket per tenant: `perSecond` sustained, `burst` at once. 0 turns it off.
final class RateLimiter: Sendable {
    let perSecond: Int
    let burst: Int
    private struct Bucket { var tokens: Double; var at: Double }
    private let buckets = Mutex<[String: Bucket]>([:])

    init(perSecond: Int, burst: Int) {
        self.perSecond = perSecond
        self.burst = max(burst, perSecond)
    }

    /// nil if the request may go; else the seconds to wait (for Retry-After).
    func admit(_ key: String) -> Int? {
        guard perSecond > 0 else { return nil }
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let now = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
        return buckets.withLock { all in
            var b = all[key] ?? Bucket(tokens: Double(burst), at: now)
            b.tokens = min(Double(burst), b.tokens + (now - b.at) * Double(perSecond))
            b.at = now
            defer { all[key] = b }
            if b.tokens >= 1 { b.tokens -= 1; return nil }
            return max(1, Int(((1 - b.tokens) / Double(perSecond)).rounded(.up)))
        }
    }
}
