#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import BerthClient
import BerthCore
import BerthIsolation

@main
struct Berth: AsyncParsableCommand {
    // The names are given, not derived: deriving one costs String(describing:) on the type,
    // whose first protocol-conformance scans are a measurable part of the CLI's start.
    static let configuration = CommandConfiguration(
        commandName: "berth",
        abstract: "Run jobs in their own cgroups, with limits on CPU, memory, I/O and pids.",
        discussion: """
            'berth run' runs one job here and waits for it. 'berth serve' is the daemon; submit, ls, \
            status, logs, stop and rm are its clients, and tenant, token and quota its operator's. \
            The clients find the daemon at --socket (BERTH_SOCKET, default /var/lib/berth/berth.sock) \
            or --address (BERTH_ADDR), and send --token (BERTH_TOKEN; else operator.token beside the \
            socket, when readable). They exit 1 when the daemon cannot be reached or refuses, 2 on bad \
            arguments.

            Shell completions: 'berth --generate-completion-script bash|zsh|fish' (ArgumentParser \
            writes them from these commands); the generated scripts are shipped in completions/ and \
            are regenerated whenever a command or option changes.
            """,
        subcommands: [Run.self, Doctor.self, Serve.self,
                      Submit.self, ListJobs.self, Status.self, Logs.self, Stop.self, Remove.self,
                      Tenants.self, Tokens.self, Quotas.self])

    /// Exit codes: `berth run` and `doctor` follow `docker run` (125 when Berth itself fails or
    /// the arguments are bad); the daemon's clients exit 1 when it cannot be reached or refuses,
    /// 2 on bad arguments.
    static func main() async {
        let command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            usageFailure(error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var syncCommand = command
                try syncCommand.run()
            }
        } catch {
            failure(error, of: command)
        }
    }

    /// The arguments did not parse (or asked for help, a version or a completion script).
    static func usageFailure(_ error: any Error) -> Never {
        if exitCode(for: error) == .success { exit(withError: error) }          // --help, completion scripts
        let first = message(for: error).split(separator: "\n").first.map(String.init) ?? "bad arguments"
        let path = commandPath()
        guard path.count > 1, clientCommands.contains(path[1]) else { fail(first) }
        printError("berth: \(Format.escaped(first)) (see '\(path.joined(separator: " ")) --help')")
        Glibc.exit(2)
    }

    /// A command ran and failed.
    static func failure(_ error: any Error, of command: any ParsableCommand) -> Never {
        if let e = error as? ExitCode { Glibc.exit(e.rawValue) }
        guard command is any ClientCommand else {
            if let e = error as? BerthError { fail(e.message) }
            if exitCode(for: error) == .success { exit(withError: error) }
            fail(message(for: error).split(separator: "\n").first.map(String.init) ?? "failed")
        }
        if exitCode(for: error) == .success { exit(withError: error) }
        let text: String
        switch error {
        case let e as ClientError: text = e.message
        case let e as CommandFailure: text = e.message
        case let e as BerthError: text = e.message
        case is ValidationError:
            printError("berth: \(Format.escaped(message(for: error)))")
            Glibc.exit(2)
        default: text = "\(error)"
        }
        printError("berth: \(Format.escaped(text))")
        Glibc.exit(1)
    }

    /// The top-level names of the daemon's client commands.
    static let clientCommands: Set<String> = ["submit", "ls", "status", "logs", "stop", "rm", "tenant", "token", "quota"]

    /// `berth` and the subcommand names the arguments begin with: `["berth", "quota", "set"]`.
    static func commandPath() -> [String] {
        var path = ["berth"]
        var level = configuration.subcommands
        for argument in CommandLine.arguments.dropFirst() {
            guard let next = level.first(where: { $0.configuration.commandName == argument }) else { break }
            path.append(argument)
            level = next.configuration.subcommands
        }
        return path
    }

    static func fail(_ message: String) -> Never {
        printError("berth: \(message)")
        Glibc.exit(125)
    }
}

/// Writes one line to standard error (Glibc's `stderr` is not concurrency-safe to reference).
func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
}
