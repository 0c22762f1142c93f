import Foundation
import Testing
import BerthCore
@testable import BerthIsolation
import CBerthSys

@Suite struct StatParserTests {
    @Test func flatIgnoresMalformedLines() {
        #expect(StatParsers.flat("a 1\nbad\nb x\nc 3\n") == ["a": 1, "c": 3])
    }

    @Test func singleReadsMaxAsNil() {
        #expect(StatParsers.single("4096\n") == 4096)
        #expect(StatParsers.single("max\n") == nil)
    }

    @Test func pressureNeedsAllFields() {
        let p = StatParsers.pressure("some avg10=1.50 avg60=0.20 avg300=0.00 total=12345\n")
        #expect(p?.some.avg10 == 1.5 && p?.some.totalMicros == 12345 && p?.full == nil)
        #expect(StatParsers.pressure("some avg10=1.50 total=1\n") == nil)
    }
}

@Suite struct ShimStatusTests {
    @Test func decodesAnEndedStatus() throws {
        let path = NSTemporaryDirectory() + "berth-status-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try """
        {"version":1,"state":"ended","shim_pid":10,"pid":11,"started_ns":1000000000,"how":"exited","code":7,"signal":0,"errno":0,"step":0,"ended_ns":3500000000,"stuck":false,"cgroup_removed":true,"oom_group_kill":false,"stats":{"cpu.stat":"usage_usec 5\\n"}}
        """.write(toFile: path, atomically: false, encoding: .utf8)
        let s = try #require(ShimStatus.read(path))
        #expect(s.state == .ended && s.how == .exited && s.step == ShimStep.none && s.code == 7 && s.cgroupRemoved == true && s.stats?["cpu.stat"] == "usage_usec 5\n")
    }

    /// The names the shim writes and the Swift side reads are one table (berth_shim_contract.h).
    @Test func theSwiftCasesAreTheShimsEnums() throws {
        #expect(ShimRunState.allCases.map(\.rawValue) == Array(0..<Int32(BERTH_STATE_COUNT.rawValue)))
        #expect(ShimHow.allCases.map(\.rawValue) == Array(0..<Int32(BERTH_HOW_COUNT.rawValue)))
        #expect(ShimStep.allCases.map(\.rawValue) == Array(0..<Int32(BERTH_STEP_COUNT.rawValue)))
        #expect(ShimHow.launchFailed.rawValue == Int32(BERTH_HOW_LAUNCH_FAILED.rawValue) && ShimHow.launchFailed.name == "launch_failed")
        #expect(ShimStep.exec.rawValue == Int32(BERTH_STEP_EXEC.rawValue) && ShimStep.namespaces.name.contains("network"))
        #expect(ShimRunState.ended.name == "ended" && ShimHow.execFailed.name == "exec_failed")
        for names in [ShimRunState.allCases.map(\.name), ShimHow.allCases.map(\.name), ShimStep.allCases.dropFirst().map(\.name)] {
            #expect(Set(names).count == names.count && !names.contains(""))
        }
        // A name the shim does not write is refused, not read as some default.
        let data = Data(#"{"version":2,"state":"ended","shim_pid":1,"pid":2,"started_ns":0,"how":"vanished"}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ShimStatus.self, from: data) }
    }

    @Test func aTornOrMissingFileReadsAsNil() throws {
        let path = NSTemporaryDirectory() + "berth-status-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(ShimStatus.read(path) == nil)
        try "{\"version\":1,\"sta".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(ShimStatus.read(path) == nil)
    }
}

@Suite struct BlockDeviceTests {
    @Test func tmpfsHasNoBlockDevice() throws {
        // /dev is devtmpfs on every Linux host: no block device behind it.
        #expect {
            try BlockDevice.holding("/dev/null", field: "io-device")
        } throws: { ($0 as? BerthError)?.message.contains("no block device") == true }
    }

    @Test func aPartitionMapsToItsWholeDisk() throws {
        let sys = NSTemporaryDirectory() + "berth-sys-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: sys) }
        let fm = FileManager.default
        try fm.createDirectory(atPath: sys + "/block/sda/sda1", withIntermediateDirectories: true)
        try "8:0\n".write(toFile: sys + "/block/sda/dev", atomically: false, encoding: .utf8)
        try "1\n".write(toFile: sys + "/block/sda/sda1/partition", atomically: false, encoding: .utf8)
        try fm.createDirectory(atPath: sys + "/dev/block", withIntermediateDirectories: true)
        var st = stat()
        stat("/", &st)
        let major = major(st.st_dev), minor = minor(st.st_dev)
        try fm.createSymbolicLink(atPath: sys + "/dev/block/\(major):\(minor)", withDestinationPath: sys + "/block/sda/sda1")
        #expect(try BlockDevice.holding("/", sysfs: sys) == BlockDevice(major: 8, minor: 0))
    }
}

func major(_ dev: UInt) -> UInt32 { UInt32((dev >> 8) & 0xfff) | UInt32((dev >> 32) & ~0xfff) }
func minor(_ dev: UInt) -> UInt32 { UInt32(dev & 0xff) | UInt32((dev >> 12) & ~0xff) }
