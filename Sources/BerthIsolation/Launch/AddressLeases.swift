#if canImport(Glibc)
import Glibc
#endif
import BerthCore

/// Addresses for shaped runs: a /30 of the operator's range per run, the first host address
/// the host end's (the run's gateway), the second the run's eth0. A lease is a file named by
/// the /30's index, made with O_EXCL and holding the run's id, so processes that launch at
/// once (`berth run`, the daemon) never share one; the run's shim removes it at the end.
public struct AddressLeases: Sendable {
    public let directory: String
    /// The range's first address and how many /30s it holds.
    let base: UInt32
    let count: Int

    /// `range` is `A.B.C.D/N` with N from 8 to 29.
    public init(range: String, directory: String) throws {
        let parts = range.split(separator: "/")
        guard parts.count == 2, let prefix = Int(parts[1]), (8...29).contains(prefix), let address = Self.parse(String(parts[0])) else {
            throw BerthError.invalid("shaped-network", "must be an IPv4 range such as 10.213.0.0/16, /8 to /29", got: range)
        }
        let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << (32 - prefix)
        base = address & mask
        count = 1 << (32 - prefix - 2)
        self.directory = directory
    }

    /// A leased /30.
    public struct Lease: Sendable, Equatable {
        public let path: String
        /// The host end's address with its prefix (`10.213.0.1/30`), the run's gateway.
        public let gateway: String
        /// The run's eth0 (`10.213.0.2/30`).
        public let address: String
    }

    /// Leases the first free /30 for `run`. Throws when the range is used up.
    /// The directory must exist (the launcher makes it with its others).
    public func lease(for run: RunID) throws -> Lease {
        // Start at a place the run's id picks, so that launches at once rarely race for one.
        let start = Int(truncatingIfNeeded: run.rawValue.hashValue.magnitude % UInt(count))
        for step in 0..<count {
            let index = (start + step) % count
            let path = "\(directory)/\(index)"
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            if fd < 0 {
                if errno == EEXIST { continue }
                throw BerthError(.system, "cannot lease an address in \(directory): \(Sys.errnoText(errno))", errno: errno)
            }
            _ = run.rawValue.withCString { write(fd, $0, strlen($0)) }
            close(fd)
            let net = base + UInt32(index) * 4
            return Lease(path: path, gateway: Self.format(net + 1) + "/30", address: Self.format(net + 2) + "/30")
        }
        throw BerthError(.unsupported, "network: every address of the shaped range is leased (\(count) runs); the operator can widen shaped-network", field: "network")
    }

    static func parse(_ text: String) -> UInt32? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4 else { return nil }
        var value: UInt32 = 0
        for o in octets {
            guard (1...3).contains(o.count), o.allSatisfy({ $0.isASCII && $0.isNumber }), let n = UInt32(o), n <= 255 else { return nil }
            value = value << 8 | n
        }
        return value
    }

    static func format(_ value: UInt32) -> String {
        "\(value >> 24).\(value >> 16 & 255).\(value >> 8 & 255).\(value & 255)"
    }
}
