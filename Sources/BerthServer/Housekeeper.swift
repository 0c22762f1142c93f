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
/// never act at once) and prunes finished runs and events by the retention policy.
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
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(5)) }
            } catch is CancellationError {
                return
            }
            // A busy or failing store is retried at the next tick; only a lease another holder
            // took (so this daemon's epoch is fenced) ends the daemon.
            let renewed: Int64?
            do {
                renewed = try await store.acquireLease("leader", holder: holder, ttlMillis: 15_000)
            } catch {
                logger.warning("renewing the leader lease: \(error)")
                continue
            }
            guard let renewed, renewed == epoch else { throw StoreError.fenced(current: renewed ?? -1, mine: epoch) }
            tick += 1
            if tick % 12 == 1 {
                do {
                    _ = try await store.prune(settings.retention)
                } catch {
                    logger.warning("housekeeping: \(error)")
                }
            }
        }
    }
}
