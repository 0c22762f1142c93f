import ArgumentParser
import BerthClient
import BerthCore

struct Submit: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit a job from its spec file (YAML or JSON).",
        discussion: """
            Prints the job's id and phase. With --wait, prints each change as it happens until the \
            job stops, succeeds or fails, and exits 0 unless it failed (1). With --dry-run, the spec is \
            checked and admission tried, nothing is stored: "valid; would start now" or \
            "valid; would wait: REASON".
            """)

    @Argument(help: ArgumentHelp("The job's spec file; - reads standard input.", valueName: "file"),
              completion: .file(extensions: ["yaml", "yml", "json"]))
    var file: String

    @Option(help: ArgumentHelp("The tenant the job is for (operator; a tenant submits its own).", valueName: "name"))
    var tenant: String?

    @Flag(help: "Wait until the job ends, printing each change; exit 1 if it failed.")
    var wait = false

    @Flag(name: .customLong("dry-run"), help: "Check the spec and say whether the job would start now; submit nothing.")
    var dryRun = false

    @Option(name: .customLong("idempotency-key"),
            help: ArgumentHelp("Submit at most once under this key: a retry answers the first submission.", valueName: "key"))
    var idempotencyKey: String?

    @OptionGroup var options: ClientOptions

    /// The spec files Berth reads; the daemon has its own limit (413).
    static let maxSpecBytes = 4 << 20

    func validate() throws {
        if wait && dryRun { throw ValidationError("--wait and --dry-run do not go together: a dry run starts nothing") }
    }

    func run() async throws {
        let spec = try readFile(file, limit: Self.maxSpecBytes)
        try await options.withClient { client in
            let response = try await client.submit(spec: spec, tenant: tenant, dryRun: dryRun, idempotencyKey: idempotencyKey)
            if dryRun {
                if options.json { return try Output.json(response) }
                Output.line(response.admissible ? "valid; would start now"
                                                : "valid; would wait: " + Format.escaped(response.reason ?? "no reason given"))
                return
            }
            if !options.json {
                let job = response.job
                var line = Format.escaped(job.id) + " " + job.phase.rawValue
                if let reason = job.reason, !reason.isEmpty { line += "  " + Format.escaped(reason) }
                if !response.created { line += "  (already submitted under this idempotency key)" }
                Output.line(line)
            } else if !wait {
                return try Output.json(response)
            }
            guard wait else { return }
            let status = try await Self.waitForEnd(of: response.job.id, client: client, printing: !options.json)
            if options.json { try Output.json(status) }
            if status.job.phase == .failed { throw ExitCode(1) }
        }
    }

    /// The job's final status, once it is stopped, succeeded or failed. Long-polls its events,
    /// printing each as it comes (`12:00:01 started`) when `printing`; looks at the job itself
    /// after a final event or a quiet poll, so a missed event cannot keep it waiting for ever.
    static func waitForEnd(of job: String, client: APIClient, printing: Bool) async throws -> JobStatus {
        let finalKinds: Set<String> = ["stopped", "succeeded", "failed", "removed"]
        var after: Int64 = 0
        while true {
            let events: [Event]
            let asked = ContinuousClock.now
            do {
                events = try await client.events(job: job, after: after, wait: 30)
                // A daemon that answers an empty poll at once must not be asked again at once.
                if events.isEmpty, ContinuousClock.now - asked < .seconds(1) { try await Task.sleep(for: .seconds(1)) }
            } catch let error as ClientError where error.status == 429 || error.status == 503 {
                try await Task.sleep(for: .seconds(min(max(error.retryAfterSeconds ?? 1, 1), 60)))
                continue
            }
            for event in events.sorted(by: { $0.revision < $1.revision }) where event.revision > after {
                after = event.revision
                guard printing else { continue }
                let message = event.message.isEmpty ? "" : "  " + Format.escaped(event.message)
                Output.line(Output.clock(event.at) + " " + Format.escaped(event.kind) + message)
            }
            if events.isEmpty || events.contains(where: { finalKinds.contains($0.kind) }) {
                let status = try await client.status(job: job)
                if status.job.phase.isFinal { return status }
            }
        }
    }
}
