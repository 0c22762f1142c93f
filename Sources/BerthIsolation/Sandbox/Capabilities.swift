#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import CCap

/// Capabilities an operator may grant a job, parsed by name with libcap (`cap_from_name`) and
/// given to the job as ambient capabilities. Only a short list of narrow ones can be granted;
/// anything that reaches past the job's own sandbox (CAP_SYS_ADMIN, CAP_SYS_PTRACE,
/// CAP_SYS_MODULE, CAP_DAC_READ_SEARCH, CAP_BPF, CAP_NET_ADMIN, CAP_SETUID…) is refused.
public struct GrantedCapabilities: Sendable, Equatable {
    /// The granted capabilities' numbers and canonical names (`cap_net_bind_service`).
    public private(set) var numbers: [Int32] = []
    public private(set) var names: [String] = []

    /// What may be granted: binding ports below 1024, and scheduling and locking within the
    /// job's own cgroup limits.
    public static let grantable = ["cap_net_bind_service", "cap_sys_nice", "cap_ipc_lock"]

    public init() {}

    /// Parses names such as `NET_BIND_SERVICE` or `cap_net_bind_service`.
    public init(parsing names: [String]) throws {
        for text in names {
            let name = text.lowercased().hasPrefix("cap_") ? text.lowercased() : "cap_" + text.lowercased()
            var value: cap_value_t = 0
            guard !text.isEmpty, !text.contains("\0"), cap_from_name(name, &value) == 0 else {
                throw BerthError.invalid("cap", "unknown capability; use a name such as NET_BIND_SERVICE", got: text)
            }
            guard let canonical = cap_to_name(value).map({ p -> String in defer { cap_free(p) }; return String(cString: p) }),
                  Self.grantable.contains(canonical) else {
                throw BerthError.invalid("cap", "is never granted to jobs; grantable: " + Self.grantable.map { $0.dropFirst(4).uppercased() }.joined(separator: ", "), got: text)
            }
            if !numbers.contains(value) {
                numbers.append(value)
                self.names.append(canonical)
            }
        }
    }

    /// This process's capability sets as libcap writes them (`cap_to_text`), for `berth doctor`.
    public static func ownSets() -> String {
        guard let caps = cap_get_proc() else { return "unknown: \(String(cString: strerror(errno)))" }
        defer { cap_free(UnsafeMutableRawPointer(caps)) }
        guard let text = cap_to_text(caps, nil) else { return "unknown" }
        defer { cap_free(text) }
        return String(cString: text)
    }
}
