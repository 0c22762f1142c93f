#if canImport(Glibc)
import Glibc
#endif
import BerthCore
import BerthIsolation
import Foundation

/// A tenant of its own, so its limits touch no other check's runs.
let quotaTenant: TenantName = {
    do { return try TenantName("quota") } catch { fatalError("\(error)") }
}()

let quotaChecks: [Check] = [
    ("tenant-quota-limits", { ctx in
        // The tenant's quota as kernel limits on its level: a job within its own limit but
        // past its tenant's is OOM-killed, and the kill is put down to the tenant's limit.
        let driver = ctx.launcher.driver
        let tenant = try ctx.launcher.tenantID(quotaTenant)
        func job(_ megabytes: Int, cpu: Int? = nil) -> RunSpec {
            var spec = ctx.spec(ctx.workload("alloc", String(megabytes)), tenant: quotaTenant)
            spec.resources.memoryMax = 256 << 20
            spec.resources.cpuMicrocores = cpu
            return spec
        }
        var limits = TenantLimits()
        limits.memoryBytes = 64 << 20
        limits.cpuMicrocores = 1_000_000
        limits.pids = 64
        defer {
            _ = try? driver.setTenantLimits(tenant, TenantLimits())
            ctx.launcher.removeIdleTree(quotaTenant)
        }
        let shortfalls = try driver.setTenantLimits(tenant, limits)
        try require(shortfalls.isEmpty, "the host could not enforce: \(shortfalls.joined(separator: "; "))")
        let killed = try ctx.run(job(150))
        try require(killed.ending == .oomKilled(byTenantLimit: true), "150 MB under --memory 256Mi and a tenant limit of 64Mi ended as \(killed.ending.summary)")
        try require(killed.ending.exitCode == 137, "exit code \(killed.ending.exitCode), want 137")
        // A charge lands on the run's own counter before its tenant's refuses it, so the run's
        // peak may pass the tenant's limit by up to one charge batch (64 pages), never more.
        let peak = killed.stats.memory.peakBytes ?? -1
        try require(peak <= (64 << 20) + 64 * 4096, "the run's peak was \(peak) B, above the tenant's 64Mi and a charge batch")
        // Within the tenant's limit it runs to the end, even asking more cpu than the tenant
        // has (v1 refuses a child's quota above its parent's; the run gets the tenant's).
        let fits = try ctx.run(job(16, cpu: 2_000_000))
        try require(fits.ending == .exited(code: 0), "16 MB under the tenant's 64Mi ended as \(fits.ending.summary)")
        // Removed ("max"), the tenant's limit no longer holds the job.
        let removed = try driver.setTenantLimits(tenant, TenantLimits())
        try require(removed.isEmpty, "removing the limits: \(removed.joined(separator: "; "))")
        let free = try ctx.run(job(150))
        try require(free.ending == .exited(code: 0), "150 MB with the tenant's limits removed ended as \(free.ending.summary)")
        return "tenant limit 64Mi: 150 MB under --memory 256Mi \(killed.ending.summary) (peak \(peak) B); 16 MB exited 0 (cpu \(fits.cgroup.applied.cpuQuotaMicros ?? -1) µs per 100 ms under the tenant's 1 core); limits removed: 150 MB exited 0"
    }),
]
