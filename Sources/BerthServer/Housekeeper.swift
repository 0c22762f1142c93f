#if canImport(Glibc)
import Glibc
#endif
import BerthAgent
import BerthCore
import BerthIsolation
import BerthStore
import Logging
import ServiceLifecycle

/// The daemon's slow chores: renews its leadership lease (a lost lease ends the daemon, so two
/// never act at once), prunes finished runs and events by the retention policy, and releases
/// removed tenants' uid, cgroup and checkpoints once their grace period is over.
struct Housekeeper: Service {
    let store: any Store
    let agent: Agent
    let epoch: Int64
    let holder: String
    let settings: DaemonSettings
    let logger: Logger

    func run() async throws {
        var tick = 0
        while !Task.isShuttingDownGracefully {
            try await Task.sleep(for: .seconds(5))
            guard let renewed = try await store.acquireLease("leader", holder: holder, ttlMillis: 15_000), renewed == epoch else {
                throw StoreError.fenced(current: -1, mine: epoch)
            }
            tick += 1
            if tick % 12 == 1 {
                do {
                    _ = try await store.prune(settings.retention)
                    try await releaseTenants()
                } catch {
                    logger.warning("housekeeping: \(error)")
                }
            }
        }
    }

    func releaseTenants() async throws {
        let now = try await store.now()
        for tenant in try await store.tenants() where tenant.state == "removing" && (tenant.releaseAt ?? 0) <= now {
            guard try await store.jobs(tenantID: tenant.id).isEmpty, let id = TenantID(tenant.id) else { continue }
            try agent.releaseTenant(id)
            try await store.deleteTenant(id: tenant.id, epoch: epoch)
            logger.info("tenant \(tenant.name) released: uid \(tenant.uid), its cgroup and checkpoints")
        }
    }
}
