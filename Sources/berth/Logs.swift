import ArgumentParser
import BerthClient

struct Logs: ClientCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a job's output (stdout, or stderr with --stderr), as written.",
        discussion: "With -f, keeps printing as the job writes, until its run ends and the log is drained.")

    @OptionGroup var reference: JobReference

    @Flag(name: [.customShort("f"), .long], help: "Keep printing as the job writes, until its run ends.")
    var follow = false

    @Flag(help: "Print the job's standard error instead of its standard output.")
    var stderr = false

    @Option(help: ArgumentHelp("Only the last N lines.", valueName: "n"))
    var tail: Int?

    @OptionGroup var options: ClientOptions

    func validate() throws {
        if let tail, tail < 0 { throw ValidationError("--tail must be 0 or more") }
        if options.json { throw ValidationError("logs are text: --json does not apply") }
    }

    func run() async throws {
        try await options.withClient { client in
            // The job's bytes go out as they come: log text is the job's own, not escaped.
            let chunks = try await client.logs(job: reference.job, tenant: reference.tenant,
                                               stream: stderr ? .stderr : .stdout, tail: tail, follow: follow)
            for try await chunk in chunks { Output.write(bytes: chunk) }
        }
    }
}
