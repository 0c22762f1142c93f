import ArgumentParser
import BerthIsolation

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "doctor", abstract: "Tell what this host can do for Berth, and what to fix.")

    @Option(name: .customLong("cgroup-root"), help: "The cgroup root Berth would use.") var cgroupRoot: String?

    func run() throws {
        let report = HostReport.inspect(cgroupRoot: cgroupRoot)
        for check in report.checks {
            print("[\(padded(check.level.rawValue, to: 4))] \(check.name): \(check.detail)")
            if let fix = check.fix { print("       fix: \(fix)") }
        }
        if report.hasFailures { throw ExitCode(1) }
    }

    /// `text` cut or padded with spaces to `width` characters (Foundation's `padding(toLength:)`,
    /// which FoundationEssentials lacks).
    func padded(_ text: String, to width: Int) -> String {
        String(text.prefix(width)) + String(repeating: " ", count: max(0, width - text.count))
    }
}
