import Foundation
import Testing
import BerthCore
@testable import BerthIsolation

@Suite struct CheckpointTreeTests {
    let root = NSTemporaryDirectory() + "berth-ckpt-\(UUID().uuidString)"
    var tree: CheckpointTree { CheckpointTree(root: root) }
    let a = TenantID("t00000000000000a1")!
    let b = TenantID("t00000000000000b2")!

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

@Suite struct HostLayoutTests {
    let layout = HostLayout()

    @Test func jobsStartWhereAskedOrWhereTheyCanSee() {
        #expect(layout.startingDirectory(requested: "/srv", current: "/root/x") == ("/srv", nil))
        #expect(layout.startingDirectory(requested: nil, current: "/opt/work") == ("/opt/work", nil))
        let hidden = layout.startingDirectory(requested: nil, current: "/root/clone")
        #expect(hidden.path == "/" && hidden.warning?.contains("hidden from jobs") == true)
    }

    @Test(arguments: [("/", "runtime-dir"), ("relative", "runtime-dir"), ("/etc/berth", "runtime-dir"), ("/a/../b", "runtime-dir")])
    func operatorPathsAreChecked(path: String, field: String) {
        var l = HostLayout()
        l.runtimeDirectory = path
        do { try l.validate(); Issue.record("\(path) accepted") } catch let e as BerthError { #expect(e.field == field) } catch {}
    }

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

    @Test(arguments: ["/tmp", "/tmp/work", "/tmp/a/b/c", "/var/tmp/x", "/dev/shm/y"])
    func aWorkingDirectoryTheJobMakesIsInsideItsPrivateTmpfs(path: String) throws {
        try layout.validateWorkingDirectory(path, checkpointDirectory: "/var/lib/berth/checkpoints/t/j", creating: true)
    }

    @Test(arguments: ["/tmpx/a", "/opt/work", "/", "/tmp/../etc", "/tmp/./a", "relative/tmp", "/var/lib/berth/checkpoints/t/j/sub"])
    func aWorkingDirectoryTheJobMakesIsNowhereElse(path: String) {
        #expect {
            try layout.validateWorkingDirectory(path, checkpointDirectory: "/var/lib/berth/checkpoints/t/j", creating: true)
        } throws: { ($0 as? BerthError)?.field == "workdir" }
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

/// Removal of a job's subtree with a bounded number of fds, whatever the job left behind.
@Suite struct CheckpointRemovalTests {
    let root = NSTemporaryDirectory() + "berth-ckpt-rm-\(UUID().uuidString)"
    var tree: CheckpointTree { CheckpointTree(root: root) }
    let tenant = TenantID("t00000000000000a1")!

    func cleanup() { try? FileManager.default.removeItem(atPath: root) }

    /// A chain of `depth` directories named `d`, each made relative to the previous one's fd,
    /// which is closed as we go: the test itself never holds more than two.
    func makeChain(in directory: String, depth: Int) throws {
        var fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try #require(fd >= 0)
        for _ in 0..<depth {
            try #require(mkdirat(fd, "d", 0o755) == 0)
            let next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            close(fd)
            try #require(next >= 0)
            fd = next
        }
        let file = openat(fd, "bottom", O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        close(file)
        close(fd)
        try #require(file >= 0)
    }

    /// Runs `body` with RLIMIT_NOFILE's soft limit at `limit`, restored afterwards.
    func withOpenFileLimit<T>(_ limit: rlim_t, _ body: () throws -> T) throws -> T {
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        var saved = rlimit()
        try #require(getrlimit(resource, &saved) == 0)
        var lowered = saved
        lowered.rlim_cur = min(limit, saved.rlim_max)
        try #require(setrlimit(resource, &lowered) == 0)
        defer { setrlimit(resource, &saved) }
        return try body()
    }

    @Test func aDeepChainIsRemovedWithFewFDs() throws {
        defer { cleanup() }
        let job = JobID()
        let dir = try tree.createJobDirectory(tenant: tenant, job: job, uid: getuid())
        try makeChain(in: dir, depth: 12_000)
        try withOpenFileLimit(256) { try tree.removeJobDirectory(tenant: tenant, job: job) }
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test func aWideDirectoryIsRemoved() throws {
        defer { cleanup() }
        let job = JobID()
        let dir = try tree.createJobDirectory(tenant: tenant, job: job, uid: getuid())
        try FileManager.default.createDirectory(atPath: "\(dir)/wide", withIntermediateDirectories: false)
        for i in 0..<5_000 {
            if i % 2 == 0 {
                _ = FileManager.default.createFile(atPath: "\(dir)/wide/f\(i)", contents: nil)
            } else {
                try FileManager.default.createDirectory(atPath: "\(dir)/wide/d\(i)/inner", withIntermediateDirectories: true)
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/wide").count == 5_000)
        try withOpenFileLimit(256) { try tree.removeJobDirectory(tenant: tenant, job: job) }
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test func symlinksToOutsideAreUnlinkedAndTheirTargetsSurvive() throws {
        defer { cleanup() }
        let outside = root + "/outside"
        try FileManager.default.createDirectory(atPath: outside + "/dir", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: outside + "/precious", contents: Data("keep".utf8))
        _ = FileManager.default.createFile(atPath: outside + "/dir/inner", contents: Data("keep".utf8))
        let job = JobID()
        let dir = try tree.createJobDirectory(tenant: tenant, job: job, uid: getuid())
        try FileManager.default.createDirectory(atPath: dir + "/a/b/c", withIntermediateDirectories: true)
        for (link, target) in [("file-link", outside + "/precious"), ("dir-link", outside + "/dir"), ("a/up", "../../../../outside"),
                               ("a/b/c/abs", outside), ("a/b/dir-link", outside + "/dir"), (".berth-rm-0", outside + "/dir"),
                               (".berth-rm-1", outside + "/precious"), ("a/b/c/dangling", "/nonexistent")] {
            try FileManager.default.createSymbolicLink(atPath: dir + "/" + link, withDestinationPath: target)
        }
        // Subdirectories the job named like the ones removal makes.
        try FileManager.default.createDirectory(atPath: dir + "/.berth-rm-2/.berth-rm-3", withIntermediateDirectories: true)
        try tree.removeJobDirectory(tenant: tenant, job: job)
        #expect(!FileManager.default.fileExists(atPath: dir))
        #expect((try? String(contentsOfFile: outside + "/precious", encoding: .utf8)) == "keep")
        #expect((try? String(contentsOfFile: outside + "/dir/inner", encoding: .utf8)) == "keep")
    }

    @Test func directoriesMadeUnreadableAreRemoved() throws {
        defer { cleanup() }
        let job = JobID()
        let dir = try tree.createJobDirectory(tenant: tenant, job: job, uid: getuid())
        try FileManager.default.createDirectory(atPath: dir + "/locked/inner", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: dir + "/locked/file", contents: Data("x".utf8))
        _ = FileManager.default.createFile(atPath: dir + "/locked/inner/file", contents: Data("x".utf8))
        #expect(chmod(dir + "/locked/inner", 0) == 0)
        #expect(chmod(dir + "/locked", 0) == 0)
        try tree.removeJobDirectory(tenant: tenant, job: job)
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test func namesThatAreNotUTF8AreRemoved() throws {
        defer { cleanup() }
        let job = JobID()
        let dir = try tree.createJobDirectory(tenant: tenant, job: job, uid: getuid())
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try #require(fd >= 0)
        defer { close(fd) }
        let bad: [CChar] = [CChar(bitPattern: 0xff), CChar(bitPattern: 0xfe), 0]
        try #require(mkdirat(fd, bad, 0o755) == 0)
        let sub = openat(fd, bad, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try #require(sub >= 0)
        close(openat(sub, bad, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600))
        close(sub)
        try tree.removeJobDirectory(tenant: tenant, job: job)
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test func workIsBoundedAndAFailureLeavesARemovableTree() throws {
        defer { cleanup() }
        let job = JobID()
        let dir = try tree.createJobDirectory(tenant: tenant, job: job, uid: getuid())
        try makeChain(in: dir, depth: 100)
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        try #require(fd >= 0)
        defer { close(fd) }
        #expect {
            try CheckpointTree.removeContents(of: fd, path: dir, budget: 50)
        } throws: { ($0 as? BerthError)?.message.contains("gave up after 50 operations") == true }
        try CheckpointTree.removeContents(of: fd, path: dir)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }

    /// Sets or clears FS_IMMUTABLE_FL with FS_IOC_SETFLAGS, as `chattr +i` does.
    static func setImmutable(_ path: String, _ on: Bool) -> Bool {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var flags: Int32 = 0
        guard ioctl(fd, UInt(0x8008_6601), &flags) == 0 else { return false }
        flags = on ? flags | 0x10 : flags & ~0x10
        return ioctl(fd, UInt(0x4008_6602), &flags) == 0
    }

    /// Whether this host lets the test set the immutable attribute (root with
    /// CAP_LINUX_IMMUTABLE, on a filesystem that has it) in the temporary directory.
    static let canSetImmutable: Bool = {
        let probe = NSTemporaryDirectory() + "berth-immutable-probe-\(UUID().uuidString)"
        guard mkdir(probe, 0o700) == 0 else { return false }
        defer { rmdir(probe) }
        guard setImmutable(probe, true) else { return false }
        return setImmutable(probe, false)
    }()

    @Test(.enabled(if: canSetImmutable, "needs root with CAP_LINUX_IMMUTABLE and a filesystem with the immutable attribute"))
    func anImmutableDirectoryIsNamedWithTheReason() throws {
        defer { cleanup() }
        let job = JobID()
        let dir = try tree.createJobDirectory(tenant: tenant, job: job, uid: getuid())
        try FileManager.default.createDirectory(atPath: dir + "/a/locked/inner", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: dir + "/a/locked/file", contents: nil)
        try #require(Self.setImmutable(dir + "/a/locked", true))
        defer { _ = Self.setImmutable(dir + "/a/locked", false) }
        #expect {
            try tree.removeJobDirectory(tenant: tenant, job: job)
        } throws: { error in
            let message = (error as? BerthError)?.message ?? ""
            return message.contains("\(dir)/a/locked") && message.contains("immutable attribute")
        }
        #expect(FileManager.default.fileExists(atPath: dir + "/a/locked/file"))
        #expect(Self.setImmutable(dir + "/a/locked", false))

        // An immutable file further down: named by its original path, and where it is now.
        try #require(Self.setImmutable(dir + "/a/locked/file", true))
        defer { _ = Self.setImmutable(dir + "/a/locked/file", false) }
        #expect {
            try tree.removeJobDirectory(tenant: tenant, job: job)
        } throws: { error in
            let message = (error as? BerthError)?.message ?? ""
            return message.hasPrefix("remove \(dir)/a/locked/file: ") && message.contains("it has the immutable attribute")
                && message.contains("(it is now at \(dir)/.berth-rm-")
        }
        let now = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasPrefix(".berth-rm-") })
        #expect(Self.setImmutable("\(dir)/\(now)/file", false))
        try tree.removeJobDirectory(tenant: tenant, job: job)
        #expect(!FileManager.default.fileExists(atPath: dir))
    }
}
