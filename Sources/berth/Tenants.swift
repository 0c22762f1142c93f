import ArgumentParser
import BerthClient
import BerthCore

struct Tenants: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tenant",
        abstract: "Add, list and remove tenants (operator).",
        subcommands: [Add.self, List.self, Remove.self])

    struct Add: ClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Add a tenant and print its first token, alone on the line: TOKEN=$(berth tenant add NAME).",
            discussion: "The token is shown once and stored only hashed; make another with 'berth token create'.")

        @Argument(help: ArgumentHelp("The tenant's name: a-z, 0-9 and '-', starting with a letter.", valueName: "name"))
        var name: String

        @OptionGroup var options: ClientOptions

        func run() async throws {
            try await options.withClient { client in
                let response = try await client.addTenant(name: name)
                if options.json { return try Output.json(response) }
                Output.line(Format.escaped(response.token))
            }
        }
    }

    struct List: ClientCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the tenants and their quotas.")

        @OptionGroup var options: ClientOptions

        func run() async throws {
            try await options.withClient { client in
                let tenants = try await client.tenants().sorted { $0.name < $1.name }
                if options.json { return try Output.json(tenants) }
                let now = Output.now
                Output.table(["NAME", "ID", "UID", "STATE", "AGE"] + quotaColumns, tenants.map { tenant in
                    [tenant.name, tenant.id, String(tenant.uid), tenant.state, Format.age(since: tenant.createdAt, now: now)]
                        + limits(tenant.quota)
                })
            }
        }
    }

    struct Remove: ClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm",
            abstract: "Remove a tenant: its jobs are stopped and removed, then its uid, cgroup and checkpoints released.")

        @Argument(help: ArgumentHelp("The tenant's name.", valueName: "name"))
        var name: String

        @OptionGroup var options: ClientOptions

        func run() async throws {
            try await options.withClient { client in
                let tenant = try await client.removeTenant(name: name)
                if options.json { return try Output.json(tenant) }
                let release = tenant.releaseAt.map { "; released at " + Output.dateTime($0) } ?? ""
                Output.line(Format.escaped(tenant.name) + " " + Format.escaped(tenant.state) + release)
            }
        }
    }
}

struct Tokens: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Make API tokens for tenants (operator).",
        subcommands: [Create.self])

    struct Create: ClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Make another token for a tenant and print it, alone on the line.",
            discussion: "The token is shown once and stored only hashed.")

        @Argument(help: ArgumentHelp("The tenant's name.", valueName: "tenant"))
        var tenant: String

        @OptionGroup var options: ClientOptions

        func run() async throws {
            try await options.withClient { client in
                let response = try await client.createToken(tenant: tenant)
                if options.json { return try Output.json(response) }
                Output.line(Format.escaped(response.token))
            }
        }
    }
}

struct Quotas: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quota",
        abstract: "Set and show tenants' quotas: ceilings on what their admitted jobs hold at once.",
        subcommands: [SetLimits.self, Show.self])

    struct SetLimits: ClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Set a tenant's limits; the ones not given stay as they are, 'none' removes one (operator).")

        @Argument(help: ArgumentHelp("The tenant's name.", valueName: "tenant"))
        var tenant: String

        @Option(help: ArgumentHelp("CPU in cores: 4, 0.5, 500m.", valueName: "cores")) var cpu: String?
        @Option(help: ArgumentHelp("Memory: 8Gi, 512Mi.", valueName: "bytes")) var memory: String?
        @Option(help: ArgumentHelp("Block I/O in bytes per second, each direction: 100Mi.", valueName: "rate")) var io: String?
        @Option(help: ArgumentHelp("Network in bits per second, each direction: 100Mbit.", valueName: "rate")) var network: String?
        @Option(help: ArgumentHelp("Tasks (processes and threads).", valueName: "n")) var pids: String?
        @Option(help: ArgumentHelp("Jobs running at once.", valueName: "n")) var jobs: String?

        @OptionGroup var options: ClientOptions

        func validate() throws {
            if [cpu, memory, io, network, pids, jobs].allSatisfy({ $0 == nil }) {
                throw ValidationError("give at least one of --cpu, --memory, --io, --network, --pids, --jobs")
            }
        }

        func run() async throws {
            var request = QuotaRequest()
            request.cpu = cpu; request.memory = memory; request.io = io
            request.network = network; request.pids = pids; request.jobs = jobs
            try await options.withClient { client in
                let updated = try await client.setQuota(tenant: tenant, request)
                if options.json { return try Output.json(updated) }
                Output.table(["TENANT"] + quotaColumns, [[updated.name] + limits(updated.quota)])
            }
        }
    }

    struct Show: ClientCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show quotas beside what admitted jobs use (used/limit), and how many jobs wait.")

        @Argument(help: ArgumentHelp("Only this tenant (operator; a tenant sees its own).", valueName: "tenant"))
        var tenant: String?

        @OptionGroup var options: ClientOptions

        func run() async throws {
            try await options.withClient { client in
                let usage = try await client.quota(tenant: tenant).sorted { $0.tenant < $1.tenant }
                if options.json { return try Output.json(usage) }
                Output.table(["TENANT"] + quotaColumns + ["PENDING"], usage.map { u in
                    let q = u.quota
                    return [u.tenant,
                            Format.usage(Units.cores(microcores: u.usedCpuMicrocores), q.cpuMicrocores.map(Units.cores(microcores:))),
                            Format.usage(Units.bytes(u.usedMemoryBytes), q.memoryBytes.map(Units.bytes)),
                            Format.usage(Units.bytes(u.usedIOBytesPerSecond), q.ioBytesPerSecond.map(Units.bytes)),
                            Format.usage(Units.bits(u.usedNetworkBitsPerSecond), q.networkBitsPerSecond.map(Units.bits)),
                            Format.usage(String(u.usedPids), q.pids.map(String.init)),
                            Format.usage(String(u.usedJobs), q.jobs.map(String.init)),
                            String(u.pendingJobs)]
                })
            }
        }
    }
}

/// The quota columns, in the order `limits` gives them.
let quotaColumns = ["CPU", "MEMORY", "IO", "NETWORK", "PIDS", "JOBS"]

/// A quota's limits in human units, `none` where there is none.
func limits(_ quota: Quota) -> [String] {
    [quota.cpuMicrocores.map(Units.cores(microcores:)) ?? "none", quota.memoryBytes.map(Units.bytes) ?? "none",
     quota.ioBytesPerSecond.map(Units.bytes) ?? "none", quota.networkBitsPerSecond.map(Units.bits) ?? "none",
     quota.pids.map(String.init) ?? "none", quota.jobs.map(String.init) ?? "none"]
}
