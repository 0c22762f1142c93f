import ArgumentParser
import BerthIsolation

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Tell what this host can do for Berth, and what to fix.")

    @Option(name: .customLong("cgroup-root"), help: "The cgroup root Berth would use.") var cgroupRoot: String?

    func run() throws {
        let report = HostReport.inspect(cgroupRoot: cgroupRoot)
        for check in report.checks {
            print("[\(check.level.rawValue.padding(toLength: 4, withPad: " ", startingAt: 0))] \(check.name): \(check.detail)")
            if let fix = check.fix { print("       fix: \(fix)") }
        }
        if report.hasFailures { throw ExitCode(1) }
    }
}
