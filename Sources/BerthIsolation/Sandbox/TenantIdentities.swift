#if canImport(Glibc)
import Glibc
#endif
import BerthCore

/// Each tenant's own uid (and gid, the same number), allocated once from a configured range
/// and never root. Kept in a small file, `<state>/tenant-uids` (`name uid` per line), locked
/// with flock while read and extended; the store takes it over in the service issue.
public struct TenantIdentities: Sendable {
    public let file: String
    public let range: ClosedRange<UInt32>

    public static let defaultRange: ClosedRange<UInt32> = 200_000...299_999

    public init(stateDirectory: String, range: ClosedRange<UInt32> = TenantIdentities.defaultRange) {
        file = stateDirectory + "/tenant-uids"
        self.range = range
    }

    /// The tenant's uid, allocating the next free one in the range the first time.
    /// The state directory must exist (the `Launcher` makes it).
    public func uid(for tenant: TenantName) throws -> UInt32 {
        precondition(range.lowerBound > 0, "tenant uids are never root")
        let fd = try Sys.retrying(.system, "open \(file)") { open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        defer { close(fd) }
        try Sys.retrying(.system, "flock \(file)") { flock(fd, LOCK_EX) }
        var entries: [String: UInt32] = [:]
        for line in (Sys.read(file, limit: 1 << 24) ?? "").split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let uid = UInt32(parts[1]) { entries[String(parts[0])] = uid }
        }
        if let uid = entries[tenant.rawValue] { return uid }
        let used = Set(entries.values)
        guard let uid = range.first(where: { !used.contains($0) }) else {
            throw BerthError(.system, "no free tenant uid left in \(range.lowerBound)...\(range.upperBound)")
        }
        let line = Array("\(tenant.rawValue) \(uid)\n".utf8)
        lseek(fd, 0, SEEK_END)
        try Sys.retrying(.system, "write \(file)") { line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
        try Sys.retrying(.system, "fsync \(file)") { fsync(fd) }
        return uid
    }
}
