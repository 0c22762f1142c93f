import BerthCore
import BerthScheduler
import Testing

@Suite struct AdmissionTests {
    func spec(cpu: String?, memory: String?) -> JobSpec {
        var s = JobSpec(name: "x", command: ["/bin/true"])
        s.resources.cpu = cpu
        s.resources.memory = memory
        return s
    }

    @Test func aJobFitsUntilTheQuotaIsUsed() {
        var quota = Quota()
        quota.memoryBytes = 100 << 20
        quota.cpuMicrocores = 1_000_000
        let d = spec(cpu: "0.5", memory: "64Mi").demand(defaultPids: 1024)
        #expect(Admission.check(d, used: Demand(), quota: quota) == nil)
        let reason = Admission.check(d, used: d, quota: quota)
        #expect(reason == "waiting for quota: memory 64Mi of 100Mi in use, this job needs 64Mi")
    }

    @Test func whatCanNeverFitIsRejectedNamingTheField() {
        var quota = Quota()
        quota.memoryBytes = 100 << 20
        let huge = spec(cpu: nil, memory: "1Gi")
        #expect(Admission.neverFits(huge, demand: huge.demand(defaultPids: 1024), quota: quota)?.field == "resources.memory")
        let unbounded = spec(cpu: nil, memory: nil)
        #expect(Admission.neverFits(unbounded, demand: unbounded.demand(defaultPids: 1024), quota: quota)?.field == "resources.memory")
        var jobs = Quota()
        jobs.jobs = 0
        let any = spec(cpu: nil, memory: nil)
        #expect(Admission.neverFits(any, demand: any.demand(defaultPids: 1024), quota: jobs)?.field == "jobs")
    }

    @Test func backoffDoublesAndIsCapped() {
        var r = RestartPolicy()
        r.backoffMillis = 200
        r.backoffMaxMillis = 1000
        #expect((1...5).map { r.backoff(restart: $0) } == [200, 400, 800, 1000, 1000])
        #expect(r.effectiveCondition(for: .service) == .always)
        #expect(r.effectiveCondition(for: .batch) == .never)
    }
}
