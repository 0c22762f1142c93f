import Foundation
import Testing
import BerthCore
@testable import BerthIsolation

@Suite struct CheckpointTreeTests {
    let root = NSTemporaryDirectory() + "berth-ckpt-\(UUID().uuidString)"
    var tree: CheckpointTree { CheckpointTree(root: root) }
    let a = TenantName.default.id
    let b = (try? TenantName("tenant-b"))!.id

    func cleanup() { try? FileManager.default.removeItem(atPath: root) }

    @Test func createsPublishesAndRemoves() throws {
        defer { cleanup() }
        let job = JobID()
        let dir = try tree.createJobDirectory(tenant: a, job: job, uid: getuid())
        let attributes = try FileManager.default.attributesOfItem(atPath: dir)
        #expect((attributes[.posixPermissions] as? Int) == 0o700)
        try FileManager.default.createDirectory(atPath: dir + "/staging", withIntermediateDirectories: false)
        _ = FileManager.default.createFile(atPath: dir + "/staging/state", contents: Data("1".utf8))
        try tree.publish(tenant: a, job: job, staging: "staging", as: "cp-1")
        #expect(FileManager.default.fileExists(atPath: dir + "/cp-1/state"))
        // Never replaces a published checkpoint.
        try FileManager.default.createDirectory(atPath: dir + "/staging", withIntermediateDirectories: false)
        #expect(throws: BerthError.self) { try tree.publish(tenant: a, job: job, staging: "staging", as: "cp-1") }
        try tree.removeJobDirectory(tenant: a, job: job)
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test(arguments: ["../x", "/abs", "..", ".", "", "a/b", "a\u{0}b"])
    func publishRejectsNamesThatAreNotOneComponent(name: String) throws {
        defer { cleanup() }
        let job = JobID()
        _ = try tree.createJobDirectory(tenant: a, job: job, uid: getuid())
        #expect(throws: BerthError.self) { try tree.publish(tenant: a, job: job, staging: name, as: "cp") }
        #expect(throws: BerthError.self) { try tree.publish(tenant: a, job: job, staging: "staging", as: name) }
    }

    @Test func symlinksPlantedByAJobAreNeverFollowed() throws {
        defer { cleanup() }
        let victimJob = JobID()
        let victim = try tree.createJobDirectory(tenant: b, job: victimJob, uid: getuid())
        _ = FileManager.default.createFile(atPath: victim + "/precious", contents: Data("keep".utf8))
        let job = JobID()
        let dir = try tree.createJobDirectory(tenant: a, job: job, uid: getuid())
        try FileManager.default.createSymbolicLink(atPath: dir + "/staging", withDestinationPath: victim)
        try FileManager.default.createSymbolicLink(atPath: dir + "/victim-file", withDestinationPath: victim + "/precious")
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: dir + "/sub/up", withDestinationPath: "../../../\(b.rawValue)")
        #expect {
            try tree.publish(tenant: a, job: job, staging: "staging", as: "cp-1")
        } throws: { ($0 as? BerthError)?.message.contains("refused") == true }
        try tree.removeJobDirectory(tenant: a, job: job)
        #expect(!FileManager.default.fileExists(atPath: dir))
        #expect((try? String(contentsOfFile: victim + "/precious", encoding: .utf8)) == "keep")
    }

    @Test func aJobDirectoryReachedThroughASymlinkIsRefused() throws {
        defer { cleanup() }
        let victimJob = JobID()
        let victim = try tree.createJobDirectory(tenant: b, job: victimJob, uid: getuid())
        _ = FileManager.default.createFile(atPath: victim + "/precious", contents: Data("keep".utf8))
        // The tenant level replaced by a link to another tenant's tree.
        try FileManager.default.createSymbolicLink(atPath: root + "/" + a.rawValue, withDestinationPath: root + "/" + b.rawValue)
        #expect(throws: BerthError.self) { try tree.removeJobDirectory(tenant: a, job: victimJob) }
        #expect(throws: BerthError.self) { try tree.createJobDirectory(tenant: a, job: JobID(), uid: getuid()) }
        #expect(FileManager.default.fileExists(atPath: victim + "/precious"))
    }
}

@Suite struct TenantIdentitiesTests {
    @Test func allocatesOncePerTenantAndNeverRoot() throws {
        let dir = NSTemporaryDirectory() + "berth-ids-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ids = TenantIdentities(stateDirectory: dir, range: 5000...5001)
        let a = try ids.uid(for: .default)
        let b = try ids.uid(for: TenantName("b"))
        #expect(a == 5000 && b == 5001)
        #expect(try TenantIdentities(stateDirectory: dir, range: 5000...5001).uid(for: .default) == 5000, "persistent")
        #expect(throws: BerthError.self) { try ids.uid(for: TenantName("c")) }   // range exhausted
    }
}

@Suite struct HostLayoutTests {
    let layout = HostLayout()

    @Test(arguments: ["/proc/self/fd/7", "/proc/1/root", "/usr/../etc", "relative", "/home/alice", "/root", "/tmp/x",
                      "/var/lib/berth", "/run/berth/runs", "/sys/fs/cgroup", "/nonexistent", "/etc/passwd", "/./usr"])
    func rejectedWorkingDirectories(path: String) {
        #expect {
            try layout.validateWorkingDirectory(path, checkpointDirectory: "/var/lib/berth/checkpoints/t/j")
        } throws: { ($0 as? BerthError)?.message.hasPrefix("workdir: ") == true }
    }

    @Test(arguments: ["/", "/usr", "/usr/bin", "/var/lib/berth/checkpoints/t/j", "/var/lib/berth/checkpoints/t/j/sub"])
    func acceptedWorkingDirectories(path: String) throws {
        try layout.validateWorkingDirectory(path, checkpointDirectory: "/var/lib/berth/checkpoints/t/j")
    }

    @Test func masksBerthsOwnDirectoriesAndHomes() {
        #expect(layout.masked == ["/var/lib/berth", "/run/berth", "/home", "/root"])
        var outside = HostLayout()
        outside.checkpointRoot = "/srv/checkpoints"
        #expect(outside.masked.contains("/srv/checkpoints"))
    }
}

@Suite struct SeccompProfileTests {
    @Test func defaultCompilesToAProgramAndUnconfinedToNone() throws {
        let program = try #require(try SeccompProfileName.default.compile())
        #expect(program.count > 0 && program.count % 8 == 0, "whole sock_filter instructions")
        #expect(try SeccompProfileName.unconfined.compile() == nil)
    }

    @Test func theDeniedSyscallsAreNotOnTheAllowList() {
        let denied = ["mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "keyctl", "add_key", "request_key",
                      "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
                      "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "open_by_handle_at",
                      "name_to_handle_at", "ptrace", "process_vm_readv", "process_vm_writev", "reboot", "swapon", "swapoff",
                      "syslog", "acct", "settimeofday", "clock_settime", "adjtimex", "quotactl", "fanotify_init", "clone3", "clone"]
        #expect(Set(SeccompProfileName.allowed).isDisjoint(with: denied))
    }

    @Test func unknownProfilesAreAnError() {
        #expect(throws: BerthError.invalid("seccomp", "unknown profile; use one of: default, unconfined", got: "permissive")) {
            try SeccompProfileName(parsing: "permissive")
        }
    }
}
