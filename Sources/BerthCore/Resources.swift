/// What a job may use, in the units people write. Every field is optional: nil means no limit.
///
/// Values are validated against what the kernel would accept, so a spec that parses is
/// one the drivers can apply without wrapping or rounding it to nothing.
public struct Resources: Sendable, Equatable {
    /// CPU quota in micro-cores (1 core = 1_000_000), applied as `cpu.max` over `cpuPeriodMicros`.
    public var cpuMicrocores: Int?
    /// Relative CPU weight, 1…10000 as in cgroup v2 `cpu.weight` (default 100).
    public var cpuWeight: Int?
    /// Hard memory limit in bytes (`memory.max`).
    public var memoryMax: Int?
    /// Soft memory limit in bytes (`memory.high`): reclaim and throttle above it, never kill.
    public var memoryHigh: Int?
    /// Swap allowed in bytes. 0, the default, turns swap off.
    public var swapMax: Int = 0
    /// Block I/O limits; `device` nil means the device holding the working directory.
    public var io: IOLimits?
    /// Relative I/O weight, 1…10000 as in cgroup v2 `io.weight` (default 100).
    public var ioWeight: Int?
    /// Maximum number of tasks (`pids.max`).
    public var pids: Int?

    public init() {}

    /// The CFS period Berth uses, in microseconds (the kernel's default).
    public static let cpuPeriodMicros = 100_000
    /// The kernel's smallest quota per period is 1 ms: 0.01 cores at a 100 ms period.
    public static let cpuMinMicrocores = 10_000
    public static let cpuMaxMicrocores = 65_536 * 1_000_000
    public static let pageSize = 4096
    public static let memoryMaxBytes = 1 << 50          // 1 Pi
    public static let pidsMax = 4_194_304              // PID_MAX_LIMIT on 64-bit
    public static let ioMinBytesPerSecond = 4096

    /// `cpu.max` quota in microseconds per `cpuPeriodMicros`.
    public var cpuQuotaMicros: Int? {
        cpuMicrocores.map { $0 * Self.cpuPeriodMicros / 1_000_000 }
    }

    /// Memory the kernel will enforce: it rounds limits down to whole pages.
    public static func pageRounded(_ bytes: Int) -> Int { bytes / pageSize * pageSize }
}

/// Block I/O limits for one device, per direction. nil means unlimited in that direction.
public struct IOLimits: Sendable, Equatable {
    /// The device: a path on it (resolved to its whole disk) or nil for the working directory's.
    public var devicePath: String?
    public var readBytesPerSecond: Int?
    public var writeBytesPerSecond: Int?
    public var readIOPS: Int?
    public var writeIOPS: Int?
    public init() {}
    public var isEmpty: Bool {
        readBytesPerSecond == nil && writeBytesPerSecond == nil && readIOPS == nil && writeIOPS == nil
    }
}

/// The textual form of a resource request, as flags or spec fields carry it.
public struct ResourceRequest: Sendable, Equatable, Codable {
    public var cpu: String?
    public var cpuWeight: String?
    public var memory: String?
    public var memoryHigh: String?
    public var swap: String?
    public var ioRead: String?
    public var ioWrite: String?
    public var ioReadIOPS: String?
    public var ioWriteIOPS: String?
    public var ioDevice: String?
    public var ioWeight: String?
    public var pids: String?
    public init() {}

    enum CodingKeys: String, CodingKey {
        case cpu, cpuWeight = "cpu-weight", memory, memoryHigh = "memory-high", swap
        case ioRead = "io-read", ioWrite = "io-write", ioReadIOPS = "io-read-iops", ioWriteIOPS = "io-write-iops"
        case ioDevice = "io-device", ioWeight = "io-weight", pids
    }
}

extension Resources {
    /// Parses and validates a request. Each error names the field, the rule and the bound.
    public init(parsing r: ResourceRequest) throws {
        self.init()
        if let text = r.cpu {
            let q = try Quantity(parsing: text, field: "cpu", allowMilli: true)
            let micro = try q.exactInteger(scale10: 6, field: "cpu", unitName: "micro-cores", text: text)
            guard micro >= Self.cpuMinMicrocores else {
                throw BerthError.invalid("cpu", "must be at least 0.01 (10m): the kernel's minimum quota is 1ms per 100ms period", got: text)
            }
            guard micro <= Self.cpuMaxMicrocores else {
                throw BerthError.invalid("cpu", "must be at most 65536 cores", got: text)
            }
            cpuMicrocores = micro
        }
        if let text = r.cpuWeight {
            cpuWeight = try Self.integer(text, field: "cpu-weight", range: 1...10_000)
        }
        if let text = r.memory {
            memoryMax = try Self.bytes(text, field: "memory", minimum: Self.pageSize, minimumText: "4Ki (one page)", maximum: Self.memoryMaxBytes, maximumText: "1Pi")
        }
        if let text = r.memoryHigh {
            let high = try Self.bytes(text, field: "memory-high", minimum: Self.pageSize, minimumText: "4Ki (one page)", maximum: Self.memoryMaxBytes, maximumText: "1Pi")
            if let max = memoryMax, high > max {
                throw BerthError.invalid("memory-high", "must not exceed memory (\(max) bytes)", got: text)
            }
            memoryHigh = high
        }
        if let text = r.swap {
            swapMax = try Self.bytes(text, field: "swap", minimum: 0, minimumText: "0", maximum: Self.memoryMaxBytes, maximumText: "1Pi")
        }
        var io = IOLimits()
        if let t = r.ioRead { io.readBytesPerSecond = try Self.bytes(t, field: "io-read", minimum: Self.ioMinBytesPerSecond, minimumText: "4Ki per second", maximum: 1 << 50, maximumText: "1Pi per second") }
        if let t = r.ioWrite { io.writeBytesPerSecond = try Self.bytes(t, field: "io-write", minimum: Self.ioMinBytesPerSecond, minimumText: "4Ki per second", maximum: 1 << 50, maximumText: "1Pi per second") }
        if let t = r.ioReadIOPS { io.readIOPS = try Self.integer(t, field: "io-read-iops", range: 1...100_000_000) }
        if let t = r.ioWriteIOPS { io.writeIOPS = try Self.integer(t, field: "io-write-iops", range: 1...100_000_000) }
        if let device = r.ioDevice {
            guard io.isEmpty == false else {
                throw BerthError.invalid("io-device", "needs at least one of io-read, io-write, io-read-iops, io-write-iops")
            }
            guard device.hasPrefix("/"), !device.contains("\0") else {
                throw BerthError.invalid("io-device", "must be an absolute path", got: device)
            }
            io.devicePath = device
        }
        self.io = io.isEmpty ? nil : io
        if let text = r.ioWeight {
            ioWeight = try Self.integer(text, field: "io-weight", range: 1...10_000)
        }
        if let text = r.pids {
            pids = try Self.integer(text, field: "pids", range: 1...Self.pidsMax)
        }
    }

    public static func bytes(_ text: String, field: String, minimum: Int, minimumText: String, maximum: Int, maximumText: String) throws -> Int {
        let q = try Quantity(parsing: text, field: field, allowMilli: false)
        let value = try q.exactInteger(field: field, unitName: "bytes", text: text)
        guard value >= minimum else {
            throw BerthError.invalid(field, minimum == 0 ? "must not be negative" : "must be at least \(minimumText)", got: text)
        }
        guard value <= maximum else { throw BerthError.invalid(field, "must be at most \(maximumText)", got: text) }
        return value
    }

    public static func integer(_ text: String, field: String, range: ClosedRange<Int>) throws -> Int {
        guard !text.isEmpty, text.utf8.count <= 20, text.allSatisfy({ $0.isASCII && $0.isNumber }), let v = Int(text) else {
            throw BerthError.invalid(field, "must be a whole number from \(range.lowerBound) to \(range.upperBound)", got: text)
        }
        guard range.contains(v) else {
            throw BerthError.invalid(field, "must be from \(range.lowerBound) to \(range.upperBound)", got: text)
        }
        return v
    }
}
