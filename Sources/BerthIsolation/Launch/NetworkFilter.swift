#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import Synchronization

/// A destination shaped runs may reach: `CIDR` (any port) or `CIDR:PORT` (TCP and UDP).
public struct AllowRule: Sendable, Equatable {
    public let cidr: String
    public let port: Int?

    /// Parses `10.0.0.0/8`, `10.1.2.3/32:9092`; `field` names the setting in errors.
    public init(parsing text: String, field: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count) else { throw BerthError.invalid(field, "must be CIDR or CIDR:PORT, such as 10.0.0.0/8:9092", got: text) }
        let net = parts[0].split(separator: "/", omittingEmptySubsequences: false)
        guard net.count == 2, AddressLeases.parse(String(net[0])) != nil, let prefix = Int(net[1]), (0...32).contains(prefix),
              net[1].allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw BerthError.invalid(field, "must be an IPv4 CIDR such as 10.0.0.0/8, optionally with :PORT", got: text)
        }
        cidr = String(parts[0])
        if parts.count == 2 {
            guard parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let p = Int(parts[1]), (1...65535).contains(p) else {
                throw BerthError.invalid(field, "the port must be 1 to 65535", got: text)
            }
            port = p
        } else {
            port = nil
        }
    }
}

/// The host's filter for shaped runs: one nftables table, `inet berth`, keyed on the runs'
/// host ends (`bh*`). A run reaches nothing on the host itself (the input hook: not the API,
/// not a database, not any service on any host address), only the operator's allow-listed
/// destinations through it (the forward hook), and nothing outside reaches a run unless it
/// answers the run's own connection. Runs reach one another only if the allow-list holds
/// their range. Installed whole and atomically with `nft -f`, replacing an earlier one.
public enum NetworkFilter {
    public static let table = "berth"
    /// The allow-list this process installed last; nil: none, or removed.
    private static let installed = Mutex<[AllowRule]?>(nil)

    /// The ruleset for `allow`.
    static func ruleset(allow: [AllowRule]) -> String {
        let ports = allow.filter { $0.port != nil }.map { "\($0.cidr) . \($0.port!)" }
        let anyPort = allow.filter { $0.port == nil }.map(\.cidr)
        func elements(_ list: [String]) -> String { list.isEmpty ? "" : " elements = { \(list.joined(separator: ", ")) }" }
        return """
        table inet \(table)
        delete table inet \(table)
        table inet \(table) {
            set allowed_ports { type ipv4_addr . inet_service; flags interval;\(elements(ports)) }
            set allowed { type ipv4_addr; flags interval;\(elements(anyPort)) }
            chain input {
                type filter hook input priority -10; policy accept;
                iifname "bh*" drop
            }
            chain forward {
                type filter hook forward priority -10; policy accept;
                iifname "bh*" ct state established,related accept
                oifname "bh*" ct state established,related accept
                iifname "bh*" ip daddr . tcp dport @allowed_ports accept
                iifname "bh*" ip daddr . udp dport @allowed_ports accept
                iifname "bh*" ip daddr @allowed accept
                iifname "bh*" drop
                oifname "bh*" drop
            }
        }

        """
    }

    /// Installs the table for `allow` unless this process already did with the same list.
    public static func ensure(allow: [AllowRule]) throws {
        try installed.withLock { current in
            if current == allow { return }
            try run(ruleset(allow: allow), what: "install the table inet \(table)")
            current = allow
        }
    }

    /// Removes the table (nothing when it is not there).
    public static func remove() throws {
        try installed.withLock { current in
            try run("table inet \(table)\ndelete table inet \(table)\n", what: "remove the table inet \(table)")
            current = nil
        }
    }

    /// `nft -f -` with `text` on its stdin; its stderr in the error.
    static func run(_ text: String, what: String) throws {
        let candidates: [String] = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft", "/bin/nft"]
        guard let nft = candidates.first(where: { access($0, X_OK) == 0 }) else {
            throw BerthError(.unsupported, "network: shaped runs need nftables to filter them: install the nftables package (nft)", field: "network")
        }
        var input: [Int32] = [0, 0], errors: [Int32] = [0, 0]
        guard pipe(&input) == 0, pipe(&errors) == 0 else {
            throw BerthError(.system, "network: \(what): pipe: \(Sys.errnoText(errno))", errno: errno)
        }
        for fd in input + errors { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[0], 0)
        posix_spawn_file_actions_adddup2(&actions, errors[1], 2)
        let argv: [String] = [nft, "-f", "-"]
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let noEnvironment: [UnsafeMutablePointer<CChar>?] = [nil]
        let rc = posix_spawn(&pid, nft, &actions, nil, cArgs, noEnvironment)
        close(input[0])
        close(errors[1])
        defer { close(errors[0]) }
        guard rc == 0 else {
            close(input[1])
            throw BerthError(.system, "network: \(what): cannot run \(nft): \(Sys.errnoText(rc))", errno: rc)
        }
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(input[1], $0.baseAddress, $0.count) }
        close(input[1])
        var message = [UInt8](repeating: 0, count: 4096)
        let n = read(errors[0], &message, message.count)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else {
            let text = n > 0 ? String(decoding: message[0..<n], as: UTF8.self).split(separator: "\n").joined(separator: "; ") : "exit status \(status)"
            throw BerthError(.system, "network: \(what) with nft: \(text)")
        }
    }
}
