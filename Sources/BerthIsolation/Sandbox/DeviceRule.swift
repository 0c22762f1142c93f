/// One entry of a run's device allow-list, enforced by the kernel: the v1 `devices`
/// controller on hybrid hosts, a BPF cgroup-device program on cgroup v2.
public struct DeviceRule: Sendable, Equatable {
    /// `c` (character) or `b` (block).
    public var kind: Character
    /// nil matches any major or minor number.
    public var major: UInt32?
    public var minor: UInt32?

    public init(_ kind: Character, _ major: UInt32?, _ minor: UInt32?) {
        self.kind = kind
        self.major = major
        self.minor = minor
    }

    /// What every job may open or create: the nodes of its private /dev (null, zero, full,
    /// random, urandom, tty, ptmx) and its own pseudo-terminals. No block device; nothing else.
    public static let jobDefaults: [DeviceRule] = [
        DeviceRule("c", 1, 3), DeviceRule("c", 1, 5), DeviceRule("c", 1, 7), DeviceRule("c", 1, 8),
        DeviceRule("c", 1, 9), DeviceRule("c", 5, 0), DeviceRule("c", 5, 2), DeviceRule("c", 136, nil),
    ]

    /// The rule as `devices.allow` takes it: `c 1:3 rwm`, `c 136:* rwm`.
    public var v1Line: String {
        "\(kind) \(major.map(String.init) ?? "*"):\(minor.map(String.init) ?? "*") rwm"
    }
}
