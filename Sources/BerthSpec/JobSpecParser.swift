import BerthCore
import Yams

/// Job specs as people write them, YAML or JSON (YAML 1.2 is a superset), parsed into
/// `JobSpec` with every field checked.
///
/// Two passes. `YAMLScreen` reads libyaml's events and refuses what must never become a tree
/// (aliases, anchors, non-standard tags, deep nesting, duplicate keys). Then Yams composes the
/// tree, which is walked by hand, not decoded, so that every error names its field's dotted
/// path (`resources.memory`, `restart.max-restarts`, `command[0]`, `env.FOO`) and its line.
///
/// Scalars are read as their source text: `cpu: 0.5` is "0.5", `pids: 64` is "64", `DEBUG: true`
/// is "true". Nothing goes through floating point, so nothing is rounded; only null (`~`, `null`
/// or nothing) is refused where a value is expected.
public enum JobSpecParser {
    /// The largest spec accepted, in bytes.
    public static let maximumBytes = 1 << 20

    /// Parses a spec (YAML, or JSON) and validates every field.
    /// Throws `BerthError(.invalidSpec)` whose `field` is the dotted path of the field at fault,
    /// nil for problems of the whole document (syntax, size, encoding).
    public static func parse(_ text: String) throws -> JobSpec {
        // Yams tells libyaml the input is UTF-8, and then libyaml reads a byte order mark as content.
        let text = text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
        let count = text.utf8.count
        guard count <= maximumBytes else { throw tooLarge(count) }
        let bytes = Array(text.utf8)
        guard !bytes.contains(0) else { throw BerthError(.invalidSpec, "the spec must not contain NUL bytes") }
        guard bytes.contains(where: { ![0x20, 0x09, 0x0a, 0x0d].contains($0) }) else {
            throw BerthError(.invalidSpec, "the spec is empty")
        }
        try YAMLScreen.check(bytes)
        let root: Node?
        do {
            // The encoding is given: its default reads the whole environment (`YAMS_DEFAULT_ENCODING`) on every call.
            root = try Yams.compose(yaml: text, resolver, .default, .utf8)
        } catch {
            // The screen has seen the same stream: only a problem it does not look for lands here.
            throw BerthError(.invalidSpec, "the spec is not valid YAML: \(error)")
        }
        guard let root, !isNull(root) else { throw BerthError(.invalidSpec, "the spec is empty") }
        return try jobSpec(from: root)
    }

    /// Parses a spec received as bytes: refuses more than 1 MiB, anything but UTF-8, and NUL bytes.
    public static func parse(bytes: [UInt8]) throws -> JobSpec {
        guard bytes.count <= maximumBytes else { throw tooLarge(bytes.count) }
        guard !bytes.contains(0) else { throw BerthError(.invalidSpec, "the spec must not contain NUL bytes") }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw BerthError(.invalidSpec, "the spec must be UTF-8")
        }
        return try parse(text)
    }

    // MARK: - Fields

    static let topLevelFields = ["name", "kind", "command", "args", "env", "workdir", "resources",
                                 "deadline", "network", "restart", "checkpoint", "labels"]
    /// `ResourceRequest`'s coding keys, in its order.
    static let resourceFields = ["cpu", "cpu-weight", "memory", "memory-high", "swap", "io-read", "io-write",
                                 "io-read-iops", "io-write-iops", "io-device", "io-weight", "pids"]
    static let restartFields = ["policy", "max-restarts", "backoff", "max-backoff"]
    static let checkpointFields = ["keep"]

    static let maximumArguments = 256
    static let maximumArgumentBytes = 4096
    static let maximumEnvironment = 128
    static let maximumEnvironmentNameBytes = 255
    static let maximumEnvironmentValueBytes = 32 * 1024
    static let maximumWorkdirBytes = 255
    static let maximumLabels = 64
    static let maximumLabelKeyBytes = 63
    static let maximumLabelValueBytes = 256
    static let minimumBackoffMillis = 100
    static let maximumBackoffMillis = 86_400_000

    /// Only null is told apart from other scalars; the rest are read as text.
    static let resolver = Resolver.basic.appending(.null)

    static func jobSpec(from root: Node) throws -> JobSpec {
        let top = try fields(of: root, at: "", allowed: topLevelFields)

        guard let nameNode = top["name"] else { throw BerthError.invalid("name", "is required") }
        let name = try string(nameNode, at: "name")
        try checkName(name, node: nameNode)

        guard let commandNode = top["command"] else {
            throw BerthError.invalid("command", "is required: the program and its arguments, such as [\"/bin/sh\", \"-c\", \"…\"]")
        }
        var command = try arguments(commandNode, at: "command")
        guard !command.isEmpty else { throw SpecProblem.at("command", commandNode, "must have at least one entry, the program") }
        guard !command[0].isEmpty else {
            throw SpecProblem.at("command[0]", commandNode.sequence?.first, "must not be empty: it is the program")
        }
        if let argsNode = top["args"] {
            let args = try arguments(argsNode, at: "args")
            guard command.count + args.count <= maximumArguments else {
                throw SpecProblem.at("args", argsNode, "command and args together must have at most \(maximumArguments) entries")
            }
            command += args
        }

        var spec = JobSpec(name: name, command: command)
        if let node = top["kind"] { spec.kind = try choice(node, at: "kind") }
        if let node = top["env"] { spec.env = try environment(node) }
        if let node = top["workdir"] { spec.workdir = try workdir(node) }
        if let node = top["resources"] { spec.resources = try resources(node) }
        if let node = top["deadline"] { spec.deadlineMillis = try duration(node, at: "deadline") }
        if let node = top["network"] { spec.network = try choice(node, at: "network") }
        if let node = top["restart"] { spec.restart = try restart(node) }
        if let node = top["checkpoint"] { spec.checkpoint = try checkpoint(node) }
        if let node = top["labels"] { spec.labels = try labels(node) }
        return spec
    }

    /// 1–63 of a-z, 0-9, '-', '_' and '.', starting with a letter or digit; never a path.
    static func checkName(_ name: String, node: Node) throws {
        if name.contains("/") || name.contains("..") {
            throw SpecProblem.at("name", node, "must not contain '/' or '..'", got: name)
        }
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count),
              let first = bytes.first, isLowerAlphanumeric(first),
              bytes.allSatisfy({ isLowerAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }) else {
            throw SpecProblem.at("name", node, "must be 1 to 63 of a-z, 0-9, '-', '_' and '.', starting with a letter or digit", got: name)
        }
    }

    /// A sequence of argv strings: at most 256, each at most 4096 bytes, without NUL.
    static func arguments(_ node: Node, at path: String) throws -> [String] {
        guard let sequence = node.sequence else {
            throw SpecProblem.at(path, node, "must be a sequence of strings, such as [\"/bin/sh\", \"-c\", \"…\"], not \(describe(node))")
        }
        guard sequence.count <= maximumArguments else {
            throw SpecProblem.at(path, node, "must have at most \(maximumArguments) entries (got \(sequence.count))")
        }
        var out: [String] = []
        for (i, item) in sequence.enumerated() {
            let itemPath = SpecPath.index(path, i)
            let text = try string(item, at: itemPath)
            guard !text.utf8.contains(0) else { throw SpecProblem.at(itemPath, item, "must not contain NUL", got: text) }
            guard text.utf8.count <= maximumArgumentBytes else {
                throw SpecProblem.at(itemPath, item, "must be at most \(maximumArgumentBytes) bytes (got \(text.utf8.count))")
            }
            out.append(text)
        }
        return out
    }

    /// Names `[A-Za-z_][A-Za-z0-9_]*`, never `BERTH_*` (Berth's own); values at most 32 KiB, without NUL.
    static func environment(_ node: Node) throws -> [String: String] {
        let entries = try mapping(node, at: "env", of: "names to values")
        guard entries.count <= maximumEnvironment else {
            throw SpecProblem.at("env", node, "must have at most \(maximumEnvironment) entries (got \(entries.count))")
        }
        var out: [String: String] = [:]
        for (key, keyNode, value) in entries {
            let path = SpecPath.key("env", key)
            let bytes = Array(key.utf8)
            guard let first = bytes.first, isLetter(first) || first == UInt8(ascii: "_"),
                  bytes.allSatisfy({ isLetter($0) || isDigit($0) || $0 == UInt8(ascii: "_") }) else {
                throw SpecProblem.at(path, keyNode, "names must be letters, digits and '_', not starting with a digit", got: key)
            }
            guard bytes.count <= maximumEnvironmentNameBytes else {
                throw SpecProblem.at(path, keyNode, "names must be at most \(maximumEnvironmentNameBytes) bytes")
            }
            guard !key.hasPrefix("BERTH_") else {
                throw SpecProblem.at(path, keyNode, "names starting with BERTH_ are reserved for Berth's own variables")
            }
            let text = try string(value, at: path)
            guard !text.utf8.contains(0) else { throw SpecProblem.at(path, value, "must not contain NUL") }
            guard text.utf8.count <= maximumEnvironmentValueBytes else {
                throw SpecProblem.at(path, value, "must be at most 32 KiB (got \(text.utf8.count) bytes)")
            }
            out[key] = text
        }
        return out
    }

    /// Relative to the run's scratch directory: no leading '/', no '.' or '..' component, no
    /// NUL, at most 255 bytes, printable characters only. "." alone is the scratch itself.
    static func workdir(_ node: Node) throws -> String {
        let text = try string(node, at: "workdir")
        let field = "workdir"
        guard !text.isEmpty else {
            throw SpecProblem.at(field, node, "must not be empty; leave it out for the scratch directory itself")
        }
        guard !text.utf8.contains(0) else { throw SpecProblem.at(field, node, "must not contain NUL", got: text) }
        guard !text.hasPrefix("/") else {
            throw SpecProblem.at(field, node, "must be relative to the job's scratch directory (\(JobSpec.scratch)), without a leading '/'", got: text)
        }
        let components = text.split(separator: "/")
        guard !components.contains("..") else {
            throw SpecProblem.at(field, node, "must stay inside the job's scratch directory: no '..' component", got: text)
        }
        guard text == "." || !components.contains(".") else {
            throw SpecProblem.at(field, node, "must not contain a '.' component", got: text)
        }
        guard text.utf8.count <= maximumWorkdirBytes else {
            throw SpecProblem.at(field, node, "must be at most \(maximumWorkdirBytes) bytes (got \(text.utf8.count))")
        }
        guard text.unicodeScalars.allSatisfy(isPrintable) else {
            throw SpecProblem.at(field, node, "must contain printable characters only", got: text)
        }
        return text
    }

    /// Each value read as text into a `ResourceRequest`, then checked by `Resources(parsing:)`.
    static func resources(_ node: Node) throws -> ResourceRequest {
        let found = try fields(of: node, at: "resources", allowed: resourceFields)
        var texts: [String: String] = [:]
        for (key, value) in found { texts[key] = try string(value, at: SpecPath.key("resources", key)) }
        var request = ResourceRequest()
        request.cpu = texts["cpu"]
        request.cpuWeight = texts["cpu-weight"]
        request.memory = texts["memory"]
        request.memoryHigh = texts["memory-high"]
        request.swap = texts["swap"]
        request.ioRead = texts["io-read"]
        request.ioWrite = texts["io-write"]
        request.ioReadIOPS = texts["io-read-iops"]
        request.ioWriteIOPS = texts["io-write-iops"]
        request.ioDevice = texts["io-device"]
        request.ioWeight = texts["io-weight"]
        request.pids = texts["pids"]
        do {
            _ = try Resources(parsing: request)
        } catch let error as BerthError {
            let key = error.field ?? ""
            throw SpecProblem.relocated(error, to: SpecPath.key("resources", key), found[key] ?? node)
        }
        return request
    }

    static func restart(_ node: Node) throws -> RestartPolicy {
        let found = try fields(of: node, at: "restart", allowed: restartFields)
        var policy = RestartPolicy()
        if let value = found["policy"] { policy.condition = try choice(value, at: "restart.policy") }
        if let value = found["max-restarts"] {
            policy.maxRestarts = try integer(value, at: "restart.max-restarts", in: 0...10_000)
        }
        if let value = found["backoff"] {
            policy.backoffMillis = try duration(value, at: "restart.backoff", in: minimumBackoffMillis...maximumBackoffMillis)
        }
        if let value = found["max-backoff"] {
            let max = try duration(value, at: "restart.max-backoff", in: minimumBackoffMillis...maximumBackoffMillis)
            guard max >= policy.backoffMillis else {
                throw SpecProblem.at("restart.max-backoff", value, "must be at least restart.backoff (\(formatMillis(policy.backoffMillis)))", got: scalarText(value))
            }
            policy.backoffMaxMillis = max
        } else {
            // The default cap (60s) never cuts a longer first wait.
            policy.backoffMaxMillis = Swift.max(policy.backoffMaxMillis, policy.backoffMillis)
        }
        return policy
    }

    static func checkpoint(_ node: Node) throws -> CheckpointPolicy {
        let found = try fields(of: node, at: "checkpoint", allowed: checkpointFields)
        var policy = CheckpointPolicy()
        if let value = found["keep"] { policy.keep = try integer(value, at: "checkpoint.keep", in: 1...1000) }
        return policy
    }

    /// At most 64; keys 1–63 of a-z, 0-9, '.', '/', '_' and '-'; values at most 256 bytes, printable.
    static func labels(_ node: Node) throws -> [String: String] {
        let entries = try mapping(node, at: "labels", of: "keys to values")
        guard entries.count <= maximumLabels else {
            throw SpecProblem.at("labels", node, "must have at most \(maximumLabels) entries (got \(entries.count))")
        }
        var out: [String: String] = [:]
        for (key, keyNode, value) in entries {
            let path = SpecPath.key("labels", key)
            let bytes = Array(key.utf8)
            guard (1...maximumLabelKeyBytes).contains(bytes.count),
                  bytes.allSatisfy({ isLowerAlphanumeric($0) || [UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: "_"), UInt8(ascii: "-")].contains($0) }) else {
                throw SpecProblem.at(path, keyNode, "keys must be 1 to \(maximumLabelKeyBytes) of a-z, 0-9, '.', '/', '_' and '-'", got: key)
            }
            let text = try string(value, at: path)
            guard text.utf8.count <= maximumLabelValueBytes else {
                throw SpecProblem.at(path, value, "must be at most \(maximumLabelValueBytes) bytes (got \(text.utf8.count))")
            }
            guard text.unicodeScalars.allSatisfy(isPrintable) else {
                throw SpecProblem.at(path, value, "must contain printable characters only", got: text)
            }
            out[key] = text
        }
        return out
    }

    // MARK: - Node kinds

    /// A mapping's values by key; an unknown key is an error naming it and the allowed ones.
    /// (Duplicate and non-string keys were refused by the screen.)
    static func fields(of node: Node, at path: String, allowed: [String]) throws -> [String: Node] {
        guard let mapping = node.mapping else {
            let rule = "must be a mapping with the fields \(allowed.joined(separator: ", ")), not \(describe(node))"
            throw SpecProblem.at(path, node, path.isEmpty ? "the spec " + rule : rule)
        }
        var out: [String: Node] = [:]
        for (keyNode, value) in mapping {
            let key = keyNode.scalar?.string ?? ""
            guard allowed.contains(key) else {
                let hint = suggestion(for: key, among: allowed).map { "did you mean '\($0)'? " } ?? ""
                throw SpecProblem.at(SpecPath.key(path, key), keyNode, "unknown field; \(hint)allowed: \(allowed.joined(separator: ", "))")
            }
            out[key] = value
        }
        return out
    }

    /// A mapping of free keys (`env`, `labels`), in document order.
    static func mapping(_ node: Node, at path: String, of what: String) throws -> [(key: String, keyNode: Node, value: Node)] {
        guard let mapping = node.mapping else {
            throw SpecProblem.at(path, node, "must be a mapping of \(what), not \(describe(node))")
        }
        return mapping.map { (key: $0.key.scalar?.string ?? "", keyNode: $0.key, value: $0.value) }
    }

    /// A scalar's text; null and collections are errors.
    static func string(_ node: Node, at path: String) throws -> String {
        guard let scalar = node.scalar, !isNull(node) else {
            throw SpecProblem.at(path, node, "must be a string, not \(describe(node))")
        }
        return scalar.string
    }

    /// One of `T`'s raw values.
    static func choice<T: RawRepresentable & CaseIterable>(_ node: Node, at path: String) throws -> T where T.RawValue == String {
        let text = try string(node, at: path)
        guard let value = T(rawValue: text) else {
            throw SpecProblem.at(path, node, "must be one of \(T.allCases.map(\.rawValue).joined(separator: ", "))", got: text)
        }
        return value
    }

    /// A whole number in `range`, written in decimal digits only: no sign, exponent or
    /// fraction, so nothing near Int64.max is ever converted, let alone wrapped.
    static func integer(_ node: Node, at path: String, in range: ClosedRange<Int>) throws -> Int {
        let text = try string(node, at: path)
        let rule = "must be a whole number from \(range.lowerBound) to \(range.upperBound)"
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy(isDigit), let value = Int(text) else {
            throw SpecProblem.at(path, node, rule, got: text)
        }
        guard range.contains(value) else { throw SpecProblem.at(path, node, rule, got: text) }
        return value
    }

    /// Milliseconds, from `parseDuration` (`30s`, `500ms`, `5m`, `1h`; a bare number is seconds).
    static func duration(_ node: Node, at path: String, in range: ClosedRange<Int>? = nil) throws -> Int {
        let text = try string(node, at: path)
        let millis: Int
        do {
            millis = try parseDuration(text, field: path)
        } catch let error as BerthError {
            throw SpecProblem.relocated(error, to: path, node)
        }
        if let range {
            guard millis >= range.lowerBound else {
                throw SpecProblem.at(path, node, "must be at least \(formatMillis(range.lowerBound))", got: text)
            }
            guard millis <= range.upperBound else {
                throw SpecProblem.at(path, node, "must be at most \(formatMillis(range.upperBound))", got: text)
            }
        }
        return millis
    }

    // MARK: - Helpers

    static func tooLarge(_ count: Int) -> BerthError {
        BerthError(.invalidSpec, "the spec must be at most 1 MiB (got \(count) bytes)")
    }

    static func isNull(_ node: Node) -> Bool {
        node.scalar != nil && node.tag.rawValue == Tag.Name.null.rawValue
    }

    static func scalarText(_ node: Node) -> String? { node.scalar?.string }

    static func describe(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a sequence"
        case .alias: return "an alias"
        case .scalar(let scalar):
            if isNull(node) { return "null (no value)" }
            return "a scalar ('\(SpecPath.escaped(scalar.string, limit: 32))')"
        }
    }

    static func formatMillis(_ ms: Int) -> String {
        if ms % 3_600_000 == 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }

    static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
    static func isLetter(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
    }
    static func isLowerAlphanumeric(_ b: UInt8) -> Bool {
        isDigit(b) || (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z"))
    }

    /// Not a control, format, separator (other than space), surrogate or unassigned code point.
    static func isPrintable(_ s: Unicode.Scalar) -> Bool {
        switch s.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate, .unassigned, .privateUse:
            return false
        default:
            return true
        }
    }

    /// The allowed key closest to `key`, when it is a likely typo (at most 2 edits away).
    static func suggestion(for key: String, among allowed: [String]) -> String? {
        let typed = Array(key.lowercased().utf8)
        guard typed.count >= 2, typed.count <= 64 else { return nil }
        let scored = allowed.map { ($0, editDistance(typed, Array($0.utf8))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= 2 else { return nil }
        return best.0
    }

    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// Dotted paths to a spec's fields: `resources.memory`, `command[0]`, `env.FOO`; a key that
/// is not plain printable ASCII is quoted and escaped: `env["a b"]`.
enum SpecPath {
    static func key(_ parent: String, _ key: String) -> String {
        let plain = !key.isEmpty && key.utf8.count <= 64
            && key.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "[") && $0 != UInt8(ascii: "]") && $0 != UInt8(ascii: "\"") }
        if plain { return parent.isEmpty ? key : parent + "." + key }
        return parent + "[\"" + escaped(key, limit: 64) + "\"]"
    }

    /// `text` safe to print: quotes, backslashes, control and format characters (bidi overrides)
    /// escaped, length capped.
    static func escaped(_ text: String, limit: Int) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(limit) {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where !JobSpecParser.isPrintable(scalar):
                out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return text.unicodeScalars.count > limit ? out + "…" : out
    }

    static func index(_ parent: String, _ i: Int) -> String { parent + "[\(i)]" }
}

/// Spec errors that carry the line: `line 3: resources.memory: must be … (got '12Qi')`.
enum SpecProblem {
    /// `path` empty: a problem of the whole document, with no field.
    static func at(_ path: String, line: Int?, _ rule: String, got value: String? = nil) -> BerthError {
        let prefix = line.map { "line \($0): " } ?? ""
        guard !path.isEmpty else { return BerthError(.invalidSpec, prefix + rule) }
        return BerthError(.invalidSpec, prefix + BerthError.invalid(path, rule, got: value).message, field: path)
    }

    static func at(_ path: String, _ node: Node?, _ rule: String, got value: String? = nil) -> BerthError {
        at(path, line: node?.mark?.line, rule, got: value)
    }

    /// An error a BerthCore parser threw for its own field name (`memory`), moved to the spec's
    /// path (`resources.memory`) and line.
    static func relocated(_ error: BerthError, to path: String, _ node: Node) -> BerthError {
        guard error.code == .invalidSpec else { return error }
        var rest = Substring(error.message)
        if let field = error.field, rest.hasPrefix(field + ": ") { rest = rest.dropFirst(field.count + 2) }
        let prefix = node.mark.map { "line \($0.line): " } ?? ""
        return BerthError(.invalidSpec, prefix + path + ": " + rest, field: path)
    }
}
