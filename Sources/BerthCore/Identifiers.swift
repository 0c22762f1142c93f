/// A tenant's name as people write it: lowercase letters, digits and dashes, starting with a letter.
public struct TenantName: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String
    public static let `default` = TenantName(unchecked: "default")

    public init(_ text: String) throws {
        let ok = (1...32).contains(text.utf8.count)
            && text.utf8.first.map { $0 >= 97 && $0 <= 122 } == true
            && text.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
        guard ok else {
            throw BerthError.invalid("tenant", "must be 1 to 32 of a-z, 0-9 and '-', starting with a letter", got: text)
        }
        rawValue = text
    }
    private init(unchecked: String) { rawValue = unchecked }
    public var description: String { rawValue }
}

/// A tenant's id, as used in cgroup and directory names.
public struct TenantID: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String
    public var description: String { rawValue }
}

extension TenantID {
    /// A new random id: `t` and 16 hex digits from the system's CSPRNG.
    public static func random() -> TenantID { TenantID(rawValue: randomID("t")) }

    /// Parses an id; nil for anything that is not exactly `t` and 16 lowercase hex digits.
    public init?(_ text: String) {
        let ok = text.utf8.count == 17 && text.utf8.first == UInt8(ascii: "t")
            && text.utf8.dropFirst().allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
        guard ok else { return nil }
        self.init(rawValue: text)
    }
}

/// A job's id: `j` and 16 hex digits, random.
public struct JobID: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String
    public init() { rawValue = randomID("j") }
    /// Parses an id; nil for anything that is not exactly `j` and 16 hex digits.
    public init?(_ text: String) {
        guard isID(text, "j") else { return nil }
        rawValue = text
    }
    public var description: String { rawValue }
}

/// A run's id: `r` and 16 hex digits, random. One job has many runs over its life.
public struct RunID: Sendable, Hashable, CustomStringConvertible {
    public let rawValue: String
    public init() { rawValue = randomID("r") }
    /// Parses an id; nil for anything that is not exactly `r` and 16 hex digits.
    public init?(_ text: String) {
        guard isID(text, "r") else { return nil }
        rawValue = text
    }
    public var description: String { rawValue }
}

func randomID(_ prefix: String) -> String { prefix + hex(UInt64.random(in: .min ... .max)) }

func isID(_ text: String, _ prefix: Character) -> Bool {
    text.utf8.count == 17 && text.first == prefix && text.dropFirst().allSatisfy { $0.isASCII && $0.isHexDigit }
}

func hex(_ value: UInt64) -> String {
    let s = String(value, radix: 16)
    return String(repeating: "0", count: 16 - s.count) + s
}
