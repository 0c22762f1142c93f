import CBerthSys

/// One entry of a run's device allow-list, enforced by the kernel: the v1 `devices`
/// controller on hybrid hosts, a BPF cgroup-device program on cgroup v2.
public struct DeviceRule: Sendable, Equatable {
    /// `c` (character) or `b` (block).
    public var kind: Character
    /// nil matches any major or minor number.
    public var major: UInt32?
    public var minor: UInt32?

    /// What every job may open or create: the nodes of its private /dev (null, zero, full,
    /// random, urandom, tty, ptmx) and its own pseudo-terminals; no block device, nothing
    /// else. The list lives in C (`berth_device_rules_default`), where the BPF program is made.
    public static let jobDefaults: [DeviceRule] = {
        var count: Int32 = 0
        guard let rules = berth_device_rules_default(&count) else { return [] }
        return (0..<Int(count)).map { i in
            let r = rules[i]
            return DeviceRule(kind: Character(Unicode.Scalar(UInt8(bitPattern: r.type))),
                              major: r.major < 0 ? nil : UInt32(r.major), minor: r.minor < 0 ? nil : UInt32(r.minor))
        }
    }()

    /// The rule as `devices.allow` takes it: `c 1:3 rwm`, `c 136:* rwm`.
    public var v1Line: String {
        "\(kind) \(major.map(String.init) ?? "*"):\(minor.map(String.init) ?? "*") rwm"
    }
}
