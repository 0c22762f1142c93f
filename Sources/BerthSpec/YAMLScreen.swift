import BerthCore
// Yams's C module. Not a product of Yams, so Package.swift cannot name it; it is reachable
// through the Yams product. Only this file uses it.
internal import CYaml

/// The first pass over a spec: libyaml's event stream, before Yams composes a tree.
///
/// It refuses what must never reach a tree, each error naming the path and line:
/// - aliases (`*a`): ten lines of `&a [*b, *b, …]` expand to billions of nodes, and
///   `Yams.compose` resolves them and hashes every mapping key, aliased subtrees included,
///   to find duplicates, all before it returns;
/// - anchors (`&a`), which only aliases use;
/// - tags other than YAML's standard `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!seq`, `!!map`;
/// - nesting deeper than `maximumDepth` (Yams composes recursively), more than `maximumNodes` values;
/// - keys that are not scalars, keys given twice, and more than one document.
enum YAMLScreen {
    /// A spec needs 2 levels (the top mapping, then `env`, `command`, `resources`…).
    static let maximumDepth = 16
    /// The largest valid spec has about 1,100 (256 + 256 argv entries, 128 env, 64 labels).
    static let maximumNodes = 10_000
    static let standardTags: Set<String> = ["str", "int", "float", "bool", "null", "seq", "map"]
        .reduce(into: []) { $0.insert("tag:yaml.org,2002:" + $1) }

    /// An open mapping or sequence.
    private struct Frame {
        let path: String
        let isMapping: Bool
        /// A mapping's keys so far, with the line of each.
        var keys: [String: Int] = [:]
        /// The key whose value comes next; nil while a mapping waits for a key.
        var pendingKey: String?
        /// A sequence's entries so far.
        var count = 0

        /// The path of the value that comes next in this collection.
        var nextPath: String {
            isMapping ? SpecPath.key(path, pendingKey ?? "") : SpecPath.index(path, count)
        }
    }

    /// Throws `BerthError(.invalidSpec)` at the first problem; returns when the stream is acceptable.
    /// `bytes` must not be empty.
    static func check(_ bytes: [UInt8]) throws {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw BerthError(.system, "libyaml could not allocate a parser")
        }
        defer { yaml_parser_delete(&parser) }
        try bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            yaml_parser_set_input_string(&parser, base, buffer.count)
            try screen(&parser)
        }
    }

    private static func screen(_ parser: inout yaml_parser_t) throws {
        var stack: [Frame] = []
        var nodes = 0
        var documents = 0
        while true {
            var event = yaml_event_t()
            guard yaml_parser_parse(&parser, &event) == 1 else { throw syntaxError(parser) }
            defer { yaml_event_delete(&event) }
            let line = Int(event.start_mark.line) + 1

            switch event.type {
            case YAML_STREAM_END_EVENT:
                return
            case YAML_DOCUMENT_START_EVENT:
                documents += 1
                if documents > 1 {
                    throw SpecProblem.at("", line: line, "a spec is a single YAML document; remove the second '---'")
                }
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                _ = stack.popLast()
                advance(&stack)
            case YAML_SCALAR_EVENT, YAML_ALIAS_EVENT, YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                nodes += 1
                let (anchor, tag) = anchorAndTag(of: event)

                if let top = stack.indices.last, stack[top].isMapping, stack[top].pendingKey == nil {
                    // A key. Only scalars: a collection or an alias as a key is never a field name.
                    // (Indexing, not a copy of the frame: a live copy makes each insertion copy `keys`.)
                    guard event.type == YAML_SCALAR_EVENT else {
                        throw SpecProblem.at(stack[top].path, line: line, "keys must be strings")
                    }
                    let key = scalarText(of: event)
                    let path = SpecPath.key(stack[top].path, key)
                    try refuse(anchor: anchor, tag: tag, at: path, line: line)
                    if let first = stack[top].keys[key] {
                        throw SpecProblem.at(path, line: line, "is given twice (first on line \(first))")
                    }
                    stack[top].keys[key] = line
                    stack[top].pendingKey = key
                    continue
                }

                let path = stack.last?.nextPath ?? ""
                if event.type == YAML_ALIAS_EVENT {
                    let name = event.data.alias.anchor.map { String(cString: $0) } ?? ""
                    throw SpecProblem.at(path, line: line, "aliases (*\(name)) are not allowed; write the value out in full")
                }
                try refuse(anchor: anchor, tag: tag, at: path, line: line)
                guard nodes <= maximumNodes else {
                    throw SpecProblem.at(path, line: line, "the spec has more than \(maximumNodes) values")
                }
                if event.type == YAML_SCALAR_EVENT {
                    advance(&stack)
                } else {
                    guard stack.count < maximumDepth else {
                        throw SpecProblem.at(path, line: line, "nests deeper than \(maximumDepth) levels")
                    }
                    stack.append(Frame(path: path, isMapping: event.type == YAML_MAPPING_START_EVENT))
                }
            default:
                break   // stream start, document end
            }
        }
    }

    /// A value ended: its mapping waits for the next key, or its sequence counts it.
    private static func advance(_ stack: inout [Frame]) {
        guard !stack.isEmpty else { return }
        if stack[stack.count - 1].isMapping {
            stack[stack.count - 1].pendingKey = nil
        } else {
            stack[stack.count - 1].count += 1
        }
    }

    private static func refuse(anchor: String?, tag: String?, at path: String, line: Int) throws {
        if let anchor {
            throw SpecProblem.at(path, line: line, "anchors (&\(anchor)) and aliases are not allowed; write the value out in full")
        }
        if let tag, !standardTags.contains(tag) {
            throw SpecProblem.at(path, line: line, "only the standard tags (!!str, !!int, !!float, !!bool, !!null, !!seq, !!map) are allowed", got: tag)
        }
    }

    private static func anchorAndTag(of event: yaml_event_t) -> (anchor: String?, tag: String?) {
        func text(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? { p.map { String(cString: $0) } }
        switch event.type {
        case YAML_SCALAR_EVENT: return (text(event.data.scalar.anchor), text(event.data.scalar.tag))
        case YAML_SEQUENCE_START_EVENT: return (text(event.data.sequence_start.anchor), text(event.data.sequence_start.tag))
        case YAML_MAPPING_START_EVENT: return (text(event.data.mapping_start.anchor), text(event.data.mapping_start.tag))
        default: return (nil, nil)
        }
    }

    private static func scalarText(of event: yaml_event_t) -> String {
        let value = UnsafeBufferPointer(start: event.data.scalar.value, count: event.data.scalar.length)
        return String(decoding: value, as: UTF8.self)
    }

    private static func syntaxError(_ parser: yaml_parser_t) -> BerthError {
        let problem = parser.problem.map { String(cString: $0) } ?? "unreadable"
        if parser.error == YAML_READER_ERROR {
            return BerthError(.invalidSpec, "the spec is not readable YAML at byte \(parser.problem_offset): \(problem)")
        }
        let mark = parser.problem_mark
        if problem.hasPrefix("Maximum nesting level") {
            // libyaml's own limit (1000), met while scanning ahead of the events that reach ours.
            return BerthError(.invalidSpec, "line \(mark.line + 1), column \(mark.column + 1): the spec nests deeper than \(maximumDepth) levels")
        }
        let context = parser.context.map { " " + String(cString: $0) } ?? ""
        return BerthError(.invalidSpec, "line \(mark.line + 1), column \(mark.column + 1): the spec is not valid YAML: \(problem)\(context)")
    }
}
