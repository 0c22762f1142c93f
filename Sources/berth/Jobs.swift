import ArgumentParser
import BerthClient
import BerthCore

/// The job a command acts on: an id, or a name within a tenant.
struct JobReference: ParsableArguments {
    @Argument(help: ArgumentHelp("The job's id (j and 16 hex digits) or its name.", valueName: "job"))
    var job: String

    @Option(help: ArgumentHelp("The tenant whose job NAME is (operator; a tenant names its own jobs).", valueName: "name"))
    var tenant: String?
}

struct ListJobs: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List jobs: the running and waiting ones, or all with --all.")

    @Option(help: ArgumentHelp("Only this tenant's jobs (operator).", valueName: "name"))
    var tenant: String?

    @Flag(name: [.short, .long], help: "Include the jobs that have ended: stopped, succeeded, failed.")
    var all = false

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await options.withClient { client in
            let jobs = try await client.jobs(tenant: tenant)
                .filter { all || !$0.phase.isFinal }
                .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
            if options.json { return try Output.json(jobs) }
            let names = await tenantNames(client, for: jobs)
            let now = Output.now
            let rows = jobs.map { job in
                [job.id, job.spec.name, names[job.tenantID] ?? job.tenantID, job.spec.kind.rawValue, job.phase.rawValue,
                 String(job.restarts), Format.age(since: job.createdAt, now: now), job.reason ?? ""]
            }
            Output.table(["ID", "NAME", "TENANT", "KIND", "PHASE", "RESTARTS", "AGE", "REASON"], rows, flexible: 7)
        }
    }

    /// Tenant names by id, for the operator (who may list tenants); a tenant sees ids.
    func tenantNames(_ client: APIClient, for jobs: [Job]) async -> [String: String] {
        guard !jobs.isEmpty, let tenants = try? await client.tenants() else { return [:] }
        return Dictionary(tenants.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
    }
}

struct Status: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a job: its spec and phase, its runs, and its recent events.")

    @OptionGroup var reference: JobReference

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await options.withClient { client in
            let status = try await client.status(job: reference.job, tenant: reference.tenant)
            if options.json { return try Output.json(status) }
            let job = status.job
            var fields: [(String, String)] = [
                ("Job", job.id), ("Name", job.spec.name), ("Tenant", status.tenant), ("Kind", job.spec.kind.rawValue),
                ("Phase", job.phase.rawValue + (job.reason.map { "  " + $0 } ?? "")),
                ("Desired", job.desired.rawValue), ("Restarts", String(job.restarts)),
                ("Command", job.spec.command.joined(separator: " ")),
                ("Created", Output.dateTime(job.createdAt)), ("Updated", Output.dateTime(job.updatedAt)),
            ]
            if job.lastExit != nil || job.lastExitCode != nil {
                fields.append(("Last exit", Format.ending(job.lastExit, code: job.lastExitCode)))
            }
            if let next = job.nextAttemptAt { fields.append(("Next run", Output.dateTime(next))) }
            Output.fields(fields)

            Output.line("")
            Output.line("Runs:")
            let runs = status.runs.sorted { $0.startedAt < $1.startedAt }
            if runs.isEmpty {
                Output.line("  none")
            } else {
                Output.table(["  ID", "STATE", "PID", "STARTED", "ENDED", "EXIT", "MESSAGE"], runs.map { run in
                    ["  " + run.id, run.state.rawValue, run.pid.map { String($0) } ?? "-", Output.dateTime(run.startedAt),
                     Output.dateTime(run.endedAt), Format.ending(run.exit, code: run.exitCode), run.message ?? ""]
                }, flexible: 6)
            }

            Output.line("")
            Output.line("Events:")
            let events = status.events.sorted { $0.revision < $1.revision }
            if events.isEmpty {
                Output.line("  none")
            } else {
                Output.table(["  TIME", "KIND", "MESSAGE"], events.map {
                    ["  " + Output.dateTime($0.at), $0.kind, $0.message]
                }, flexible: 2)
            }
        }
    }
}

struct Stop: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Stop a job: its run gets SIGTERM, then is killed after its grace period.")

    @OptionGroup var reference: JobReference

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await options.withClient { client in
            let job = try await client.stop(job: reference.job, tenant: reference.tenant)
            if options.json { return try Output.json(job) }
            Output.line(Format.escaped(job.id) + " " + job.phase.rawValue)
        }
    }
}

struct Remove: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove a job: stop it, then delete it.")

    @OptionGroup var reference: JobReference

    @OptionGroup var options: ClientOptions

    func run() async throws {
        try await options.withClient { client in
            let job = try await client.remove(job: reference.job, tenant: reference.tenant)
            if options.json { return try Output.json(job) }
            Output.line(Format.escaped(job.id) + " removing")
        }
    }
}
