/// The one error type Berth throws: a code to match on, and a message a person can act on.
///
/// A spec error names the field and the rule it broke; a system error names the file,
/// the value and the errno.
public struct BerthError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is. A struct over a private enum, so codes can be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable { case invalidSpec, unsupported, cgroup, launch, system, notDelegated }
        private let base: Base
        private init(_ base: Base) { self.base = base }
        /// A field of a spec or a flag broke a rule.
        public static let invalidSpec = Code(.invalidSpec)
        /// The host cannot enforce what was asked (an error only in strict mode).
        public static let unsupported = Code(.unsupported)
        /// Creating, configuring or removing a cgroup failed.
        public static let cgroup = Code(.cgroup)
        /// Starting the shim or the job failed.
        public static let launch = Code(.launch)
        /// Any other system call failed.
        public static let system = Code(.system)
        /// The cgroup subtree Berth needs is not delegated to it.
        public static let notDelegated = Code(.notDelegated)
        public var description: String { base.rawValue }
    }

    public let code: Code
    public let message: String
    /// The errno of the failed system call, when one failed.
    public let errno: Int32?
    /// The spec field or flag that broke a rule (`memory`, `workdir`), for an API to return
    /// beside the message; nil for failures that are not a field's.
    public let field: String?

    public init(_ code: Code, _ message: String, errno: Int32? = nil, field: String? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
        self.field = field
    }

    /// A spec error: `field: rule (got 'value')`.
    public static func invalid(_ field: String, _ rule: String, got value: String? = nil) -> BerthError {
        let shown = value.map { " (got '\(Self.printable($0))')" } ?? ""
        return BerthError(.invalidSpec, "\(field): \(rule)\(shown)", field: field)
    }

    public var description: String { message }

    /// Makes user input safe to print: control characters escaped, length capped.
    public static func printable(_ s: String) -> String {
        var out = ""
        for scalar in s.unicodeScalars.prefix(64) {
            if scalar.value < 0x20 || scalar.value == 0x7f {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return s.unicodeScalars.count > 64 ? out + "…" : out
    }
}
