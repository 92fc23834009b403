import Glibc
import LabCore
import LabModel
import Testing

@testable import LabContainer

/// A fake cgroup2 tree in a temporary directory: the files a kernel would
/// show, written by the test where the kernel would write them.
final class FakeCgroupTree {
    let root: String

    init(controllers: String = "cpuset cpu io memory pids") throws {
        var template = Array("/tmp/isolab-fake-cgroup-XXXXXX".utf8CString)
        guard let dir = mkdtemp(&template) else { throw LabError.syscall("mkdtemp") }
        root = String(cString: dir)
        try FileSystem.writeAtomically(root + "/cgroup.controllers", text: controllers + "\n")
        try FileSystem.writeAtomically(root + "/cgroup.subtree_control", text: "")
        try FileSystem.createDirectory(root + "/isolab", mode: 0o755, parents: 0o755)
        try FileSystem.writeAtomically(root + "/isolab/cgroup.subtree_control", text: "")
    }

    deinit { try? FileSystem.removeTree(root) }

    func read(_ path: String) -> String? { FileSystem.readTextIfPresent(root + "/" + path) }
    func write(_ path: String, _ text: String) throws { try FileSystem.writeAtomically(root + "/" + path, text: text) }
}

@Suite("cgroup v2 manager (fake cgroupfs tree)")
struct CgroupV2ManagerTests {
    @Test func createEnablesControllersAndWritesEveryLimit() throws {
        let tree = try FakeCgroupTree()
        let layout = try CgroupLayout.detect(mountInfo: "30 23 0:26 / \(tree.root) rw - cgroup2 cgroup2 rw\n")
        let manager = try layout.manager(for: "abc123")
        #expect(manager.directories == [tree.root + "/isolab/abc123"])
        try manager.create(limits: CgroupLimits(memoryBytes: 32 << 20, cpus: 0.5, cpuWeight: 200, pids: 16))
        #expect(tree.read("cgroup.subtree_control") == "+cpu +memory +pids")
        #expect(tree.read("isolab/cgroup.subtree_control") == "+cpu +memory +pids")
        #expect(tree.read("isolab/abc123/memory.max") == "33554432")
        #expect(tree.read("isolab/abc123/cpu.max") == "50000 100000")
        #expect(tree.read("isolab/abc123/cpu.weight") == "200")
        #expect(tree.read("isolab/abc123/pids.max") == "16")
        // No swap file in this tree (a host without swap accounting): nothing written.
        #expect(tree.read("isolab/abc123/memory.swap.max") == nil)
    }

    @Test func alreadyEnabledControllersAreNotWrittenAgain() throws {
        let tree = try FakeCgroupTree()
        try tree.write("cgroup.subtree_control", "cpu memory pids")
        try tree.write("isolab/cgroup.subtree_control", "cpu memory pids")
        try CgroupV2Manager(group: tree.root + "/isolab/x").create(limits: CgroupLimits())
        #expect(tree.read("cgroup.subtree_control") == "cpu memory pids")
    }

    @Test func statsAreReadFromTheControlFiles() throws {
        let tree = try FakeCgroupTree()
        let manager = CgroupV2Manager(group: tree.root + "/isolab/st")
        try manager.create(limits: CgroupLimits())
        try tree.write("isolab/st/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")
        try tree.write("isolab/st/memory.current", "4096\n")
        try tree.write("isolab/st/memory.peak", "8192\n")
        try tree.write("isolab/st/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
        try tree.write("isolab/st/pids.current", "2\n")
        try tree.write("isolab/st/pids.peak", "7\n")
        try tree.write("isolab/st/pids.events", "max 4\n")
        let stats = manager.stats()
        #expect(stats.cpuUsageNs == 1_500_000)
        #expect(stats.memoryCurrentBytes == 4096 && stats.memoryPeakBytes == 8192)
        #expect(stats.oomKills == 1)
        #expect(stats.pidsCurrent == 2 && stats.pidsPeak == 7 && stats.pidsLimitHits == 4)
    }

    @Test func freezeAndThawWaitForTheKernelsWord() throws {
        let tree = try FakeCgroupTree()
        let manager = CgroupV2Manager(group: tree.root + "/isolab/fz")
        try manager.create(limits: CgroupLimits())
        try tree.write("isolab/fz/cgroup.events", "populated 1\nfrozen 1\n")
        try manager.freeze()
        #expect(tree.read("isolab/fz/cgroup.freeze") == "1")
        // The fake kernel never says thawed: thaw must time out with an error, not hang or lie.
        #expect(throws: LabError.self) { try manager.thaw() }
        #expect(tree.read("isolab/fz/cgroup.freeze") == "0")
    }

    @Test func killUsesCgroupKillWhereItExists() throws {
        let tree = try FakeCgroupTree()
        let manager = CgroupV2Manager(group: tree.root + "/isolab/k")
        try manager.create(limits: CgroupLimits())
        try tree.write("isolab/k/cgroup.kill", "")
        try tree.write("isolab/k/cgroup.procs", "")
        try manager.killAll()
        #expect(tree.read("isolab/k/cgroup.kill") == "1")
    }

    @Test func destroyRemovesTheGroup() throws {
        let tree = try FakeCgroupTree()
        let manager = CgroupV2Manager(group: tree.root + "/isolab/d")
        try manager.create(limits: CgroupLimits())
        // A real cgroupfs directory can be removed with its control files in it; a fake one cannot.
        for name in FileSystem.list(tree.root + "/isolab/d") { unlink(tree.root + "/isolab/d/" + name) }
        try manager.destroy()
        #expect(!FileSystem.exists(tree.root + "/isolab/d"))
        try manager.destroy()  // twice is fine
    }

    @Test func labGroupsAreFoundForGC() throws {
        let tree = try FakeCgroupTree()
        try FileSystem.createDirectory(tree.root + "/isolab/aaa", mode: 0o755, parents: 0o755)
        try FileSystem.createDirectory(tree.root + "/isolab/bbb", mode: 0o755, parents: 0o755)
        let layout = try CgroupLayout.detect(mountInfo: "30 23 0:26 / \(tree.root) rw - cgroup2 cgroup2 rw\n")
        #expect(layout.labGroups() == [tree.root + "/isolab/aaa", tree.root + "/isolab/bbb"])
    }
}

@Suite("cgroup limits and conversions")
struct CgroupLimitTests {
    /// Each version's default maps to the other's, so less than the default
    /// weight is less than a default sibling's shares, and ratios are kept.
    @Test func weightSharesConversionKeepsTheDefaultsAndTheRatios() {
        #expect(CgroupLimits.shares(fromWeight: 100) == 1024)
        #expect(CgroupLimits.shares(fromWeight: 50) == 512)
        #expect(CgroupLimits.shares(fromWeight: 50) < 1024)
        #expect(CgroupLimits.shares(fromWeight: 300) == 3 * CgroupLimits.shares(fromWeight: 100))
        #expect(CgroupLimits.shares(fromWeight: 1) == 10)
        #expect(CgroupLimits.shares(fromWeight: 10_000) == 102_400)
        #expect(CgroupLimits.weight(fromShares: 1024) == 100)
        #expect(CgroupLimits.weight(fromShares: 2) == 1)
        #expect(CgroupLimits.weight(fromShares: 262_144) == 10_000)
    }

    @Test func v1ManagerNeedsEveryController() throws {
        let layout = try CgroupLayout.detect(mountInfo: """
            32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
            35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
            """)
        do {
            _ = try layout.manager(for: "x")
            Issue.record("accepted a host without pids")
        } catch let error as LabError {
            #expect(error.message.contains("the pids cgroup controller is not mounted"))
        }
    }

    @Test func deviceRulesNeedTheDevicesControllerAndAFailedCreateLeavesNothing() throws {
        var template = Array("/tmp/isolab-fake-v1-XXXXXX".utf8CString)
        let root = try #require(mkdtemp(&template).map { String(cString: $0) })
        defer { try? FileSystem.removeTree(root) }
        let manager = CgroupV1Manager(groups: ["memory": root + "/memory/isolab/x", "pids": root + "/pids/isolab/x"])
        var limits = CgroupLimits()
        limits.restrictDevices = true
        #expect { try manager.create(limits: limits) } throws: { error in
            (error as? LabError)?.message.hasPrefix("the devices cgroup controller is not mounted on this host; mount it:") == true
        }
        #expect(!FileSystem.exists(root + "/memory/isolab/x") && !FileSystem.exists(root + "/pids/isolab/x"))
        limits.restrictDevices = false
        try manager.create(limits: limits)
        #expect(FileSystem.isDirectory(root + "/memory/isolab/x"))
    }

    @Test func coMountedControllersShareOneGroup() throws {
        let layout = try CgroupLayout.detect(mountInfo: MountInfoFixtures.v1)
        let manager = try layout.manager(for: "c1")
        #expect(manager.directories.filter { $0.contains("cpu,cpuacct") }.count == 1)
        #expect(manager.directories.count == 4)
    }
}

@Suite("sizes and capabilities")
struct SizeAndCapabilityTests {
    @Test func sizesParseWithBinaryUnits() throws {
        #expect(try ByteSize.parse("64M", what: "--memory") == 64 << 20)
        #expect(try ByteSize.parse("1G", what: "x") == 1 << 30)
        #expect(try ByteSize.parse("512k", what: "x") == 512 << 10)
        #expect(try ByteSize.parse("256MiB", what: "x") == 256 << 20)
        #expect(try ByteSize.parse("4096", what: "x") == 4096)
        #expect(try ByteSize.parse("1.5G", what: "x") == 3 << 29)
        #expect(throws: LabError.self) { try ByteSize.parse("banana", what: "--memory") }
        #expect(throws: LabError.self) { try ByteSize.parse("-1M", what: "--memory") }
        #expect(throws: LabError.self) { try ByteSize.parse("12X", what: "--memory") }
        #expect(ByteSize.format(64 << 20) == "64 MiB")
        #expect(ByteSize.format(1536 << 20) == "1.5 GiB")
    }

    @Test func defaultSetIsRuncs() throws {
        let set = try Capabilities.set(adding: [], dropping: [])
        #expect(set.mask == 0xA80425FB)
        #expect(set.names.count == 14)
        let more = try Capabilities.set(adding: ["NET_ADMIN"], dropping: ["cap_kill", "chown"])
        #expect(more.names.contains("cap_net_admin") && !more.names.contains("cap_kill") && !more.names.contains("cap_chown"))
        #expect(try Capabilities.set(adding: [], dropping: ["ALL"]).mask == 0)
        #expect(throws: LabError.self) { try Capabilities.set(adding: ["bogus"], dropping: []) }
    }
}
