import Foundation
import Testing
import BerthCore
import BerthSpec

/// The error `text` is refused with, or nil when it parses.
private func refusal(_ text: String) -> BerthError? {
    do {
        _ = try JobSpecParser.parse(text)
        return nil
    } catch {
        return error as? BerthError
    }
}

private func refusal(bytes: [UInt8]) -> BerthError? {
    do {
        _ = try JobSpecParser.parse(bytes: bytes)
        return nil
    } catch {
        return error as? BerthError
    }
}

/// A valid spec with `extra` lines added at the top level.
private func spec(_ extra: String) -> String {
    "name: x\ncommand: [/bin/true]\n" + extra
}

/// A spec that must be refused, the `field` the error must name (nil: the whole document)
/// and a piece of the message.
struct Refused: CustomTestStringConvertible, Sendable {
    let text: String
    let field: String?
    let rule: String
    init(_ text: String, _ field: String?, _ rule: String) {
        self.text = text
        self.field = field
        self.rule = rule
    }
    var testDescription: String { "\(field ?? "<document>"): \(text.prefix(60).replacingOccurrences(of: "\n", with: "⏎"))" }
}

private func expectRefused(_ c: Refused, sourceLocation: SourceLocation = #_sourceLocation) {
    guard let error = refusal(c.text) else {
        Issue.record("accepted: \(c.text.prefix(200))", sourceLocation: sourceLocation)
        return
    }
    #expect(error.code == .invalidSpec, sourceLocation: sourceLocation)
    #expect(error.field == c.field, "\(error.message)", sourceLocation: sourceLocation)
    #expect(error.message.contains(c.rule), "\(error.message)", sourceLocation: sourceLocation)
    if let field = c.field {
        #expect(error.message.contains(field + ": "), "\(error.message)", sourceLocation: sourceLocation)
    }
}

@Suite struct JobSpecParserTests {
    static let minimalYAML = """
        name: sessionizer
        command: ["/usr/bin/python3", "sessionize.py"]
        resources: {cpu: 0.5, memory: 256Mi}
        """

    @Test func minimalYAML() throws {
        let s = try JobSpecParser.parse(Self.minimalYAML)
        #expect(s.name == "sessionizer")
        #expect(s.command == ["/usr/bin/python3", "sessionize.py"])
        #expect(s.resources.cpu == "0.5")
        #expect(s.resources.memory == "256Mi")
        #expect(s.kind == .batch)
        #expect(s.network == .none)
        #expect(s.restart.condition == nil)
        #expect(s.restart.effectiveCondition(for: s.kind) == .never)
        #expect(s.restart == RestartPolicy())
        #expect(s.checkpoint == CheckpointPolicy())
        #expect(s.env.isEmpty && s.labels.isEmpty && s.workdir == nil && s.deadlineMillis == nil)
    }

    @Test func minimalJSON() throws {
        let json = #"{"name":"sessionizer","command":["/usr/bin/python3","sessionize.py"],"resources":{"cpu":0.5,"memory":"256Mi"}}"#
        #expect(try JobSpecParser.parse(json) == JobSpecParser.parse(Self.minimalYAML))
        let pretty = """
            {
              "name": "sessionizer",
              "command": ["/usr/bin/python3", "sessionize.py"],
              "resources": {"cpu": 0.5, "memory": "256Mi"}
            }
            """
        #expect(try JobSpecParser.parse(bytes: Array(pretty.utf8)) == JobSpecParser.parse(Self.minimalYAML))
    }

    @Test func everyField() throws {
        let s = try JobSpecParser.parse("""
            name: etl.nightly_2
            kind: service
            command: [/bin/sh, -c]
            args: ["echo $GREETING", "", 5]
            env: {GREETING: hello, _N: 3, DEBUG: true, EMPTY: ""}
            workdir: out/logs
            resources:
              cpu: 250m
              cpu-weight: 200
              memory: 1Gi
              memory-high: 768Mi
              swap: 0
              io-read: 10Mi
              io-write: 5M
              io-read-iops: 100
              io-write-iops: 50
              io-device: /var/lib/berth
              io-weight: 300
              pids: 64
            deadline: 30m
            network: shaped
            restart: {policy: always, max-restarts: 0, backoff: 250ms, max-backoff: 24h}
            checkpoint: {keep: 3}
            labels: {team: data, app.example.com/tier: batch-1, empty: ""}
            """)
        #expect(s.name == "etl.nightly_2")
        #expect(s.kind == .service)
        #expect(s.command == ["/bin/sh", "-c", "echo $GREETING", "", "5"])
        #expect(s.env == ["GREETING": "hello", "_N": "3", "DEBUG": "true", "EMPTY": ""])
        #expect(s.workdir == "out/logs")
        #expect(s.workingDirectory == "/tmp/out/logs")
        var r = ResourceRequest()
        r.cpu = "250m"; r.cpuWeight = "200"; r.memory = "1Gi"; r.memoryHigh = "768Mi"; r.swap = "0"
        r.ioRead = "10Mi"; r.ioWrite = "5M"; r.ioReadIOPS = "100"; r.ioWriteIOPS = "50"
        r.ioDevice = "/var/lib/berth"; r.ioWeight = "300"; r.pids = "64"
        #expect(s.resources == r)
        #expect(s.deadlineMillis == 1_800_000)
        #expect(s.network == .shaped)
        #expect(s.restart.condition == .always)
        #expect(s.restart.maxRestarts == 0)
        #expect(s.restart.backoffMillis == 250)
        #expect(s.restart.backoffMaxMillis == 86_400_000)
        #expect(s.checkpoint.keep == 3)
        #expect(s.labels == ["team": "data", "app.example.com/tier": "batch-1", "empty": ""])
    }

    @Test func restartDefaultsAndCap() throws {
        let service = try JobSpecParser.parse(spec("kind: service\n"))
        #expect(service.restart.condition == nil)
        #expect(service.restart.effectiveCondition(for: .service) == .always)
        // A first wait longer than the default cap raises the cap instead of being cut.
        let slow = try JobSpecParser.parse(spec("restart: {backoff: 5m}\n"))
        #expect(slow.restart.backoffMillis == 300_000 && slow.restart.backoffMaxMillis == 300_000)
        let quick = try JobSpecParser.parse(spec("restart: {backoff: 100ms}\n"))
        #expect(quick.restart.backoffMillis == 100 && quick.restart.backoffMaxMillis == 60_000)
    }

    @Test func scalarsAreSourceText() throws {
        // Numbers are never converted: what was written is what Resources(parsing:) sees.
        let s = try JobSpecParser.parse(spec("resources: {cpu: 1.50, memory: 0010Mi, pids: 007}\nenv: {V: 1e3, W: 0x1F, X: !!str 12}\n"))
        #expect(s.resources.cpu == "1.50")
        #expect(s.resources.memory == "0010Mi")
        #expect(s.resources.pids == "007")
        #expect(s.env == ["V": "1e3", "W": "0x1F", "X": "12"])
        let workdirDot = try JobSpecParser.parse(spec("workdir: .\n"))
        #expect(workdirDot.workingDirectory == JobSpec.scratch)
    }

    @Test func errorsCarryTheLine() throws {
        let e = try #require(refusal("name: x\ncommand: [a]\nresources:\n  cpu: 1\n  memory: 12Qi\n"))
        #expect(e.field == "resources.memory")
        #expect(e.message.hasPrefix("line 5: resources.memory: unknown unit 'Qi'"), "\(e.message)")
        #expect(e.message.hasSuffix("(got '12Qi')"), "\(e.message)")
        let unknown = try #require(refusal("name: x\ncommand: [a]\nrestart:\n  policy: always\n  retries: 3\n"))
        #expect(unknown.field == "restart.retries")
        #expect(unknown.message.hasPrefix("line 5: restart.retries: unknown field; allowed: policy, max-restarts, backoff, max-backoff"), "\(unknown.message)")
    }

    // MARK: - Every rule, with the field it names

    static let nameRules: [Refused] = [
        Refused("command: [a]\n", "name", "is required"),
        Refused("name: \"\"\ncommand: [a]\n", "name", "1 to 63"),
        Refused("name:\ncommand: [a]\n", "name", "must be a string, not null"),
        Refused("name: [a]\ncommand: [a]\n", "name", "must be a string, not a sequence"),
        Refused("name: {a: b}\ncommand: [a]\n", "name", "not a mapping"),
        Refused("name: Sessionizer\ncommand: [a]\n", "name", "1 to 63"),
        Refused("name: -x\ncommand: [a]\n", "name", "starting with a letter or digit"),
        Refused("name: .x\ncommand: [a]\n", "name", "starting with a letter or digit"),
        Refused("name: a b\ncommand: [a]\n", "name", "1 to 63"),
        Refused("name: \(String(repeating: "a", count: 64))\ncommand: [a]\n", "name", "1 to 63"),
        Refused("name: ../x\ncommand: [a]\n", "name", "must not contain '/' or '..'"),
        Refused("name: a..b\ncommand: [a]\n", "name", "must not contain '/' or '..'"),
        Refused("name: a/b\ncommand: [a]\n", "name", "must not contain '/' or '..'"),
        Refused("name: ..\ncommand: [a]\n", "name", "must not contain '/' or '..'"),
        Refused("name: \"é\"\ncommand: [a]\n", "name", "1 to 63"),
        Refused(spec("kind: daemon\n"), "kind", "must be one of service, batch"),
        Refused(spec("kind: [batch]\n"), "kind", "must be a string"),
    ]
    @Test(arguments: nameRules) func nameAndKind(_ c: Refused) { expectRefused(c) }

    @Test func nameBoundaries() throws {
        let sixtyThree = String(repeating: "a", count: 63)
        #expect(try JobSpecParser.parse("name: \(sixtyThree)\ncommand: [a]\n").name == sixtyThree)
        #expect(try JobSpecParser.parse("name: 0a-b_c.d\ncommand: [a]\n").name == "0a-b_c.d")
        #expect(try JobSpecParser.parse("name: 123\ncommand: [a]\n").name == "123")
    }

    static let commandRules: [Refused] = [
        Refused("name: x\n", "command", "is required"),
        Refused("name: x\ncommand: []\n", "command", "at least one entry"),
        Refused("name: x\ncommand: echo hi\n", "command", "must be a sequence of strings"),
        Refused("name: x\ncommand: {a: b}\n", "command", "must be a sequence of strings"),
        Refused("name: x\ncommand: [\"\"]\n", "command[0]", "must not be empty"),
        Refused("name: x\ncommand: [\"\", b]\n", "command[0]", "must not be empty"),
        Refused("name: x\ncommand: [a, {b: c}]\n", "command[1]", "must be a string, not a mapping"),
        Refused("name: x\ncommand: [a, [b]]\n", "command[1]", "must be a string, not a sequence"),
        Refused("name: x\ncommand: [a, ~]\n", "command[1]", "must be a string, not null"),
        Refused("name: x\ncommand: [a, null]\n", "command[1]", "not null"),
        Refused("name: x\ncommand: [a, \"x\\0y\"]\n", "command[1]", "must not contain NUL"),
        Refused("name: x\ncommand: [a, \"\(String(repeating: "z", count: 4097))\"]\n", "command[1]", "at most 4096 bytes"),
        Refused("name: x\ncommand: [\(Array(repeating: "a", count: 257).joined(separator: ","))]\n", "command", "at most 256 entries"),
        Refused(spec("args: hello\n"), "args", "must be a sequence of strings"),
        Refused(spec("args: [a, ~]\n"), "args[1]", "not null"),
        Refused(spec("args: [\"\\0\"]\n"), "args[0]", "NUL"),
        Refused(spec("args: [\(Array(repeating: "a", count: 256).joined(separator: ","))]\n"), "args", "command and args together must have at most 256 entries"),
    ]
    @Test(arguments: commandRules) func command(_ c: Refused) { expectRefused(c) }

    @Test func argvBoundaries() throws {
        let max = try JobSpecParser.parse("name: x\ncommand: [\(Array(repeating: "a", count: 256).joined(separator: ","))]\n")
        #expect(max.command.count == 256)
        let split = try JobSpecParser.parse("name: x\ncommand: [\(Array(repeating: "a", count: 100).joined(separator: ","))]\nargs: [\(Array(repeating: "b", count: 156).joined(separator: ","))]\n")
        #expect(split.command.count == 256 && split.command.last == "b")
        let long = try JobSpecParser.parse("name: x\ncommand: [a, \"\(String(repeating: "z", count: 4096))\"]\n")
        #expect(long.command[1].utf8.count == 4096)
    }

    static let envRules: [Refused] = [
        Refused(spec("env: [A=1]\n"), "env", "must be a mapping of names to values, not a sequence"),
        Refused(spec("env: A=1\n"), "env", "must be a mapping"),
        Refused(spec("env: {1A: x}\n"), "env.1A", "letters, digits and '_'"),
        Refused(spec("env: {A-B: x}\n"), "env.A-B", "letters, digits and '_'"),
        Refused(spec("env: {\"\": x}\n"), "env[\"\"]", "letters, digits and '_'"),
        Refused(spec("env: {\"A B\": x}\n"), "env[\"A B\"]", "letters, digits and '_'"),
        Refused(spec("env: {\"A\\nB\": x}\n"), "env[\"A\\u{a}B\"]", "letters, digits and '_'"),
        Refused(spec("env: {BERTH_TENANT: x}\n"), "env.BERTH_TENANT", "reserved"),
        Refused(spec("env: {BERTH_: x}\n"), "env.BERTH_", "reserved"),
        Refused(spec("env: {A: }\n"), "env.A", "must be a string, not null"),
        Refused(spec("env: {A: [x]}\n"), "env.A", "must be a string, not a sequence"),
        Refused(spec("env: {A: {b: c}}\n"), "env.A", "not a mapping"),
        Refused(spec("env: {A: \"x\\0y\"}\n"), "env.A", "NUL"),
        Refused(spec("env: {A: \(String(repeating: "v", count: 32 * 1024 + 1))}\n"), "env.A", "at most 32 KiB"),
        Refused(spec("env: {\((0...128).map { "V\($0): x" }.joined(separator: ", "))}\n"), "env", "at most 128 entries"),
        Refused(spec("env: {\(String(repeating: "A", count: 256)): x}\n"), "env[\"\(String(repeating: "A", count: 64))…\"]", "at most 255 bytes"),
    ]
    @Test(arguments: envRules) func environment(_ c: Refused) { expectRefused(c) }

    @Test func environmentBoundaries() throws {
        let s = try JobSpecParser.parse(spec("env: {\((0..<128).map { "V\($0): x" }.joined(separator: ", ")), }\n"))
        #expect(s.env.count == 128)
        let big = try JobSpecParser.parse(spec("env: {PATH: /opt/bin, A: \(String(repeating: "v", count: 32 * 1024))}\n"))
        #expect(big.env["A"]?.utf8.count == 32 * 1024 && big.env["PATH"] == "/opt/bin")
    }

    static let workdirRules: [Refused] = [
        Refused(spec("workdir: ../x\n"), "workdir", "no '..' component"),
        Refused(spec("workdir: a/../../b\n"), "workdir", "no '..' component"),
        Refused(spec("workdir: a/..\n"), "workdir", "no '..' component"),
        Refused(spec("workdir: ..\n"), "workdir", "no '..' component"),
        Refused(spec("workdir: /etc\n"), "workdir", "without a leading '/'"),
        Refused(spec("workdir: //etc\n"), "workdir", "without a leading '/'"),
        Refused(spec("workdir: \"\"\n"), "workdir", "must not be empty"),
        Refused(spec("workdir:\n"), "workdir", "not null"),
        Refused(spec("workdir: a/./b\n"), "workdir", "'.' component"),
        Refused(spec("workdir: \"a\\0b\"\n"), "workdir", "NUL"),
        Refused(spec("workdir: \"a\\tb\"\n"), "workdir", "printable"),
        Refused(spec("workdir: \"a\\u202Eb\"\n"), "workdir", "printable"),
        Refused(spec("workdir: \(String(repeating: "d/", count: 128))\n"), "workdir", "at most 255 bytes"),
        Refused(spec("workdir: [a]\n"), "workdir", "must be a string"),
    ]
    @Test(arguments: workdirRules) func workdir(_ c: Refused) { expectRefused(c) }

    static let resourceRules: [Refused] = [
        Refused(spec("resources: {memory: 12Qi}\n"), "resources.memory", "unknown unit 'Qi'"),
        Refused(spec("resources: {cpu: -1}\n"), "resources.cpu", "no sign"),
        Refused(spec("resources: {cpu: 0}\n"), "resources.cpu", "at least 0.01"),
        Refused(spec("resources: {cpu: 1e3}\n"), "resources.cpu", "exponent"),
        Refused(spec("resources: {cpu: .inf}\n"), "resources.cpu", "unknown unit 'inf'"),
        Refused(spec("resources: {cpu: }\n"), "resources.cpu", "must be a string, not null"),
        Refused(spec("resources: {cpu: [1]}\n"), "resources.cpu", "not a sequence"),
        Refused(spec("resources: {memory: {a: b}}\n"), "resources.memory", "not a mapping"),
        Refused(spec("resources: {memory: 64Mi, memory-high: 128Mi}\n"), "resources.memory-high", "must not exceed memory"),
        Refused(spec("resources: {memory: 1}\n"), "resources.memory", "at least 4Ki"),
        Refused(spec("resources: {swap: -1}\n"), "resources.swap", "no sign"),
        Refused(spec("resources: {cpu-weight: 0}\n"), "resources.cpu-weight", "from 1 to 10000"),
        Refused(spec("resources: {io-weight: 10001}\n"), "resources.io-weight", "from 1 to 10000"),
        Refused(spec("resources: {io-device: /dev/sda}\n"), "resources.io-device", "needs at least one of"),
        Refused(spec("resources: {io-read: 1Mi, io-device: sda}\n"), "resources.io-device", "absolute path"),
        Refused(spec("resources: {io-read-iops: 0}\n"), "resources.io-read-iops", "must be from 1 to 100000000"),
        Refused(spec("resources: {pids: 0}\n"), "resources.pids", "must be from 1 to"),
        Refused(spec("resources: {cpus: 1}\n"), "resources.cpus", "unknown field; did you mean 'cpu'?"),
        Refused(spec("resources: {memory_high: 1Gi}\n"), "resources.memory_high", "did you mean 'memory-high'?"),
        Refused(spec("resources: {gpu: 1}\n"), "resources.gpu", "allowed: cpu, cpu-weight, memory, memory-high, swap, io-read, io-write, io-read-iops, io-write-iops, io-device, io-weight, pids"),
        Refused(spec("resources: [cpu]\n"), "resources", "must be a mapping with the fields cpu,"),
        Refused(spec("resources: 1\n"), "resources", "must be a mapping"),
    ]
    @Test(arguments: resourceRules) func resources(_ c: Refused) { expectRefused(c) }

    static let durationRules: [Refused] = [
        Refused(spec("deadline: soon\n"), "deadline", "must be a duration"),
        Refused(spec("deadline: 0s\n"), "deadline", "at least 1ms"),
        Refused(spec("deadline: -5s\n"), "deadline", "must be a duration"),
        Refused(spec("deadline: 1:30\n"), "deadline", "must be a duration"),
        Refused(spec("deadline: [1s]\n"), "deadline", "must be a string"),
        Refused(spec("network: bridge\n"), "network", "must be one of none, shaped, host"),
        Refused(spec("network: \n"), "network", "not null"),
        Refused(spec("restart: always\n"), "restart", "must be a mapping with the fields policy, max-restarts, backoff, max-backoff"),
        Refused(spec("restart: {policy: sometimes}\n"), "restart.policy", "must be one of never, on-failure, always"),
        Refused(spec("restart: {policy: onFailure}\n"), "restart.policy", "must be one of"),
        Refused(spec("restart: {max-restarts: 10001}\n"), "restart.max-restarts", "from 0 to 10000"),
        Refused(spec("restart: {max-restarts: 1.5}\n"), "restart.max-restarts", "whole number"),
        Refused(spec("restart: {max-restarts: 0x10}\n"), "restart.max-restarts", "whole number"),
        Refused(spec("restart: {max-restarts: +3}\n"), "restart.max-restarts", "whole number"),
        Refused(spec("restart: {backoff: 50ms}\n"), "restart.backoff", "at least 100ms"),
        Refused(spec("restart: {backoff: 25h}\n"), "restart.backoff", "at most 24h"),
        Refused(spec("restart: {backoff: fast}\n"), "restart.backoff", "must be a duration"),
        Refused(spec("restart: {max-backoff: 500ms}\n"), "restart.max-backoff", "at least restart.backoff (1s)"),
        Refused(spec("restart: {backoff: 10s, max-backoff: 5s}\n"), "restart.max-backoff", "at least restart.backoff (10s)"),
        Refused(spec("restart: {max-backoff: 25h}\n"), "restart.max-backoff", "at most 24h"),
        Refused(spec("restart: {max_restarts: 3}\n"), "restart.max_restarts", "did you mean 'max-restarts'?"),
        Refused(spec("restart: {policy: always, delay: 1s}\n"), "restart.delay", "unknown field"),
        Refused(spec("checkpoint: {keep: 0}\n"), "checkpoint.keep", "from 1 to 1000"),
        Refused(spec("checkpoint: {keep: 1001}\n"), "checkpoint.keep", "from 1 to 1000"),
        Refused(spec("checkpoint: {keep: }\n"), "checkpoint.keep", "not null"),
        Refused(spec("checkpoint: {every: 5m}\n"), "checkpoint.every", "unknown field; allowed: keep"),
        Refused(spec("checkpoint: 3\n"), "checkpoint", "must be a mapping with the fields keep"),
    ]
    @Test(arguments: durationRules) func deadlineNetworkRestartCheckpoint(_ c: Refused) { expectRefused(c) }

    static let labelRules: [Refused] = [
        Refused(spec("labels: [a]\n"), "labels", "must be a mapping of keys to values"),
        Refused(spec("labels: {Team: x}\n"), "labels.Team", "keys must be 1 to 63 of a-z, 0-9"),
        Refused(spec("labels: {\"\": x}\n"), "labels[\"\"]", "keys must be 1 to 63"),
        Refused(spec("labels: {\"a b\": x}\n"), "labels[\"a b\"]", "keys must be"),
        Refused(spec("labels: {\(String(repeating: "k", count: 64)): x}\n"), "labels.\(String(repeating: "k", count: 64))", "keys must be 1 to 63"),
        Refused(spec("labels: {team: \(String(repeating: "v", count: 257))}\n"), "labels.team", "at most 256 bytes"),
        Refused(spec("labels: {team: \"a\\nb\"}\n"), "labels.team", "printable"),
        Refused(spec("labels: {team: {a: b}}\n"), "labels.team", "not a mapping"),
        Refused(spec("labels: {team: }\n"), "labels.team", "not null"),
        Refused(spec("labels: {\((0...64).map { "l\($0): x" }.joined(separator: ", "))}\n"), "labels", "at most 64 entries"),
    ]
    @Test(arguments: labelRules) func labels(_ c: Refused) { expectRefused(c) }

    @Test func labelBoundaries() throws {
        let s = try JobSpecParser.parse(spec("labels: {\((0..<64).map { "l\($0): x" }.joined(separator: ", ")), \(String(repeating: "k", count: 63)): \(String(repeating: "v", count: 256))}\n".replacingOccurrences(of: "l63: x, ", with: "")))
        #expect(s.labels.count == 64)
    }

    // MARK: - Structure

    static let structureRules: [Refused] = [
        Refused(spec("nmae: y\n"), "nmae", "unknown field; did you mean 'name'? allowed: name, kind, command, args, env, workdir, resources, deadline, network, restart, checkpoint, labels"),
        Refused(spec("image: debian\n"), "image", "unknown field; allowed: name,"),
        Refused(spec("Name: y\n"), "Name", "did you mean 'name'?"),
        Refused(spec("\"\": y\n"), "[\"\"]", "unknown field"),
        Refused(spec("1: y\n"), "1", "unknown field"),
        Refused("name: a\nname: b\ncommand: [a]\n", "name", "is given twice (first on line 1)"),
        Refused(spec("resources:\n  cpu: 1\n  cpu: 2\n"), "resources.cpu", "is given twice (first on line 4)"),
        Refused(spec("env: {A: 1, A: 2}\n"), "env.A", "is given twice"),
        Refused(spec("env: {A: 1, \"A\": 2}\n"), "env.A", "is given twice"),
        Refused(#"{"name": "x", "command": ["a"], "name": "y"}"#, "name", "is given twice"),
        Refused(spec("env: {[A]: 1}\n"), "env", "keys must be strings"),
        Refused(spec("? {a: b}\n: c\n"), nil, "keys must be strings"),
        Refused("- name: x\n", nil, "the spec must be a mapping with the fields name,"),
        Refused("just words\n", nil, "the spec must be a mapping"),
        Refused("", nil, "the spec is empty"),
        Refused("  \n\n", nil, "the spec is empty"),
        Refused("# only a comment\n", nil, "the spec is empty"),
        Refused("---\n...\n", nil, "the spec is empty"),
        Refused(spec("---\nname: y\n"), nil, "single YAML document"),
        Refused("name: [x\ncommand: a\n", nil, "not valid YAML"),
        Refused("name: x\n  command: [a]\n", nil, "line 2"),
        Refused("name: x\ncommand: [a]\n\tkind: batch\n", nil, "not valid YAML"),
    ]
    @Test(arguments: structureRules) func structure(_ c: Refused) { expectRefused(c) }

    // MARK: - Hostile input

    static let hostileRules: [Refused] = [
        Refused("base: &b [x]\nname: x\ncommand: *b\n", "base", "anchors (&b) and aliases are not allowed"),
        Refused("name: x\ncommand: [a]\nenv: {A: *undefined}\n", "env.A", "aliases (*undefined) are not allowed"),
        Refused("name: &n x\ncommand: [a]\n", "name", "anchors (&n)"),
        Refused("name: x\ncommand: &c [a]\n", "command", "anchors (&c)"),
        Refused("name: x\n&k command: [a]\n", "command", "anchors (&k)"),
        Refused("name: x\ncommand: [a]\nenv: {A: !!python/object:os.system x}\n", "env.A", "only the standard tags"),
        Refused("name: x\ncommand: [a]\nenv: {A: !custom x}\n", "env.A", "only the standard tags"),
        Refused("name: x\ncommand: [a]\nenv: {A: ! x}\n", "env.A", "only the standard tags"),
        Refused("name: x\ncommand: !!set {a}\n", "command", "only the standard tags"),
        Refused("name: x\ncommand: [!!binary aGVsbG8=]\n", "command[0]", "only the standard tags"),
        Refused("name: x\ncommand: [a]\ndeadline: !!timestamp 2001-12-14\n", "deadline", "only the standard tags"),
        Refused("%TAG !! tag:evil.example.com:\n---\nname: !!str x\ncommand: [a]\n", "name", "only the standard tags"),
        Refused("name: x\ncommand: [a]\nenv:\n  <<: {A: 1}\n", "env.<<", "letters, digits and '_'"),
        Refused("name: x\ncommand: " + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "\n",
                "command" + String(repeating: "[0]", count: 15), "nests deeper than 16 levels"),
        Refused("name: x\ncommand: [a]\nextra: " + String(repeating: "[", count: 500_000) + "\n", nil, "nests deeper than 16 levels"),
        Refused("name: x\ncommand: [a]\nextra: [" + Array(repeating: "1", count: 10_001).joined(separator: ",") + "]\n",
                "extra[9992]", "more than 10000 values"),
    ]
    @Test(arguments: hostileRules) func hostile(_ c: Refused) { expectRefused(c) }

    @Test func aliasesAreRefusedBeforeExpansion() throws {
        // "Billion laughs": 9 levels of 9 aliases each would be 387 million strings.
        var lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for level in 1...9 {
            lines.append("l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 9).joined(separator: ", ") + "]")
        }
        let text = "name: x\ncommand: [a]\n" + lines.joined(separator: "\n") + "\n"
        let e = try #require(refusal(text))
        #expect(e.field == "l0" && e.message.contains("anchors (&l0) and aliases are not allowed"), "\(e.message)")
        // An alias used as a key: Yams would hash the whole aliased tree to look for duplicates.
        let keyed = "? &k [a, b]\n: 1\n? *k\n: 2\n"
        #expect(refusal(keyed)?.message.contains("keys must be strings") == true)
        let aliasOnly = try #require(refusal("name: x\ncommand: [a]\nenv:\n  A: *x\n"))
        #expect(aliasOnly.field == "env.A" && aliasOnly.message.hasPrefix("line 4: env.A: aliases (*x)"), "\(aliasOnly.message)")
    }

    @Test func aliasWithoutAnchorOnTheSameNodeIsNamed() throws {
        // An anchor libyaml accepts on one value and an alias on another: the anchor is named first.
        let e = try #require(refusal("name: x\ncommand: [a]\nargs: [&a b, *a]\n"))
        #expect(e.field == "args[0]", "\(e.message)")
    }

    /// Values at and past Int64.max, an exponent and a sign: a clear error for every numeric
    /// field, never a crash, a wrap or a rounding.
    @Test(arguments: ["9223372036854775807", "9223372036854775808", "99999999999999999999999999", "1e400", "-1", "-9223372036854775808"],
          ["restart.max-restarts", "checkpoint.keep", "resources.pids", "resources.cpu", "resources.memory",
           "resources.cpu-weight", "resources.io-read", "resources.io-write-iops", "deadline", "restart.backoff"])
    func hugeNumbers(value: String, field: String) throws {
        let parts = field.split(separator: ".")
        let line = parts.count == 2 ? "\(parts[0]): {\(parts[1]): \(value)}\n" : "\(field): \(value)\n"
        let e = try #require(refusal(spec(line)), "accepted \(field): \(value)")
        #expect(e.code == .invalidSpec)
        #expect(e.field == field, "\(e.message)")
        #expect(e.message.contains("(got '\(value)')") || e.message.contains("must"), "\(e.message)")
    }

    @Test func largestAcceptedNumbers() throws {
        let s = try JobSpecParser.parse(spec("restart: {max-restarts: 10000}\ncheckpoint: {keep: 1000}\nresources: {memory: 1Pi}\ndeadline: 8784h\n"))
        #expect(s.restart.maxRestarts == 10_000 && s.checkpoint.keep == 1000 && s.deadlineMillis == 8784 * 3_600_000)
        #expect(refusal(spec("deadline: 8785h\n"))?.field == "deadline")
    }

    // MARK: - Bytes

    @Test func bodyLimits() throws {
        let twoMiB = Array(spec("env: {A: \"").utf8) + Array(repeating: UInt8(ascii: "x"), count: 2 << 20) + Array("\"}\n".utf8)
        let big = try #require(refusal(bytes: twoMiB))
        #expect(big.field == nil && big.message.contains("at most 1 MiB"), "\(big.message)")
        #expect(refusal(String(decoding: twoMiB, as: UTF8.self))?.message.contains("at most 1 MiB") == true)

        // Just under the limit is read (and refused for its field, not its size).
        let padding = JobSpecParser.maximumBytes - spec("#\n").utf8.count
        let justUnder = spec("#" + String(repeating: "x", count: padding) + "\n")
        #expect(justUnder.utf8.count == JobSpecParser.maximumBytes)
        #expect(try JobSpecParser.parse(bytes: Array(justUnder.utf8)).name == "x")

        let nul = try #require(refusal(bytes: Array(spec("").utf8) + [0]))
        #expect(nul.field == nil && nul.message.contains("NUL"))
        #expect(refusal(spec("") + "\0")?.message.contains("NUL") == true)

        for invalid: [UInt8] in [[0xff, 0xfe], Array("name: x\n".utf8) + [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xc0, 0xaf]] {
            let e = try #require(refusal(bytes: invalid))
            #expect(e.field == nil && e.message.contains("UTF-8"), "\(e.message)")
        }
        // A UTF-8 byte order mark is fine.
        #expect(try JobSpecParser.parse(bytes: [0xef, 0xbb, 0xbf] + Array(spec("").utf8)).name == "x")
    }

    // MARK: - The shipped examples

    static let examplesDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("examples/jobs")

    static func exampleFiles() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: examplesDirectory.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted()
    }

    @Test func examplesArePresent() {
        #expect(Set(Self.exampleFiles()).isSuperset(of: ["sessionizer.yaml", "wordcount.yaml", "crashy.yaml", "big.yaml"]))
    }

    @Test(arguments: exampleFiles()) func exampleParses(_ file: String) throws {
        let data = try Data(contentsOf: Self.examplesDirectory.appendingPathComponent(file))
        let s = try JobSpecParser.parse(bytes: Array(data))
        #expect(s.name + ".yaml" == file, "a job's name is its file's")
        #expect(s.command.first?.hasPrefix("/") == true, "examples name their program by absolute path")
        _ = try Resources(parsing: s.resources)
    }

    @Test func examplesSayWhatTheyShow() throws {
        func load(_ name: String) throws -> JobSpec {
            try JobSpecParser.parse(bytes: Array(Data(contentsOf: Self.examplesDirectory.appendingPathComponent(name + ".yaml"))))
        }
        let sessionizer = try load("sessionizer")
        #expect(sessionizer.kind == .service && sessionizer.resources.cpu == "0.2" && sessionizer.resources.memory == "64Mi")
        #expect(sessionizer.restart.condition == .onFailure)
        let wordcount = try load("wordcount")
        #expect(wordcount.kind == .batch && wordcount.command.prefix(2) == ["/bin/sh", "-c"])
        let crashy = try load("crashy")
        #expect(crashy.kind == .service && crashy.restart.condition == .onFailure)
        #expect((1...5).map { crashy.restart.backoff(restart: $0) } == [1000, 2000, 4000, 8000, 8000])
        let big = try load("big")
        #expect(big.resources.cpu == "1.5" && big.resources.memory == "512Mi")
    }
}
